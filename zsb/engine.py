"""Training loop and feature extraction.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from zsb.backbones import resolve_device, to_device, to_input
from zsb.config import RunConfig, canonical_json, resolve_precision
from zsb.errors import WeightsError
from zsb.io import atomic_torch_save, require_free_space, safe_torch_load
from zsb.knowledge import teacher_softmax
from zsb.log import get_logger
from zsb.losses import (
    CrossDomainTripletLoss,
    DomainBalancedQuadrupletLoss,
    KnowledgePreservationLoss,
    SemanticClassificationLoss,
)
from zsb.model import ZSBModel, ZSBOutput
from zsb.artifacts import RunFolder
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
    resolved for ``device`` (:func:`zsb.config.resolve_precision`)."""
    bf16 = resolve_precision(precision, device.type) == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


@dataclass
class ParadigmLosses:
    """The paper's three losses, weighted: the quadruplet (or triplet) metric loss, semantic classification
    and semantic knowledge preservation. A loss whose weight is 0 is not computed."""

    metric: torch.nn.Module
    classification: SemanticClassificationLoss
    knowledge: KnowledgePreservationLoss
    w_metric: float
    w_classification: float
    w_knowledge: float

    @classmethod
    def from_config(cls, cfg: RunConfig) -> "ParadigmLosses":
        metric_cls = DomainBalancedQuadrupletLoss if cfg.metric_loss == "quadruplet" else CrossDomainTripletLoss
        return cls(
            metric=metric_cls(margin=cfg.margin, mining=cfg.mining, squared=cfg.squared_distance),
            classification=SemanticClassificationLoss(label_smoothing=cfg.label_smoothing),
            knowledge=KnowledgePreservationLoss(temperature=cfg.kd_temperature, domains=cfg.kd_domain_list,
                                                scale_by_t2=cfg.kd_scale_by_t2),
            w_metric=cfg.w_metric,
            w_classification=cfg.w_classification,
            w_knowledge=cfg.w_knowledge,
        )

    @property
    def metric_name(self) -> str:
        return "quadruplet" if isinstance(self.metric, DomainBalancedQuadrupletLoss) else "triplet"

    def __call__(self, output, labels, domains, knowledge_targets) -> dict[str, torch.Tensor]:
        """Named loss terms and their weighted sum under ``"total"``."""
        terms: dict[str, torch.Tensor] = {}
        total = output.embedding.new_zeros(())
        if self.w_metric:
            terms[self.metric_name] = self.metric(output.embedding, labels, domains)
            total = total + self.w_metric * terms[self.metric_name]
        if self.w_classification:
            terms["classification"] = self.classification(output.class_logits, labels)
            total = total + self.w_classification * terms["classification"]
        if self.w_knowledge:
            terms["knowledge"] = self.knowledge(output.imagenet_logits, knowledge_targets, domains)
            total = total + self.w_knowledge * terms["knowledge"]
        terms["total"] = total
        return terms


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


def checkpoint_identity(model: ZSBModel, cfg: RunConfig) -> dict:
    """What a checkpoint records of its making: the model's architecture and the settings of the ``checkpoint``
    artifact (every parameter that training depends on, :func:`zsb.config.parameters_of`)."""
    return {"architecture": model.architecture(), "settings": canonical_json(cfg.settings("checkpoint"))}


def checkpoint_settings(path: Path) -> dict:
    """The training settings recorded in the checkpoint at ``path`` (a WeightsError when it is not one)."""
    return json.loads(json.loads(_read_checkpoint(path)["identity"])["settings"])


CHECKPOINT_REMEDY = "Delete it, or pass --force to zsb reproduce, to train this run folder again from epoch 1."
"""What to do about a checkpoint that cannot be read: it is never loaded any other way."""


def _read_checkpoint(path: Path) -> dict:
    state = safe_torch_load(path, "checkpoint", remedy=CHECKPOINT_REMEDY)
    try:
        identity = json.loads(state["identity"])
        if isinstance(identity, dict) and {"architecture", "settings"} <= set(identity) and {"model", "epoch"} <= set(state):
            return state
    except (TypeError, KeyError, ValueError):
        pass
    raise WeightsError(
        f"{path} is not a zsb training checkpoint (expected keys model, epoch, identity). Move it away, or pass "
        "--force to retrain in this run folder."
    )


def checkpoint_bytes(path: Path, model: ZSBModel) -> int:
    """About how many bytes the checkpoint at ``path`` takes when rewritten: the last one's size, else the model's
    weights and Adam's two moments of them."""
    if path.is_file():
        return path.stat().st_size
    return 3 * sum(tensor.numel() * tensor.element_size() for tensor in model.state_dict().values())


def save_checkpoint(path: Path, model: ZSBModel, cfg: RunConfig, optimizer, epoch: int) -> None:
    atomic_torch_save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "identity": json.dumps(checkpoint_identity(model, cfg), sort_keys=True),
        },
        path,
    )


def other_parameters_error(path: Path) -> WeightsError:
    """The refusal of a checkpoint trained with other parameters than the run's: it is never overwritten."""
    return WeightsError(
        f"checkpoint {path} was trained with other parameters than this run's. It is left untouched; "
        "start this configuration in a new run folder (or pass --force to retrain here)."
    )


def load_checkpoint(path: Path, model: ZSBModel, cfg: RunConfig | None = None, optimizer=None) -> int:
    """Restore model (and optimizer) state; return the checkpoint's epoch.

    The checkpoint must come from the same architecture (and, when ``cfg`` is given, the same training
    parameters): anything else is a WeightsError that says what differs."""
    state = _read_checkpoint(path)
    saved = json.loads(state["identity"])
    if saved["architecture"] != model.architecture():
        raise WeightsError(
            f"checkpoint {path} was made for model {saved['architecture']}, but this run builds "
            f"{model.architecture()}. Use the run folder that matches these parameters, or a new one."
        )
    if cfg is not None and saved["settings"] != checkpoint_identity(model, cfg)["settings"]:
        raise other_parameters_error(path)
    model.load_state_dict(state["model"])
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"])


@torch.no_grad()
def extract_embeddings(
    encode: Callable[[torch.Tensor], torch.Tensor],
    loader: DataLoader,
    device: torch.device,
    progress: bool = True,
    desc: str = "embedding",
    hflip: bool = False,
    both: bool = False,
) -> torch.Tensor | dict[bool, torch.Tensor]:
    """Run ``encode`` over every batch of ``loader`` (in order) and stack the L2-normalised results on CPU.

    With ``hflip`` (test-time flip) each image is also encoded mirrored left to right, and the result is the
    normalised mean of the two normalised embeddings: retrieval then does not depend on which way a sketch faces.
    With ``both`` the result is ``{False: without the flip, True: with it}``, from one pass."""
    chunks: dict[bool, list[torch.Tensor]] = {False: [], True: []}
    for images, *_ in tqdm(loader, desc=desc, ascii=True, disable=not progress, leave=False):
        images = to_input(images, device)
        plain = F.normalize(encode(images).float(), dim=1)
        chunks[False].append(F.normalize(plain, dim=1).cpu())
        if hflip or both:
            mirrored = F.normalize(encode(images.flip(3)).float(), dim=1)
            chunks[True].append(F.normalize(plain + mirrored, dim=1).cpu())
    stacked = {flip: torch.cat(parts) for flip, parts in chunks.items() if parts}
    return stacked if both else stacked[hflip]
