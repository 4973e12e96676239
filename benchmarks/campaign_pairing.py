"""Do code versions train and evaluate the campaign's runs identically? A short run of the campaign's budget at
each commit, compared file by file with the newest.

The campaign pairs a variant's seed s with the full method's seed s even when the two were trained at different
commits (``results/sketchy_mini/campaign/README.md``, "Code version"). That holds only if nothing that trains or
evaluates changed between the commits. This script checks it directly: it checks out each commit in a temporary
git worktree (``shared/`` linked beside it, so the data root is spelt as the campaign spells it), runs the
campaign's ``zsb reproduce`` step with the campaign's budget (:data:`benchmarks.campaign.BUDGET`) on a few classes
and images for one epoch, training the full method and the variants whose losses differ from it (the triplet
loss, the online teacher), and compares, for every variant:

- ``per_query.csv`` (every query's every metric), byte for byte;
- the losses of every epoch in ``train_log.jsonl`` (its wall times left out).

It prints one line per compared file and exits 1 if any differs. Same machine, same thread count: CPU runs are
deterministic per seed there, not across CPU kinds.

    python -m benchmarks.campaign_pairing OLD_COMMIT [OLDER_COMMIT ...] [--new HEAD] [--split eccv21]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zsb.trainlog import read_log

from benchmarks.campaign import BUDGET, DATA_ROOT, REPO, SPLITS, sketchy_mini_command

SHORT = {"epochs": 1, "max_seen_classes": 12, "max_unseen_classes": 6, "max_per_class": 8,
         "ablation_variants": "full:1,triplet:1,online_teacher:1"}
"""What shortens the campaign's step: one epoch on 12 seen classes (the knowledge of 18), 8 images per class and
domain; the variants whose training differs from the full method's in its losses or its teacher."""
TIMING = {"seconds", "images_per_second"}
"""The fields of a training log line that are wall times, not results."""


def train_at(commit: str, home: Path, split: str) -> Path:
    """Check out ``commit`` under ``home`` and run the short step there; the run folder."""
    checkout = home / commit
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(checkout), commit],
                   check=True, capture_output=True)
    results = home / f"results-{commit}"
    command = sketchy_mini_command(results, split, "01_data,02_knowledge,06_ablation",
                                   {**BUDGET, "split": split, **SHORT})
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    print(f"{commit}: training ({' '.join(command[1:])})", flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=checkout, env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"{commit}: {time.perf_counter() - started:.0f} s", flush=True)
    return results / "sketchy_mini" / "runs" / split


def losses(log: Path) -> list[dict]:
    return [{k: v for k, v in record.items() if k not in TIMING} for record in read_log(log)]


def compare(old: Path, new: Path) -> list[tuple[str, bool]]:
    """(file, identical) for every per_query.csv and train_log.jsonl of either run folder."""
    names = sorted({p.relative_to(run).as_posix() for run in (old, new)
                    for pattern in ("**/per_query.csv", "**/train_log.jsonl") for p in run.glob(pattern)})
    found = []
    for name in names:
        a, b = old / name, new / name
        if not (a.is_file() and b.is_file()):
            found.append((name, False))
        elif name.endswith(".jsonl"):
            found.append((name, losses(a) == losses(b)))
        else:
            found.append((name, a.read_bytes() == b.read_bytes()))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", nargs="+", help="commits that trained runs already committed")
    parser.add_argument("--new", default="HEAD", help="the commit each is compared with (default: HEAD)")
    parser.add_argument("--split", default="eccv21", choices=SPLITS)
    args = parser.parse_args()
    commits = [subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref], check=True, text=True,
                              capture_output=True).stdout.strip() for ref in (*args.old, args.new)]
    home = Path(tempfile.mkdtemp(prefix="zsb-pairing-"))
    try:
        shared = Path(DATA_ROOT).parts[1]  # the folder beside the checkout that holds the data
        (home / shared).symlink_to((REPO.parent / shared).resolve())
        runs = {commit: train_at(commit, home, args.split) for commit in dict.fromkeys(commits)}
        verdicts = {old: compare(runs[old], runs[commits[-1]]) for old in commits[:-1]}
    finally:
        for commit in commits:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(home / commit)],
                           capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    agreed = []
    for old, found in verdicts.items():
        for name, same in found:
            print(f"{old}: {'identical' if same else 'DIFFERENT'}  {name}")
        agreed.append(bool(found) and all(same for _, same in found))
        print(f"{old} and {commits[-1]}: {'the same' if agreed[-1] else 'NOT the same'} on {len(found)} files "
              f"({args.split}, {SHORT['epochs']} epoch, {SHORT['max_seen_classes']} seen classes)")
    return 0 if all(agreed) else 1


if __name__ == "__main__":
    sys.exit(main())
