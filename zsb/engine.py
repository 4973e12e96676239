"""The training loop.

Training fine-tunes one :class:`~zsb.model.ZSBModel` end to end with the paper's three losses on
domain-balanced batches. Every epoch ends with an atomic checkpoint and one JSON line in ``train_log.jsonl``;
a run interrupted at any point resumes from the last complete epoch. All randomness of an epoch (batch
composition, augmentation, random mining) is derived from ``(seed, epoch)``, so on CPU a resumed run ends
with exactly the weights of an uninterrupted one. In data-parallel training (:mod:`zsb.distributed`) every process
runs this loop on the same batches, embeds its share of each and makes the single process's update; rank 0 writes.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from zsb.artifacts import RunFolder
from zsb.checkpoint import checkpoint_bytes, load_checkpoint, save_checkpoint
from zsb.config import RunConfig
from zsb.device import resolve_device, to_device, to_input
from zsb.device import resolve_precision
from zsb.io import require_free_space
from zsb.knowledge import teacher_softmax
from zsb.log import get_logger
from zsb.losses import ParadigmLosses
from zsb.model import ZSBModel, ZSBOutput
from zsb.trainlog import read_log, write_log

if TYPE_CHECKING:
    from zsb.distributed import Ranks

logger = get_logger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch: a run resumed at ``epoch`` draws exactly what an uninterrupted run draws."""
    return (seed * 1_000_003 + epoch * 7_919) % 2**31


def autocast(precision: str, device: torch.device):
    """The arithmetic of a training step: ``"fp32"`` (no autocast) or ``"bf16"`` (autocast to bfloat16 with fp32
    master weights; on CPU it is fast only with native bf16 units such as AVX512-BF16 or AMX); ``"auto"`` is
    resolved for ``device`` (:func:`zsb.device.resolve_precision`)."""
    bf16 = resolve_precision(precision, device.type) == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def build_optimizer(model: ZSBModel, cfg: RunConfig) -> torch.optim.Optimizer:
    """Adam with one learning rate for the pretrained backbone and another for the new heads. What stays as
    pretrained gets no gradient and is left out: the first ``freeze_stages`` stages of the backbone and, with
    ``freeze_imagenet_head``, its ImageNet classifier."""
    model.backbone.freeze_stages(cfg.freeze_stages)
    model.imagenet_head.requires_grad_(not cfg.freeze_imagenet_head)
    return torch.optim.Adam(model.parameter_groups(cfg.lr_backbone, cfg.lr_head), weight_decay=cfg.weight_decay)


def learning_rate_factor(schedule: str, step: int, total_steps: int) -> float:
    """Multiplier of the base learning rates at optimisation ``step`` (cosine decays to 0 at the last step)."""
    if schedule == "constant" or total_steps <= 1:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def train(
    model: ZSBModel,
    loader_for_epoch: Callable[[int], DataLoader],
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    class_knowledge: torch.Tensor | None = None,
    teacher: torch.nn.Module | None = None,
    resume: bool = True,
    ranks: Ranks | None = None,
) -> list[dict]:
    """Train ``model`` for ``cfg.epochs`` epochs; return the per-epoch log records.

    Args:
        model: the student; its ImageNet head provides the knowledge-preservation logits.
        loader_for_epoch: ``epoch -> DataLoader`` of domain-balanced batches ``(images, labels, domains, index)``.
        cfg: the run's parameters (loss weights, learning rates, schedule, seed, ...).
        out_dir: receives ``checkpoints/last.pt`` after every epoch and ``train_log.jsonl``.
        class_knowledge: ``(num_seen_classes, 1000)`` precomputed class-oriented knowledge (teacher="precomputed").
        teacher: a frozen pretrained backbone run on every batch instead (teacher="online", the SAKE-style baseline).
        resume: continue from ``checkpoints/last.pt`` when it exists (it must come from the same configuration).
        ranks: this process's place in data-parallel training: it embeds its share of every batch, and only rank 0
            writes the checkpoint, the log and progress; None: a single process.
    """
    folder = RunFolder(out_dir)
    device = resolve_device(cfg.device)
    to_device(model, device)
    if teacher is not None:
        to_device(teacher, device).eval().requires_grad_(False)
    if class_knowledge is not None:
        class_knowledge = class_knowledge.to(device)
    if cfg.w_knowledge and class_knowledge is None and teacher is None:
        raise ValueError("the knowledge loss needs class_knowledge (precomputed) or a teacher (online)")
    losses = ParadigmLosses.from_config(cfg)
    optimizer = build_optimizer(model, cfg)
    base_lrs = [group["lr"] for group in optimizer.param_groups]

    checkpoint_path, log_path = folder.checkpoint_path, folder.log_path
    writes = ranks is None or ranks.rank == 0
    if writes:
        for stale in checkpoint_path.parent.glob(f".{checkpoint_path.name}.*.tmp"):
            stale.unlink()  # a checkpoint write cut short by a kill; the previous checkpoint is intact
    history: list[dict] = []
    start_epoch = 0
    if resume and checkpoint_path.exists():
        start_epoch = load_checkpoint(checkpoint_path, model, cfg, optimizer)
        history = [r for r in read_log(log_path) if r["epoch"] <= start_epoch]
    if writes:
        write_log(log_path, history)
    if cfg.compile:
        model.compile()  # in place: the state dict, and so the checkpoint, keeps its keys

    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        if writes:  # before the epoch, not after it: a full disk then costs no training
            require_free_space(checkpoint_path.parent, checkpoint_bytes(checkpoint_path, model) + 2**20,
                               f"the checkpoint of epoch {epoch} (training resumes from the last one saved)")
        seed_everything(epoch_seed(cfg.seed, epoch))
        loader = loader_for_epoch(epoch)
        steps_per_epoch = len(loader)
        total_steps = steps_per_epoch * cfg.epochs
        model.train()
        sums: dict[str, float] = {}
        seen_images = 0
        started = time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", ascii=True, disable=not (cfg.progress and writes),
                   leave=False)
        for step_in_epoch, (images, labels, domains, _) in enumerate(bar):
            factor = learning_rate_factor(cfg.lr_schedule, (epoch - 1) * steps_per_epoch + step_in_epoch, total_steps)
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * factor
            images = to_input(images, device)
            labels, domains = labels.to(device, non_blocking=True), domains.to(device, non_blocking=True)
            values = train_step(model, optimizer, losses, cfg, images, labels, domains, class_knowledge, teacher, ranks)
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + value * len(labels)
            seen_images += len(labels)
            bar.set_postfix(loss=f"{values['total']:.3f}")
        seconds = time.perf_counter() - started
        record = {
            "epoch": epoch,
            **{f"loss/{name}": value / max(seen_images, 1) for name, value in sums.items()},
            "lr_backbone": optimizer.param_groups[0]["lr"],
            "seconds": round(seconds, 3),
            "images_per_second": round(seen_images / max(seconds, 1e-9), 2),
            "failed_images": int(getattr(loader.dataset, "num_failed", 0)),
        }
        history.append(record)
        if writes:
            save_checkpoint(checkpoint_path, model, cfg, optimizer, epoch)
            write_log(log_path, history)
            logger.info(json.dumps(record))
    return history


def train_step(model, optimizer, losses, cfg, images, labels, domains, class_knowledge=None, teacher=None, ranks=None):
    """One optimisation step on one domain-balanced batch; returns the loss terms as floats.

    The networks run in ``cfg.precision`` (see :func:`autocast`); the losses are always computed in fp32. With
    ``ranks`` (data-parallel training) the networks run on this process's share of the batch, their outputs are
    gathered from every process, and the gradients averaged over them: the losses and the update are the single
    process's (:mod:`zsb.distributed`)."""
    share = ranks.share(images, domains) if ranks is not None else None
    with autocast(cfg.precision, images.device):
        output = share(model) if share is not None else model(images)
        targets = knowledge_targets(cfg, labels, images, class_knowledge, teacher, share)
    output = ZSBOutput(*(tensor.float() for tensor in (output.embedding, output.class_logits, output.imagenet_logits)))
    terms = losses(output, labels, domains, targets)
    optimizer.zero_grad(set_to_none=True)
    terms["total"].backward()
    if ranks is not None:
        ranks.average_gradients(model)
    optimizer.step()
    return {name: float(value.detach()) for name, value in terms.items()}


def knowledge_targets(cfg, labels, images, class_knowledge, teacher, share=None) -> torch.Tensor | None:
    """The knowledge-preservation targets of a batch: the class's precomputed knowledge row, or (online
    baseline) the frozen teacher's softmax(z / T) on the batch itself (run on this process's ``share`` of it and
    gathered, in data-parallel training)."""
    if not cfg.w_knowledge:
        return None
    if cfg.teacher == "online":
        def logits(x: torch.Tensor) -> torch.Tensor:
            return teacher.imagenet_head(teacher(x))

        with torch.no_grad():
            z = share(logits) if share is not None else logits(images)
            return teacher_softmax(z.float(), cfg.kd_temperature)
    return class_knowledge[labels]
