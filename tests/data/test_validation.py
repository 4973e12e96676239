"""Validation classes: drawn from the seen classes by a fixed rule, and a validation run never reads a test class."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from zsb.config import resolve
from zsb.data.manifest import build_manifest
from zsb.data.registry import VALIDATION_FRACTION, get_benchmark, load_split, validation_classes

OPENED: list[str] = []
RECORDING: list[bool] = []


def _audit(event: str, args: tuple) -> None:
    if RECORDING and event in ("open", "os.listdir", "os.scandir") and args and args[0] is not None:
        path = args[0]
        if isinstance(path, (str, bytes, Path)):
            OPENED.append(path.decode() if isinstance(path, bytes) else str(path))


sys.addaudithook(_audit)  # audit hooks cannot be removed: it records only while RECORDING is set


def opened_during(action) -> list[str]:
    OPENED.clear()
    RECORDING.append(True)
    try:
        action()
    finally:
        RECORDING.clear()
    return list(OPENED)


def test_validation_classes_are_a_fixed_fifth_of_the_seen_classes():
    for benchmark in ("sketchy_ext", "tuberlin_ext", "quickdraw_ext"):
        for split in get_benchmark(benchmark).splits:
            seen, unseen = load_split(benchmark, split)
            if seen is None:
                continue
            held_out = validation_classes(seen)
            assert held_out == sorted(held_out) and set(held_out) <= set(seen) and not set(held_out) & set(unseen)
            assert len(held_out) == max(1, round(VALIDATION_FRACTION * len(seen)))
            assert validation_classes(list(reversed(seen))) == held_out  # order of the input does not matter


def test_validation_manifest_trains_without_the_validation_classes(sketchy_mini_root):
    test = build_manifest("sketchy_mini", sketchy_mini_root, "sake25", max_per_class=1, verify_images=False)
    validation = build_manifest("sketchy_mini", sketchy_mini_root, "sake25", max_per_class=1, verify_images=False,
                                evaluate_on="validation")
    assert validation.unseen_classes == validation_classes(test.seen_classes)
    assert len(validation.unseen_classes) == 20 and len(validation.seen_classes) == 80
    assert set(validation.seen_classes) | set(validation.unseen_classes) == set(test.seen_classes)
    assert not set(validation.frame["class_name"]) & set(test.unseen_classes)
    assert validation.evaluate_on == "validation"


def test_a_validation_run_never_reads_a_test_class_file(sketchy_mini_root, tmp_path):
    """Data, training and evaluation in validation mode, with every file open and folder listing recorded: none
    is inside a test class's folder (while a test-mode manifest of the same data does read them)."""
    from zsb.run import stages
    from zsb.run.context import Run

    cfg = resolve({"benchmark": "sketchy_mini", "data_root": str(sketchy_mini_root), "evaluate_on": "validation",
                   "max_seen_classes": 3, "max_unseen_classes": 2, "max_per_class": 2, "image_size": 32,
                   "epochs": 1, "classes_per_batch": 3, "embed_dim": 16, "progress": False, "device": "cpu",
                   "precision": "fp32"})
    _, test_classes = load_split("sketchy_mini", "sempcyc25")
    test_folders = [(sketchy_mini_root / domain / name).resolve() for domain in ("sketch", "photo")
                    for name in test_classes]

    def inside_test_folder(path: str) -> bool:
        resolved = Path(path).resolve()
        return any(resolved == folder or folder in resolved.parents for folder in test_folders)

    run = Run(tmp_path / "run", cfg)

    def whole_run():
        stages.prepare_data(run)
        stages.train(run)
        stages.evaluate(run, "trained")
        stages.evaluate(run, "frozen")

    opened = opened_during(whole_run)
    assert any("sketchy-mini" in path for path in opened), "the recorder saw no data file"
    assert [path for path in opened if inside_test_folder(path)] == []
    assert set(run.manifest.unseen_classes) <= set(validation_classes(_seen_on_disk(sketchy_mini_root)))
    binary = json.loads(run.folder.metrics_path().read_text())["binary"]  # the preset's 64 bits, a 16-d embedding
    assert binary["bits"] == 64 and "at least 64 dimensions" in binary["skipped"]

    in_test_mode = opened_during(lambda: build_manifest("sketchy_mini", sketchy_mini_root, max_per_class=1,
                                                        max_unseen_classes=1, verify_images=True))
    assert any(inside_test_folder(path) for path in in_test_mode)  # the recorder would have seen them


def _seen_on_disk(root: Path) -> list[str]:
    """sempcyc25's seen classes: every class on disk but the 25 test classes."""
    _, unseen = load_split("sketchy_mini", "sempcyc25")
    return sorted({p.name for p in (root / "sketch").iterdir()} - set(unseen))


@pytest.mark.parametrize("value", ["train", ""])
def test_evaluate_on_is_checked(value):
    from zsb.errors import ConfigError

    with pytest.raises(ConfigError, match="evaluate_on"):
        resolve({"evaluate_on": value})
