"""The classroom preset's choices, each trained once and scored on validation classes, never on test classes.

A classroom has minutes, not hours: sketchy_mini must train in at most 10 minutes on 2 CPU cores. Training steps are
already at the framework's speed, so the time comes from choices. Each choice of :data:`CHOICES` changes the
sketchy_mini preset in one or two ways (image size, epochs, images seen per class, frozen early stages, backbone),
is trained with seed 0 on the seen classes less the validation ones, and is scored on the 20 validation classes
(``evaluate_on=validation``: 500 sketches x 500 photos). Its small files (config, metrics, training log, timing) are
kept in ``results/sketchy_mini/classroom/run_files/<choice>/`` so that seeds can be added without retraining.

    python -m benchmarks.classroom_choices --results /tmp/classroom [--only NAME ...]   # from the repository root
    zsb compare results/sketchy_mini/classroom/run_files/* --output results/sketchy_mini/classroom/choices

Images per class: ``max_per_class`` would also thin the validation and test galleries, so fewer images per class is
measured as fewer images seen per class and epoch (``batches_per_epoch``), which is the time that choice saves.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from benchmarks.campaign import REPO, sketchy_mini_command
from zsb.artifacts import copy_small_files

PUBLISHED = REPO / "results" / "sketchy_mini" / "classroom" / "run_files"
COMMON = {"evaluate_on": "validation", "seed": 0, "eval_both_flips": False, "binary_bits": 0}
"""Every choice: validation classes, seed 0, the papers' protocol (no test-time flip), real-valued retrieval."""
CHOICES: dict[str, dict[str, object]] = {
    "size160_e2": {"image_size": 160, "epochs": 2},
    "size160_e2_freeze3": {"image_size": 160, "epochs": 2, "freeze_stages": 3},
    "size128_e3": {"image_size": 128, "epochs": 3},
    "size224_e1": {"image_size": 224, "epochs": 1},
    "size160_e3_half": {"image_size": 160, "epochs": 3, "batches_per_epoch": 63},
    "lite1_size160_e2": {"backbone": "efficientnet_lite1", "image_size": 160, "epochs": 2},
    "size224_e2_freeze3": {"image_size": 224, "epochs": 2, "freeze_stages": 3},
}
"""Each choice's changes to the sketchy_mini preset (Lite0 at 224 px; 125 batches of 16 classes make an epoch of the
80 training classes, so 63 batches see half the images of each class)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, required=True, help="where the run folders (checkpoints) go")
    parser.add_argument("--only", nargs="+", choices=sorted(CHOICES), help="these choices (default: all)")
    args = parser.parse_args()
    for name in args.only or CHOICES:
        print(f"classroom choice {name}: {CHOICES[name]}", flush=True)
        subprocess.run(sketchy_mini_command(args.results, name, "01_data,02_knowledge,03_train,04_evaluate",
                                            {**COMMON, **CHOICES[name]}), cwd=REPO, check=True)
        copy_small_files(args.results / "sketchy_mini" / "runs" / name, PUBLISHED / name)


if __name__ == "__main__":
    main()
