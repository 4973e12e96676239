"""Class-oriented semantic knowledge, prepared once before training.

Instead of running the ImageNet teacher on every training image at every step, the paper prepares the teacher's
knowledge per class: row c of the knowledge matrix K is the mean, over the training photos of seen class c, of the
frozen teacher's ImageNet prediction softmax(imagenet_logits / T). During training every sample of class c
(sketch or photo) is distilled towards K[c] (:class:`zsb.losses.KnowledgePreservationLoss`).

Computing K takes one pass of the teacher over the training photos; :func:`load_or_compute_class_knowledge` caches
it on disk together with the settings it was computed with and reuses it only while those settings match.
"""

from __future__ import annotations

from typing import Iterable

import torch
from tqdm import tqdm

from zsb.backbones import Backbone

from zsb.device import to_input
from zsb.errors import ConfigError, DataError
from zsb.log import get_logger

logger = get_logger(__name__)


@torch.no_grad()
def compute_class_knowledge(
    teacher: Backbone,
    loader: Iterable,
    num_classes: int,
    temperature: float,
    top_k: int | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """The (num_classes, 1000) class-oriented knowledge matrix of a frozen teacher.

    Args:
        teacher: the ImageNet-pretrained backbone (put in eval mode here; its parameters are not changed).
        loader: yields batches ``(images, labels, ...)`` of the seen classes' TRAINING PHOTOS, with labels in
            0..num_classes-1; images already preprocessed for the teacher.
        num_classes: number of seen classes C; every class needs at least one photo.
        temperature: T of the teacher's softmax(imagenet_logits / T) (:func:`teacher_softmax`); use the same T in the
            loss. No default here: the run's ``kd_temperature`` is the one default.
        top_k: if set, keep only the k largest probabilities of each row and renormalise them to sum to 1
            (:func:`keep_top_k`); default None (keep all 1000).
        progress: show a tqdm progress bar; default True.

    Returns:
        float32 CPU tensor K with K[c] = mean over class c's photos of softmax(teacher logits / T).

    Raises:
        ConfigError: non-positive temperature or invalid top_k.
        DataError: a label outside 0..C-1, or a class without any photo.
    """
    if not temperature > 0:
        raise ConfigError(f"temperature must be positive, got {temperature!r}.")
    if top_k is not None and not (isinstance(top_k, int) and top_k >= 1):
        raise ConfigError(f"top_k must be None or a positive integer, got {top_k!r}.")
    teacher.eval()
    device = next(teacher.parameters()).device
    sums = None
    counts = torch.zeros(num_classes, dtype=torch.long)
    for batch in tqdm(loader, desc="class knowledge", ascii=True, disable=not progress):
        images, labels = batch[0], torch.as_tensor(batch[1]).long().cpu()
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise DataError(
                f"class knowledge: got label {int(labels.min() if labels.min() < 0 else labels.max())} but "
                f"num_classes is {num_classes}; the loader must yield seen-class labels in 0..{num_classes - 1}."
            )
        probs = teacher_softmax(teacher.imagenet_logits(to_input(images, device)).double(), temperature).cpu()
        if sums is None:
            sums = torch.zeros(num_classes, probs.shape[1], dtype=torch.float64)
        sums.index_add_(0, labels, probs)
        counts += torch.bincount(labels, minlength=num_classes)
    empty = (counts == 0).nonzero().flatten().tolist()
    if sums is None or empty:
        raise DataError(
            f"class knowledge needs at least one training photo per seen class; classes {empty[:10]} "
            f"{'(and more) ' if len(empty) > 10 else ''}have none. Check the training manifest and the loader."
        )
    knowledge = (sums / counts[:, None]).float()
    return keep_top_k(knowledge, top_k) if top_k is not None else knowledge


def teacher_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The teacher's prediction softmax(z / T) over the ImageNet classes (rows of ``logits``), in ``logits``' dtype:
    the knowledge target, averaged per class here and used per image by the online-teacher baseline."""
    return torch.softmax(logits / temperature, dim=1)


def keep_top_k(probs: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest entries of each row of ``probs`` (zeros elsewhere) and renormalise rows to sum to 1."""
    if not isinstance(k, int) or not 1 <= k <= probs.shape[-1]:
        raise ConfigError(f"top_k must be an integer in 1..{probs.shape[-1]}, got {k!r}.")
    values, indices = probs.topk(k, dim=-1)
    kept = torch.zeros_like(probs).scatter_(-1, indices, values)
    return kept / kept.sum(-1, keepdim=True)
