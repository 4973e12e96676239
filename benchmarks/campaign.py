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
the analysis plan says (:mod:`zsb.report.summary`, :mod:`zsb.report.claims`); ``--write`` puts that into the campaign README, and a short
version into the project's README, between their markers (:data:`MARKERS`), so that no figure is copied by hand,
and draws the claims' figure (:data:`FIGURE`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from functools import partial
from pathlib import Path

from zsb.report import summary
from zsb.report.summary import Campaign, draw_gains

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = Path("results/sketchy_mini/campaign/runs")
"""Where each split's small files are committed, relative to the repository."""
README = PUBLISHED.parent / "README.md"
FIGURE = PUBLISHED.parent / "gains.png"
"""The gains of every split side by side (:func:`zsb.report.viz.plot_gains_by_split`), drawn by ``summary --write``."""
EXPLORATORY = (PUBLISHED.parent / "knowledge_by_class.csv", PUBLISHED.parent / "knowledge_by_overlap.png")
"""The exploratory analysis's table (one row per test class) and figure, written by ``summary --write``."""
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
CAMPAIGN = Campaign(PLAN, SPLITS, FIRST_SEED, DATA_ROOT, README, FIGURE, EXPLORATORY[1])
"""The plan as its summary reads it (:mod:`zsb.report.summary`)."""
done_runs = partial(summary.done_runs, CAMPAIGN)
summaries = partial(summary.summaries, CAMPAIGN)


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


def sketchy_mini_command(results: Path, run_id: str, stages: str, settings: dict, progress: bool = False) -> list[str]:
    """A ``zsb reproduce`` call on sketchy_mini (the data root spelt :data:`DATA_ROOT`) with ``settings`` as
    ``--set`` overrides, run from the repository root."""
    return [sys.executable, "-m", "zsb", "reproduce", "--benchmark", "sketchy_mini", "--data-root", DATA_ROOT,
            "--results", str(results), "--run-id", run_id, "--stages", stages,
            *(f"--set={name}={str(value).lower() if isinstance(value, bool) else value}"
              for name, value in settings.items()),
            *([] if progress else ["--no-progress"])]


def reproduce_command(results: Path, split: str, variants: str, progress: bool = False) -> list[str]:
    """The ``zsb reproduce`` call of one step."""
    return sketchy_mini_command(results, split, "01_data,02_knowledge,06_ablation",
                                {"split": split, **BUDGET, "ablation_variants": variants}, progress)


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
