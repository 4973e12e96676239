"""Issue 12's seeds-and-claims campaign on sketchy_mini, one run at a time, resumable on any machine.

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
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zsb.artifacts import RunFolder

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = Path("results/sketchy_mini/campaign/runs")
"""Where each split's small files are committed, relative to the repository."""
DATA_ROOT = "../shared/data/sketchy-mini"
SPLITS = ("sempcyc25", "eccv21", "sake25")
"""SEM-PCYC's split (the default), ECCV'21's (test classes almost absent from ImageNet-1k: claim 4), SAKE's."""
BUDGET = {"epochs": 3, "binary_bits": 0, "eval_both_flips": False, "seeds": "0,1,2"}
"""The same for every run: the sketchy_mini preset's ablation budget, real-valued retrieval, no test-time flip."""
FIRST_SEED = ("full", "no_knowledge", "online_teacher", "frozen", "triplet", "no_classification", "no_quadruplet")
"""Every variant with seed 0 (``frozen`` is not trained: its features are the same for every seed)."""
MORE_SEEDS = ("full", "no_knowledge", "online_teacher")
"""The variants the claims compare most closely, also with seeds 1 and 2."""
PLAN: tuple[tuple[str, str, int], ...] = (
    *((split, variant, 0) for split in SPLITS for variant in FIRST_SEED),
    *((split, variant, seed) for seed in (1, 2) for split in SPLITS for variant in MORE_SEEDS),
)
"""(split, variant, seed) in the order they are added: every claim on every split with one seed first, then the
spread over seeds."""


def run_folder(root: Path, variant: str, seed: int) -> "RunFolder":
    """Where the run folder ``root`` that 06_ablation fills keeps (variant, seed) (:class:`zsb.artifacts.RunFolder`'s
    layout): the first seed (0) in ``root`` itself, the full method in its seed's folder."""
    from zsb.artifacts import RunFolder

    folder = RunFolder(root) if seed == 0 else RunFolder(root).seed(seed)
    return folder if variant == "full" else folder.variant(variant)


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
        subprocess.run(["git", "commit", "-q", "-m", f"Campaign (issue 12): {split} {variant} seed {seed}", "--",
                        str(PUBLISHED / split)], cwd=REPO, check=True)
    return todo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="the runs done and the next one")
    run = commands.add_parser("run", help="train the next planned runs")
    run.add_argument("--results", type=Path, required=True, help="where the run folders (checkpoints included) live")
    run.add_argument("--steps", type=int, default=1, help="runs to add (each about 20 min on a 2-core CPU)")
    run.add_argument("--commit", action="store_true", help="git commit the split's small files after each run")
    run.add_argument("--progress", action="store_true", help="progress bars")
    args = parser.parse_args()
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
