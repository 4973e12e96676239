"""The seeds-and-claims campaign on sketchy_mini, one run at a time, resumable on any machine.

The campaign trains every method of :data:`PLAN` on the three Sketchy splits and tabulates them with intervals and
paired gains (the 06_ablation stage). Each step adds ONE run (a variant and a seed) to a split's run folder:

1. the split's committed small files (``results/sketchy_mini/campaign/runs/<split>/``) are restored into the local
   run folder when it has none, so that the finished runs are tabulated, not trained again;
2. ``zsb reproduce`` runs the data, knowledge and ablation stages with ``ablation_variants`` grown by that one run
   (``variant:N`` trains a variant's first N seeds, so a variant's seeds are added in order);
3. the run folder's small files (:func:`zsb.artifacts.copy_small_files`) are copied back into the repository and,
   with ``--commit``, committed: a session that ends mid-run loses only the run in progress.

Which runs are done is read from the files, never from a note: a (variant, seed) is done when its ``metrics.json``
is in the committed folder. Run it from a checkout with ``shared/`` beside it (the data root
``../shared/data/sketchy-mini`` is part of every fingerprint, so it is always spelt so):

    python benchmarks/campaign.py status
    nice -n 19 python benchmarks/campaign.py run --results /tmp/campaign --steps 4 --commit
    python benchmarks/campaign.py summary --write

``summary`` tabulates every split from its committed files (mean ± sd over seeds, the seeds' values, the interval,
the paired gain of the full method over each variant and the training time) and judges each of the paper's claims as
the analysis plan says (:mod:`zsb.report.claims`); ``--write`` puts that into the campaign README, and a short
version into the project's README, between their markers (:data:`MARKERS`), so that no figure is copied by hand,
and draws the claims' figure (:data:`FIGURE`).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path
from zsb.report.claims import run_folder  # the layout of a split's run folder, said once

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = Path("results/sketchy_mini/campaign/runs")
"""Where each split's small files are committed, relative to the repository."""
README = PUBLISHED.parent / "README.md"
FIGURE = PUBLISHED.parent / "gains.png"
EXPLORATORY = (PUBLISHED.parent / "knowledge_by_class.csv", PUBLISHED.parent / "knowledge_by_overlap.png")
"""The exploratory analysis's table (one row per test class) and figure, written by ``summary --write``."""
"""The gains of every split side by side (:func:`zsb.report.viz.plot_gains_by_split`), drawn by ``summary --write``."""
MARKERS = ("<!-- campaign:summary:start -->", "<!-- campaign:summary:end -->")
"""What ``summary --write`` replaces in :data:`README` and in the project's README: the text between these lines."""
DATA_ROOT = "../shared/data/sketchy-mini"
SPLITS = ("sempcyc25", "eccv21", "sake25")
"""SEM-PCYC's split (the default), ECCV'21's (test classes almost absent from ImageNet-1k: claim 4), SAKE's."""
BUDGET = {"epochs": 3, "binary_bits": 0, "eval_both_flips": False, "seeds": "0,1,2,3,4"}
"""The same for every run: the sketchy_mini preset's ablation budget, real-valued retrieval, no test-time flip;
``seeds`` lists every seed of the design (a variant runs the first N of them, ``variant:N``)."""
FIRST_SEED = ("full", "no_knowledge", "online_teacher", "frozen", "triplet", "no_classification", "no_quadruplet")
"""Every variant with seed 0 (``frozen`` is not trained: its features are the same for every seed)."""
MORE_SEEDS = ("full", "no_knowledge", "online_teacher")
"""The variants the claims compare most closely, which the first design also ran with seeds 1 and 2."""
TRAINED = tuple(variant for variant in FIRST_SEED if variant != "frozen")
"""The trained variants: the balanced design (``analysis_plan.md``) runs each on every seed of :data:`BUDGET`."""
ORDER = ("eccv21", "sempcyc25", "sake25")
"""The order of the splits within each block of runs."""
FIRST_DESIGN: tuple[tuple[str, str, int], ...] = tuple(
    run for split in ORDER for run in (*((split, variant, 0) for variant in FIRST_SEED),
                                       *((split, variant, seed) for seed in (1, 2) for variant in MORE_SEEDS)))
"""The first 39 runs, one split at a time: every variant with seed 0, then seeds 1 and 2 of :data:`MORE_SEEDS`."""
BALANCED = tuple(
    (split, variant, seed)
    for seeds, variants in (((1, 2), tuple(v for v in TRAINED if v not in MORE_SEEDS)), ((3,), TRAINED), ((4,), TRAINED))
    for seed in seeds for split in ORDER for variant in variants)
"""The runs that complete the balanced design of ``analysis_plan.md``: seeds 1 and 2 of the variants the first
design ran once (so that every trained variant has three seeds), then seed 3 of every trained variant on each split,
then seed 4."""
PLAN: tuple[tuple[str, str, int], ...] = FIRST_DESIGN + BALANCED
"""(split, variant, seed) in the order they are added."""


def done_runs(published: Path) -> set[tuple[str, str, int]]:
    """The planned (split, variant, seed) whose ``metrics.json`` is in ``published/<split>/``."""
    return {(split, variant, seed) for split, variant, seed in PLAN
            if run_folder(published / split, variant, seed).metrics_path().is_file()}


def next_run(done: set[tuple[str, str, int]]) -> tuple[str, str, int] | None:
    """The first planned run not done yet, or None when the campaign is complete."""
    return next((run for run in PLAN if run not in done), None)


def ablation_variants(split: str, runs: set[tuple[str, str, int]]) -> str:
    """The ``ablation_variants`` value that tabulates ``runs`` of ``split``: ``variant:N`` for each variant with its
    seeds 0 .. N-1 among them, in :data:`FIRST_SEED`'s order (so ``full`` leads the table)."""
    counts = {}
    for variant in FIRST_SEED:
        seeds = {seed for s, v, seed in runs if (s, v) == (split, variant)}
        if seeds and seeds != set(range(len(seeds))):
            raise ValueError(f"{split}/{variant} has seeds {sorted(seeds)}: variant:N needs seeds 0 .. N-1")
        if seeds:
            counts[variant] = len(seeds)
    return ",".join(f"{variant}:{n}" for variant, n in counts.items())


def reproduce_command(results: Path, split: str, variants: str, progress: bool = False) -> list[str]:
    """The ``zsb reproduce`` call of one step, run from the repository root."""
    settings = {"split": split, **BUDGET, "ablation_variants": variants}
    return [sys.executable, "-m", "zsb", "reproduce", "--benchmark", "sketchy_mini", "--data-root", DATA_ROOT,
            "--results", str(results), "--run-id", split, "--stages", "01_data,02_knowledge,06_ablation",
            *(f"--set={name}={str(value).lower() if isinstance(value, bool) else value}"
              for name, value in settings.items()),
            *([] if progress else ["--no-progress"])]


def step(results: Path, commit: bool, progress: bool) -> tuple[str, str, int] | None:
    """Train the next planned run, copy its split's small files back into the repository; None when all are done."""
    from zsb.artifacts import copy_small_files

    published = REPO / PUBLISHED
    done = done_runs(published)
    todo = next_run(done)
    if todo is None:
        return None
    split, variant, seed = todo
    local, repo_copy = results / "sketchy_mini" / "runs" / split, published / split
    if repo_copy.is_dir() and not (local / "config.json").is_file():
        copy_small_files(repo_copy, local)
    print(f"campaign: training {split} / {variant} / seed {seed} ({len(done)} of {len(PLAN)} runs done)", flush=True)
    subprocess.run(reproduce_command(results, split, ablation_variants(split, done | {todo}), progress),
                   cwd=REPO, check=True)
    copy_small_files(local, repo_copy)
    if commit:
        subprocess.run(["git", "add", "--", str(PUBLISHED / split)], cwd=REPO, check=True)
        subprocess.run(["git", "commit", "-q", "-m", f"Campaign: {split} {variant} seed {seed}", "--",
                        str(PUBLISHED / split)], cwd=REPO, check=True)
    return todo


def protocol(split: str) -> tuple[str, ...]:
    """The metrics ``split`` is reported with (``Benchmark.protocol``; e.g. mAP@all and P@100 for sempcyc25, mAP@200
    for eccv21): the first is the headline, on which the claims are read, the last a precision."""
    from zsb.data.registry import get_benchmark

    return tuple(get_benchmark("sketchy_mini").protocol(split))


def signed(value: float) -> str:
    return f"{value:+.4f}"


def gain_text(row, metric: str) -> str:
    """``+0.0123 [+0.0040, +0.0200]``: a variant's paired gain and its interval in an ablation.csv row."""
    gain = row.get(f"{metric} gain", float("nan"))
    if math.isnan(gain):  # NaN or absent: the full method's own row (and a table of the full method alone)
        return ""
    return f"{signed(gain)} [{signed(row[f'{metric} gain low'])}, {signed(row[f'{metric} gain high'])}]"


def code_version(commit: str) -> str:
    """The last commit at or before ``commit`` that changed ``zsb/`` (short hash): runs recorded at commits that
    differ only in results or notes name one code version. The recorded hash itself when git does not know it."""
    found = subprocess.run(["git", "log", "-1", "--format=%h", "--abbrev=7", commit.removesuffix("-dirty"), "--",
                            "zsb"], cwd=REPO, capture_output=True, text=True, check=False)
    return found.stdout.strip() or commit[:7]


def code_versions(commits: set[str]) -> list[str]:
    """The :func:`code_version` of each of ``commits``, each once, oldest first (hashes git does not know last)."""
    def age(version: str) -> tuple:
        found = subprocess.run(["git", "log", "-1", "--format=%ct", version], cwd=REPO, capture_output=True,
                               text=True, check=False)
        return (0, int(found.stdout)) if found.returncode == 0 and found.stdout.strip() else (1, version)

    return sorted({code_version(commit) for commit in commits}, key=age)


def ablation_tables(published: Path) -> dict:
    """Each split's committed ablation table (``tables/ablation.csv``, a DataFrame), for the splits that have one, in
    :data:`SPLITS` order."""
    import pandas as pd

    paths = {split: published / split / "tables" / "ablation.csv" for split in SPLITS}
    return {split: pd.read_csv(path) for split, path in paths.items() if path.is_file()}


def split_summary(published: Path, split: str, table, done: set[tuple[str, str, int]]) -> tuple[str, dict]:
    """The markdown section of one split (header, table, training time) and its ablation rows by variant, from its
    ablation ``table`` (:func:`ablation_tables`)."""
    from zsb.data.imagenet import OVERLAP_CATEGORIES, overlap_summary
    from zsb.io import machine_summary
    from zsb.metrics import metric_header
    from zsb.trainlog import read_log

    table = table.set_index("variant")
    full = run_folder(published / split, "full", 0)
    record = json.loads(full.metrics_path().read_text())
    overlap = overlap_summary(record["imagenet_overlap"], json.loads(full.config_path.read_text())["parameters"])
    head, second = protocol(split)[0], protocol(split)[-1]
    title = (f"### {split}: {record['num_queries']} query sketches x {record['num_gallery']} gallery photos, "
             f"chance {record['chance_mAP']:.3f}; ImageNet-1k overlap of the {overlap['classes']} test classes: "
             + ", ".join(f"{overlap['counts'][category]} {category}" for category in OVERLAP_CATEGORIES))
    header = (f"| variant | seeds | {metric_header(head)}, mean ± sd | per seed | 95% interval, queries | "
              f"gain of full over it, {metric_header(head)} [95%, queries] | {second}, mean | "
              f"gain of full, {second} [95%, queries] | train s/epoch (median) |")
    lines = [title, "", header, "|---|---|---|---|---|---|---|---|---|"]
    epoch_seconds, commits, machines = [], set(), set()
    for variant in table.index:
        row = table.loc[variant]
        seeds = sorted(seed for s, v, seed in done if (s, v) == (split, variant))
        folders = [run_folder(published / split, variant, seed) for seed in seeds]
        values = [json.loads(folder.metrics_path().read_text())["metrics"][head] for folder in folders]
        seconds = [r["seconds"] for folder in folders for r in read_log(folder.log_path)]
        epoch_seconds += seconds
        for environment in (folder.recorded_environment() for folder in folders):
            commits.add(environment.get("git_commit") or "unknown")
            machines.add(machine_summary(environment.get("machine")))
        spread = f" ± {row[f'{head} sd']:.4f}" if len(seeds) > 1 else ""
        epoch = f"{statistics.median(seconds):.0f}" if seconds else "- (not trained)"
        lines.append(f"| {variant} | {', '.join(map(str, seeds))} | {row[head]:.4f}{spread} | "
                     f"{', '.join(f'{v:.4f}' for v in values)} | [{row[f'{head} low']:.3f}, {row[f'{head} high']:.3f}]"
                     f" | {gain_text(row, head)} | {row[second]:.4f} | {gain_text(row, second)} | {epoch} |")
    code = ", ".join(f"`{version}`" for version in code_versions(commits))
    lines += ["", (f"Training: {len(epoch_seconds)} epochs, {sum(epoch_seconds) / 3600:.1f} h of wall time in all "
                   f"(zsb code at {code}; {'; '.join(sorted(machines))}).")]
    return "\n".join(lines), {variant: table.loc[variant] for variant in table.index}


def still_to_train(split: str, done: set[tuple[str, str, int]]) -> str:
    """The planned runs of ``split`` not done yet: ``"online_teacher (seeds 0, 1, 2); frozen (seeds 0)"``."""
    left = {variant: [s for sp, v, s in PLAN if (sp, v) == (split, variant) and (sp, v, s) not in done]
            for variant in FIRST_SEED}
    return "; ".join(f"{variant} (seeds {', '.join(map(str, seeds))})" for variant, seeds in left.items() if seeds)


def summaries(published: Path, judgement=None, by_class=None) -> tuple[str, str]:
    """The campaign's state in markdown, from the files under ``published``: the campaign README's part (a section
    per split with its runs, the claims judged by the analysis plan, what is left) and the project README's short
    version (the full method per split, one sentence per claim). ``judgement`` (:func:`zsb.report.claims.judge`) and
    ``by_class`` (the exploratory :func:`zsb.report.claims.knowledge_by_class`) are computed here when not given."""
    from zsb.metrics import metric_header
    from zsb.report.claims import claims_markdown, exploratory_markdown, judge, knowledge_by_class, project_markdown

    done = done_runs(published)
    sections, rows = [], {}
    for split, table in ablation_tables(published).items():
        text, rows[split] = split_summary(published, split, table, done)
        sections.append(text)
    runs_left = len(set(PLAN) - done)
    left = [f"### Not run yet ({runs_left} of {len(PLAN)} planned runs)",
            "\n".join(["| split | still to train |", "|---|---|",
                       *(f"| {split} | {still_to_train(split, done) or '-'} |" for split in SPLITS)])]
    judgement = judge(published) if judgement is None else judgement
    campaign = "\n\n".join([
        *sections,
        "### The paper's claims, judged by the analysis plan",
        claims_markdown(judgement, FIGURE.name),
        "### Beyond the paper's claims: the knowledge loss and the teacher's ImageNet-1k overlap (exploratory)",
        exploratory_markdown(knowledge_by_class(published, DATA_ROOT) if by_class is None else by_class,
                             EXPLORATORY[1].name),
        *(left if runs_left else [f"### Every planned run is done ({len(PLAN)} of {len(PLAN)})"]),
    ])
    so_far = f"{len(PLAN) - runs_left} of {len(PLAN)} planned runs so far" if runs_left else \
        f"complete, all {len(PLAN)} planned runs"
    intro = (f"Over seeds (the seeds-and-claims campaign, {so_far}; tables, intervals and training times: "
             f"`{README}`). Each run trains 3 epochs; each split's headline metric (its protocol) on its test classes, "
             "mean ± sd over seeds and the 95% interval resampling queries:")
    project = "\n".join([
        intro, "",
        *(f"- `{split}`, {metric_header(protocol(split)[0])}: the full method "
          f"{full_method_text(rows.get(split, {}).get('full'), protocol(split)[0])}." for split in SPLITS),
        "", project_markdown(judgement, str(README)),
    ])
    return campaign, project


def full_method_text(row, head: str) -> str:
    """``0.4373 ± 0.0113 over 3 seeds, [0.416, 0.459]``: the full method's ``head`` metric in its ablation.csv row,
    or "not run yet"."""
    if row is None:
        return "not run yet"
    spread = f" ± {row[f'{head} sd']:.4f} over {int(row['seeds'])} seeds" if row["seeds"] > 1 else " (1 seed)"
    return f"{row[head]:.4f}{spread}, [{row[f'{head} low']:.3f}, {row[f'{head} high']:.3f}]"


def draw_gains(published: Path, path: Path, judgement=None):
    """The figure of the claims' comparisons (:func:`zsb.report.claims.plot_claims`), saved at ``path``."""
    from zsb.report.claims import judge, plot_claims

    return plot_claims(judge(published) if judgement is None else judgement, path=path)


def write_between_markers(readme: Path, markers: tuple[str, str], text: str) -> None:
    """Replace the text between the lines ``markers`` in ``readme`` with ``text`` on lines of its own
    (:func:`zsb.report.readme.write_between_markers`); a script's exit with the error when the markers are missing."""
    from zsb.errors import ZSBError
    from zsb.report.readme import write_between_markers as write

    try:
        write(readme, markers, f"\n{text}\n", "run `campaign.py summary --write` again")
    except ZSBError as error:
        raise SystemExit(str(error)) from error


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="the runs done and the next one")
    run = commands.add_parser("run", help="train the next planned runs")
    run.add_argument("--results", type=Path, required=True, help="where the run folders (checkpoints included) live")
    run.add_argument("--steps", type=int, default=1, help="runs to add (each about 20 min on a 2-core CPU)")
    run.add_argument("--commit", action="store_true", help="git commit the split's small files after each run")
    run.add_argument("--progress", action="store_true", help="progress bars")
    summarise = commands.add_parser("summary", help="the tables and the claims' readings, from the committed files")
    summarise.add_argument("--write", action="store_true",
                           help=f"write them into {README} and README.md, between their markers")
    args = parser.parse_args()
    if args.command == "summary":
        from zsb.io import atomic_write_text
        from zsb.report.claims import judge, knowledge_by_class, plot_knowledge_by_overlap

        judgement, by_class = judge(REPO / PUBLISHED), knowledge_by_class(REPO / PUBLISHED, DATA_ROOT)
        campaign, project = summaries(REPO / PUBLISHED, judgement, by_class)
        if args.write:
            atomic_write_text(REPO / EXPLORATORY[0], by_class.to_csv(index=False, float_format="%.6f"))
            plot_knowledge_by_overlap(by_class, REPO / EXPLORATORY[1])
            write_between_markers(REPO / README, MARKERS, campaign)
            write_between_markers(REPO / "README.md", MARKERS, project)
            draw_gains(REPO / PUBLISHED, REPO / FIGURE, judgement)
        else:
            print(campaign, project, sep="\n\n")
        return 0
    if args.command == "status":
        done = done_runs(REPO / PUBLISHED)
        for split in SPLITS:
            print(f"{split}: {ablation_variants(split, done) or 'nothing'} done")
        print(f"{len(done)} of {len(PLAN)} planned runs done; next: {next_run(done) or 'none, the campaign is complete'}")
        return 0
    for _ in range(args.steps):
        if step(args.results.resolve(), args.commit, args.progress) is None:
            print("campaign: every planned run is done")
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
