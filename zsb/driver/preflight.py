"""The checks that fail fast, before any notebook starts or any file of the run folder is rewritten."""

from __future__ import annotations

import warnings
from pathlib import Path

from zsb.artifacts import RunFolder
from zsb.checkpoint import checkpoint_settings
from zsb.config import RunConfig
from zsb.device import native_bf16, resolve_device
from zsb.errors import WeightsError
from zsb.log import get_logger

logger = get_logger(__name__)

CHECKPOINT_STAGES = ("03_train", "04_evaluate", "05_tsne", "06_ablation")
"""Stages that resume from or read the run folder's training checkpoint."""


def preflight(cfg: RunConfig, kernel: str) -> None:
    """The Jupyter kernel, the backbone weights and the data root; a warning where bf16 would be emulated."""
    from zsb.backbones import BACKBONES, check_freeze_stages, check_weights
    from zsb.driver.notebooks import check_kernel

    check_kernel(kernel)
    check_weights(cfg.backbone, None if cfg.weights == "none" else cfg.weights)
    check_freeze_stages(cfg.freeze_stages, BACKBONES[cfg.backbone].stages, cfg.backbone)
    check_data(cfg)
    device = resolve_device(cfg.device)
    if cfg.precision == "bf16" and not native_bf16(device):
        logger.warning(
            f"warning: precision=bf16 on a {device.type} without native bf16 units is emulated and slower than "
            "fp32; pass --set precision=fp32 to train in fp32 (results differ slightly)"
        )


def check_data(cfg: RunConfig) -> None:
    """DataError when the data root is missing, has none of the benchmark's layouts, lacks a class of the split,
    or a class folder that the run uses holds no image file. Only folders are listed (no image is decoded; the data
    stage checks every image and skips unreadable ones). The generated synthetic benchmark is not checked."""
    from zsb.data.manifest import build_manifest
    from zsb.data.registry import get_benchmark

    if not (get_benchmark(cfg.benchmark).needs_data_root or cfg.data_root):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the data stage reports skipped files
        build_manifest(
            cfg.benchmark,
            cfg.data_root or None,
            cfg.split or None,
            max_seen_classes=cfg.max_seen_classes or None,
            max_unseen_classes=cfg.max_unseen_classes or None,
            max_per_class=1,
            verify_images=False,
            evaluate_on=cfg.evaluate_on,
        )


def check_checkpoint(run_dir: Path, cfg: RunConfig, stages: tuple[str, ...], force: bool) -> None:
    """WeightsError when ``run_dir`` holds a training checkpoint made with other training settings than ``cfg``
    (an explicit --run-id reused with other settings): it is refused before anything in the folder is rewritten."""
    from zsb.artifacts import differences

    path = RunFolder(run_dir).checkpoint_path
    if force or not path.is_file() or not set(stages) & set(CHECKPOINT_STAGES):
        return
    saved, wanted = checkpoint_settings(path), cfg.settings("checkpoint")
    if saved == wanted:
        return
    changes = ", ".join(f"{name} {old!r} -> {new!r}" for name, old, new in differences(saved, wanted))
    raise WeightsError(
        f"the run folder {run_dir} holds a checkpoint trained with other parameters than this run's "
        f"(differing: {changes}). Nothing in it was changed. Give these parameters their own run folder (another "
        "--run-id, or none: the default id is a hash of the parameters), or pass --force to retrain here, "
        "replacing the checkpoint."
    )
