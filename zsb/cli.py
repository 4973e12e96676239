"""Command line: ``zsb reproduce`` runs the paper's pipeline for one benchmark; ``zsb tables`` regenerates the
README's results table; ``zsb compare`` tabulates finished runs side by side, with the spread over seeds; ``zsb data check``
compares a copy of a benchmark on disk with the release (exit status 0: it matches, 1: it differs); ``zsb data
fetch`` downloads sketchy_mini, checked file by file, and says how to get the full releases; ``zsb search``
ranks photos by similarity to your own sketches; ``zsb export`` writes a finished run's model as a self-contained,
hash-checked folder. A user error prints one clear message (no traceback) and exits with
status 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zsb.errors import ZSBError


def build_parser() -> argparse.ArgumentParser:
    from zsb.run.stages import STAGES

    parser = argparse.ArgumentParser(prog="zsb", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    rep = commands.add_parser(
        "reproduce",
        help="run the stage notebooks 01..06 for one benchmark (default: the embedded synthetic benchmark)",
        description="Run data prep, knowledge, training, evaluation, t-SNE and ablation notebooks with papermill "
        "into results/<benchmark>/runs/<run_id>/ and report the headline numbers beside the published ones; "
        "nothing outside the run folder is written unless --publish is given.",
    )
    rep.add_argument("--benchmark", default="synthetic",
                     help="synthetic | sketchy_mini | sketchy_ext | tuberlin_ext | quickdraw_ext (default: synthetic)")
    rep.add_argument("--data-root", help="the dataset folder (not needed for synthetic; sketchy_mini: default the "
                     "folder zsb data fetch fills)")
    rep.add_argument("--split", help="zero-shot split name (default: the benchmark's standard split)")
    rep.add_argument("--config", type=Path, help="YAML file of parameter: value overrides")
    rep.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                     help="override one parameter, e.g. --set epochs=8 (repeatable; wins over --config)")
    rep.add_argument("--stages", help=f"comma-separated subset of {','.join(STAGES)} (default: all)")
    rep.add_argument("--run-id", default="", help="run folder name (default: a hash of the parameters)")
    rep.add_argument("--results", default="results", help="results root folder (default: ./results)")
    rep.add_argument("--force", action="store_true", help="rerun stages even when their outputs are up to date")
    rep.add_argument("--kernel", default="python3", help="Jupyter kernel that executes the notebooks")
    rep.add_argument("--no-progress", action="store_true", help="turn progress bars off")
    rep.add_argument("--publish", action="store_true",
                     help="when every stage is done, copy the run's tables and figures to results/<benchmark>/ and "
                          "regenerate the README's results table (a finished run publishes without rerunning)")

    tab = commands.add_parser("tables", help="regenerate the README's results table from results/")
    tab.add_argument("--results", default="results")
    tab.add_argument("--readme", default="README.md")

    cmp = commands.add_parser("compare", help="tabulate finished runs: differing parameters, metrics, seed spread")
    cmp.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run folders made by zsb reproduce")
    cmp.add_argument("--output", type=Path, help="also write OUTPUT.md/.csv and OUTPUT_over_seeds.md/.csv")
    cmp.add_argument("--paired", action="store_true",
                     help="also the paired gain of the first run's setting over each other setting (common seeds, same "
                          "queries) with a 95%% bootstrap interval (OUTPUT_paired.md/.csv)")

    data = commands.add_parser("data", help="inspect a benchmark's data on disk")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    chk = data_commands.add_parser(
        "check",
        help="compare a copy of a benchmark release with the release's known counts",
        description="Find the release's layout under the data root, count the sketches and photos of every class, "
        "decode every file, and compare with what is known of the release: missing or extra classes, classes with "
        "fewer files, unreadable files, the split's classes absent. One line per difference says what to do. Exit "
        "status 0: the copy matches; 1: it differs; 2: a user error (unknown benchmark, no such data root, ...).",
    )
    chk.add_argument("--benchmark", required=True,
                     help="sketchy_mini | sketchy_ext | tuberlin_ext | quickdraw_ext | synthetic")
    chk.add_argument("--data-root", help="the dataset folder, as for zsb reproduce (not needed for synthetic; "
                     "sketchy_mini: default the folder zsb data fetch fills)")
    chk.add_argument("--split", help="the split whose classes must be on disk (default: every split of the benchmark)")
    chk.add_argument("--layout", help="force one of the benchmark's layouts by name (default: the first one found)")
    chk.add_argument("--no-verify", action="store_true", help="count files only, without decoding each one")
    chk.add_argument("--no-progress", action="store_true", help="turn the progress bar off")
    chk.add_argument("--all", action="store_true", help="list every difference (default: at most 20 of each kind)")
    fet = data_commands.add_parser(
        "fetch",
        help="download sketchy_mini (each file's SHA-256 checked), or say how to get a full release by hand",
        description="sketchy_mini: download the pinned GitHub archive, resuming an interrupted download, check every "
        "file's SHA-256 against the list committed in zsb and move the checked copy into place in one step; a "
        "complete copy is not downloaded again. sketchy_ext, tuberlin_ext, quickdraw_ext: print where the release "
        "is published, what to download, where to put it and how to check it (exit status 1: nothing downloaded). "
        "Exit status 2: the server could not be reached (the message says how to get the data by hand), or a "
        "file differs from the release.",
    )
    fet.add_argument("benchmark", metavar="NAME", help="sketchy_mini | sketchy_ext | tuberlin_ext | quickdraw_ext")
    fet.add_argument("--dest", type=Path, metavar="DIR",
                     help="the data folder to create (default: $ZSB_DATA/<name>, else ~/.cache/zsb/data/<name>; "
                          "zsb reproduce and zsb data check read sketchy_mini there when no --data-root is given)")
    fet.add_argument("--url", help="a mirror of the same archive (default: GitHub's)")
    fet.add_argument("--sha256-list", type=Path, metavar="FILE",
                     help="the expected '<sha256>  <path>' list (default: the one committed in zsb)")
    fet.add_argument("--no-progress", action="store_true", help="turn the progress bar off")

    sea = commands.add_parser(
        "search",
        help="rank a folder of photos (or a run's test gallery) by similarity to your own sketches",
        description="Embed the sketches with the fine-tuned model of a finished run (preprocessed as its evaluation "
        "sketches) and rank the gallery by cosine similarity. The gallery's embeddings are kept in an index file "
        "and reused: a later search embeds only the photos added or changed since. Per query, QUERY_STEM_ranked.csv "
        "(rank, path relative to the CSV's folder, similarity) and QUERY_STEM_ranked.png (the top photos) are "
        "written to --out.",
    )
    sea.add_argument("queries", nargs="+", metavar="QUERY", help="sketch files: PNG or JPEG, any size, grayscale, RGB "
                     "or RGBA (transparent pixels become white)")
    sea.add_argument("--model", type=Path, metavar="RUN_DIR",
                     help="a finished run folder (its config.json and checkpoints/last.pt), or a folder made by "
                          "zsb export (default: the published model results/sketchy_mini/model, else the run of "
                          "zsb reproduce --benchmark sketchy_mini)")
    sea.add_argument("--gallery", required=True, metavar="FOLDER",
                     help="folder of .jpg/.jpeg/.png photos, searched recursively; 'benchmark': the model's own test "
                          "gallery (a folder named so: ./benchmark)")
    sea.add_argument("--top", type=int, default=10, help="photos listed and shown per query (default: 10)")
    sea.add_argument("--out", type=Path, default=Path("search_out"), help="output folder (default: ./search_out)")
    sea.add_argument("--index", type=Path, metavar="FILE",
                     help="index file of the gallery's embeddings (default: RUN_DIR/search/index-<key>.pt, rebuilt "
                          "when the run is retrained; for an exported model $ZSB_CACHE/search/<weights>/"
                          "index-<key>.pt); a FILE made by another model is refused")
    sea.add_argument("--no-progress", action="store_true", help="turn progress bars off")

    exp = commands.add_parser(
        "export",
        help="write a finished run's trained model as safetensors, with its config, metrics and a model card",
        description="Write DEST/model.safetensors (the trained weights; no pickle), config.json, metrics.json "
        "(and metrics_seeds.json), a model card README.md and export.json (the SHA-256 of every file, checked on "
        "loading: zsb.load_model(DEST), zsb search --model DEST). The run must be trained to its last epoch and "
        "evaluated (04_evaluate). An existing non-empty DEST is refused; --force replaces an earlier zsb export "
        "(never any other folder).",
    )
    exp.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a finished run folder made by zsb reproduce")
    exp.add_argument("dest", type=Path, metavar="DEST", help="the folder to create")
    exp.add_argument("--force", action="store_true", help="replace DEST when it holds an earlier zsb export")
    exp.add_argument("--half", action="store_true",
                     help="store the weights in float16 (half the size; loaded as float32)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from zsb.log import capture_warnings

    args = build_parser().parse_args(argv)
    capture_warnings()
    try:
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "data":
            return _data_check(args) if args.data_command == "check" else _data_fetch(args)
        if args.command == "search":
            return _search(args)
        if args.command == "export":
            from zsb.export import export_run

            dest = export_run(args.run_dir, args.dest, force=args.force, half=args.half)
            print(f"exported the model of {args.run_dir} to {dest} (load it with zsb.load_model({str(dest)!r}))")
            return 0
        if args.command == "compare":
            from zsb.report.compare import write_comparison

            print(write_comparison(args.run_dirs, args.output, args.paired), end="")
            return 0
        from zsb.report.publish import update_readme

        update_readme(Path(args.readme), Path(args.results))
        print(f"updated the results table in {args.readme}")
        return 0
    except ZSBError as e:
        print(f"zsb: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zsb: interrupted; finished stages and the last checkpoint are kept (rerun to resume)", file=sys.stderr)
        return 130


def _data_check(args: argparse.Namespace) -> int:
    from zsb.data.check import check_data, render_report

    report = check_data(args.benchmark, args.data_root, args.split, layout=args.layout, verify=not args.no_verify,
                        progress=not args.no_progress)
    print(render_report(report, limit=None if args.all else 20), end="")
    return 0 if report.ok else 1


def _data_fetch(args: argparse.Namespace) -> int:
    from zsb.data.fetch import fetch_command

    status, text = fetch_command(args.benchmark, args.dest, args.url, args.sha256_list, not args.no_progress)
    print(text, end="")
    return status


def _search(args: argparse.Namespace) -> int:
    from zsb.search import check_request, default_model, index_gallery, load_searcher, search, write_results

    check_request(args.queries, args.top)
    searcher = load_searcher(args.model or default_model(), progress=not args.no_progress)
    gallery = index_gallery(searcher, args.gallery, args.index, exclude=[args.out])
    results = search(searcher, gallery, args.queries, args.top)
    written = iter(write_results(results, args.out))
    for query, rows in results.groupby("query", sort=False):
        print(f"{query}: best {rows['path'].iloc[0]} (similarity {rows['similarity'].iloc[0]:.3f}); "
              f"{next(written)}, {next(written)}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from zsb.config import load_yaml_overrides, parse_assignments
    from zsb.driver.reproduce import reproduce
    from zsb.run.stages import STAGES

    overrides = load_yaml_overrides(args.config) if args.config else {}
    overrides.update(parse_assignments(args.assignments))
    if args.data_root is not None:
        overrides["data_root"] = args.data_root
    if args.split is not None:
        overrides["split"] = args.split
    if args.no_progress:
        overrides["progress"] = False
    stages = tuple(s.strip() for s in args.stages.split(",")) if args.stages else tuple(STAGES)
    benchmark = overrides.pop("benchmark", args.benchmark)
    reproduce(benchmark, overrides, stages=stages, run_id=args.run_id, results_root=args.results,
              force=args.force, kernel=args.kernel, publish_results=args.publish)
    return 0


if __name__ == "__main__":
    sys.exit(main())
