"""The training losses of the paper, each in its own class.

The paper's full text is not available to this project; every formula below is our documented reading of its
abstract ("domain-balanced quadruplet loss", "semantic classification loss", "semantic knowledge preservation loss"
with class-oriented knowledge). Every choice that reading leaves open is a constructor parameter.

Conventions shared by the metric losses:

* ``embeddings`` (B, D) are L2-normalised; ``labels`` (B,) are class indices; ``domains`` (B,) hold
  :data:`~zsb.domains.SKETCH` (0) or :data:`~zsb.domains.PHOTO` (1).
* d(i, j) is the Euclidean distance ||x_i - x_j|| (``squared=False``, default) or its square (``squared=True``),
  computed from the Gram matrix for all pairs at once.
* Mining picks explicit (anchor, positive, negative) index tuples from the batch (:meth:`mine` returns them); the
  loss is the sum over tuples of relu(margin + d(a, p) - d(a, n)) divided by the number of distinct
  (anchor, positive) pairs among the tuples.
* When no tuple can be formed (e.g. a batch of one class), the loss is 0 and still connected to ``embeddings``
  in the autograd graph, so ``backward()`` works.
* Random choices use torch's global RNG (seeded by the caller), so runs are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zsb.domains import DOMAIN_NAMES, PHOTO, SKETCH
from zsb.errors import ConfigError

MINING = ("hard", "semihard", "random")


def pairwise_distances(embeddings: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """(B, B) Euclidean distances (or squared distances) between the rows of ``embeddings``.

    Uses ||x||^2 + ||y||^2 - 2<x, y> clamped at 0. The square root has a zero gradient where the squared distance
    is exactly 0 (duplicates, the diagonal) instead of the infinite gradient of sqrt at 0.
    """
    norms = embeddings.pow(2).sum(1)
    squared_distances = (norms[:, None] + norms[None, :] - 2.0 * embeddings @ embeddings.T).clamp_min(0.0)
    if squared:
        return squared_distances
    nonzero = squared_distances > 0
    tiny = torch.finfo(squared_distances.dtype).tiny
    return torch.where(nonzero, squared_distances.clamp_min(tiny).sqrt(), torch.zeros_like(squared_distances))


def _check_batch(embeddings: torch.Tensor, labels: torch.Tensor, domains: torch.Tensor) -> None:
    if embeddings.dim() != 2 or labels.shape != (embeddings.shape[0],) or domains.shape != labels.shape:
        raise ValueError(
            f"expected embeddings (B, D), labels (B,) and domains (B,); got {tuple(embeddings.shape)}, "
            f"{tuple(labels.shape)} and {tuple(domains.shape)}."
        )
    if not bool(((domains == SKETCH) | (domains == PHOTO)).all()):
        raise ValueError(f"domains must hold SKETCH={SKETCH} or PHOTO={PHOTO}; got values {domains.unique().tolist()}.")


def _domain_ids(domains: Sequence[str], argument: str) -> tuple[int, ...]:
    if isinstance(domains, str):
        domains = (domains,)
    unknown = [d for d in domains if d not in DOMAIN_NAMES]
    if unknown or not domains:
        raise ConfigError(
            f"{argument} must be a non-empty subset of {DOMAIN_NAMES}; got {tuple(domains)!r}."
        )
    return tuple(sorted({DOMAIN_NAMES.index(d) for d in domains}))


def _zero_connected_to(tensor: torch.Tensor) -> torch.Tensor:
    """A scalar 0 that is part of ``tensor``'s autograd graph (so that ``backward()`` always works)."""
    return tensor.sum() * 0.0


class _CrossDomainMarginLoss(nn.Module):
    """Shared machinery of the cross-domain margin losses: distances, mining of index tuples, hinge.

    Subclasses fix which samples are anchors (``anchor_domains``) and from which domains the negatives are drawn
    (``negative_domains``: one negative per listed domain for every (anchor, positive) pair). The positive is
    always a sample of the anchor's class from the other domain.

    Mining (``mining``):

    * ``"hard"`` (batch-hard): one positive per anchor, the farthest other-domain sample of its class; per
      negative domain, the closest sample of another class.
    * ``"semihard"``: every (anchor, positive) pair; per negative domain, the closest negative that is strictly
      farther from the anchor than the positive (d(a, n) > d(a, p)); when there is none, the closest negative.
    * ``"random"``: one uniformly random positive per anchor and one uniformly random negative per negative
      domain, drawn with torch's global RNG.

    An anchor without a positive is skipped; an anchor without a negative in some domain contributes only the
    terms of the domains where it has one; (anchor, positive) pairs with no term at all do not count in the mean.
    """

    def __init__(
        self,
        margin: float,
        mining: str,
        squared: bool,
        anchor_domains: tuple[int, ...],
        negative_domains: tuple[int, ...],
    ) -> None:
        super().__init__()
        if mining not in MINING:
            raise ConfigError(f"unknown mining {mining!r}; choose one of {', '.join(MINING)}.")
        if not margin >= 0:
            raise ConfigError(f"margin must be a non-negative number, got {margin!r}.")
        self.margin = float(margin)
        self.mining = mining
        self.squared = bool(squared)
        self.anchor_domains = anchor_domains
        self.negative_domains = negative_domains

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}, squared={self.squared}"

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        _check_batch(embeddings, labels, domains)
        distances = pairwise_distances(embeddings, self.squared)
        anchors, positives, negatives = self._mine(distances.detach(), labels, domains)
        if anchors.numel() == 0:
            return _zero_connected_to(distances)
        terms = F.relu(self.margin + distances[anchors, positives] - distances[anchors, negatives])
        num_pairs = torch.unique(anchors * len(labels) + positives).numel()
        return terms.sum() / num_pairs

    @torch.no_grad()
    def mine(self, embeddings: torch.Tensor, labels: torch.Tensor, domains: torch.Tensor):
        """The (anchors, positives, negatives) index tensors this loss would use for the batch (one entry per term)."""
        _check_batch(embeddings, labels, domains)
        return self._mine(pairwise_distances(embeddings, self.squared), labels, domains)

    def _mine(self, distances: torch.Tensor, labels: torch.Tensor, domains: torch.Tensor):
        same_class = labels[:, None] == labels[None, :]
        is_anchor = torch.isin(domains, torch.tensor(self.anchor_domains, device=domains.device))
        positive_mask = same_class & (domains[:, None] != domains[None, :]) & is_anchor[:, None]
        negative_masks = [~same_class & (domains == d)[None, :] for d in self.negative_domains]

        if self.mining == "semihard":
            anchors, positives = positive_mask.nonzero(as_tuple=True)
        else:
            anchors = positive_mask.any(1).nonzero(as_tuple=True)[0]
            positives = _choose(distances, positive_mask, "random" if self.mining == "random" else "farthest")[anchors]

        tuples = []
        for negative_mask in negative_masks:
            anchor_negatives = negative_mask[anchors]
            if self.mining == "semihard":
                anchor_distances = distances[anchors]
                farther = anchor_distances > distances[anchors, positives][:, None]
                semihard_mask = anchor_negatives & farther
                chosen = torch.where(
                    semihard_mask.any(1),
                    _choose(anchor_distances, semihard_mask, "closest"),
                    _choose(anchor_distances, anchor_negatives, "closest"),
                )
            else:
                chosen = _choose(distances, negative_mask, "random" if self.mining == "random" else "closest")[anchors]
            has_negative = anchor_negatives.any(1)
            tuples.append((anchors[has_negative], positives[has_negative], chosen[has_negative]))
        return tuple(torch.cat(parts) for parts in zip(*tuples))


def _choose(distances: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Per row, the column of the ``"farthest"``, the ``"closest"`` or a uniformly ``"random"`` entry where ``mask``
    is True (an arbitrary column for rows with no such entry: callers drop those rows)."""
    if how == "random":
        return torch.where(mask, torch.rand(mask.shape, device=mask.device), -1.0).argmax(1)
    if how == "farthest":
        return torch.where(mask, distances, -1.0).argmax(1)
    return torch.where(mask, distances, torch.inf).argmin(1)


class DomainBalancedQuadrupletLoss(_CrossDomainMarginLoss):
    """Domain-balanced quadruplet loss (the paper's metric-learning term; our reading of its abstract).

    Every sample, sketch or photo, is an anchor a. Its positive p is a sample of the same class from the other
    domain; it gets two negatives of other classes, one sketch n_s and one photo n_p, so that classes are pushed
    apart within each domain and across domains in equal measure ("domain-balanced"):

        L = 1/|P| * sum_{(a, p) in P} [ relu(m + d(a, p) - d(a, n_s)) + relu(m + d(a, p) - d(a, n_p)) ]

    where P is the set of mined (anchor, positive) pairs that have at least one negative, and a missing negative
    (no sample of another class in that domain) drops its term.

    Args:
        margin: m, the hinge margin on distances of normalised embeddings; default 0.2.
        mining: how positives and negatives are picked in the batch: ``"hard"`` (default; hardest positive per
            anchor, hardest negative per domain), ``"semihard"`` (all positive pairs; per domain the closest
            negative farther than the positive, else the hardest) or ``"random"`` (uniform choices).
        squared: use squared Euclidean distances instead of plain ones; default False.
    """

    def __init__(self, margin: float = 0.2, mining: str = "hard", squared: bool = False) -> None:
        super().__init__(margin, mining, squared, anchor_domains=(SKETCH, PHOTO), negative_domains=(SKETCH, PHOTO))


class CrossDomainTripletLoss(_CrossDomainMarginLoss):
    """Cross-domain triplet loss (the ablation baseline the quadruplet loss is compared with).

    Sketch anchors a, photo positives p of the same class, photo negatives n of another class:

        L = 1/|P| * sum_{(a, p) in P} relu(m + d(a, p) - d(a, n))

    Args:
        margin: m, the hinge margin; default 0.2.
        mining: ``"hard"`` (default), ``"semihard"`` or ``"random"``, as for :class:`DomainBalancedQuadrupletLoss`.
        squared: use squared Euclidean distances; default False.
    """

    def __init__(self, margin: float = 0.2, mining: str = "hard", squared: bool = False) -> None:
        super().__init__(margin, mining, squared, anchor_domains=(SKETCH,), negative_domains=(PHOTO,))


class SemanticClassificationLoss(nn.Module):
    """Semantic classification loss: cross-entropy of the seen-class logits, over sketches and photos alike.

        L = mean_i CE(class_logits_i, label_i)

    Args:
        label_smoothing: weight of the uniform distribution mixed into the one-hot targets; default 0.0 (none).
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}.")
        self.label_smoothing = float(label_smoothing)

    def forward(self, class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(class_logits, labels, label_smoothing=self.label_smoothing)


class KnowledgePreservationLoss(nn.Module):
    """Semantic knowledge preservation loss with class-oriented knowledge (knowledge distillation).

    The student's ImageNet head is trained to reproduce the frozen teacher's ImageNet predictions for the sample's
    class (``target_probs``: the class's row of :func:`zsb.knowledge.compute_class_knowledge`, computed at the same
    temperature). We use the KL divergence

        L = T^2 * mean_{i in S} [ sum_k q_ik * (log q_ik - log softmax(z_i / T)_k) ]

    where z_i are the student's ImageNet logits, q_i the target probabilities (0 log 0 = 0) and S the samples
    whose domain is listed in ``domains``. It equals the soft cross-entropy minus the target's entropy, a constant:
    the gradients are identical, and the logged value is 0 when the student reproduces the knowledge exactly.

    Args:
        temperature: T, the softmax temperature of the student (and, by construction, of the targets); no default
            here: the run's ``kd_temperature`` (:class:`zsb.config.RunConfig`) is the one default.
        domains: the domains whose samples are distilled, a non-empty subset of ("sketch", "photo");
            default both.
        scale_by_t2: multiply by T^2 so gradient magnitudes do not shrink with T (Hinton et al.); default True.
    """

    def __init__(
        self, temperature: float, domains: Sequence[str] = ("sketch", "photo"), scale_by_t2: bool = True
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ConfigError(f"temperature must be positive, got {temperature!r}.")
        self.temperature = float(temperature)
        self.domain_ids = _domain_ids(domains, "domains")
        self.domains = tuple(DOMAIN_NAMES[i] for i in self.domain_ids)
        self.scale_by_t2 = bool(scale_by_t2)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, domains={self.domains}, scale_by_t2={self.scale_by_t2}"

    def forward(self, imagenet_logits: torch.Tensor, target_probs: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        if imagenet_logits.shape != target_probs.shape or domains.shape != imagenet_logits.shape[:1]:
            raise ValueError(
                f"expected imagenet_logits (B, K), target_probs (B, K) and domains (B,); got "
                f"{tuple(imagenet_logits.shape)}, {tuple(target_probs.shape)} and {tuple(domains.shape)}."
            )
        selected = torch.isin(domains, torch.tensor(self.domain_ids, device=domains.device))
        if not bool(selected.any()):
            return _zero_connected_to(imagenet_logits)
        log_probs = F.log_softmax(imagenet_logits[selected] / self.temperature, dim=1)
        targets = target_probs[selected]
        loss = (torch.xlogy(targets, targets) - targets * log_probs).sum(1).mean()
        return loss * self.temperature**2 if self.scale_by_t2 else loss


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
    def from_config(cls, cfg) -> ParadigmLosses:
        """The losses of a run's parameters ``cfg`` (a :class:`zsb.config.RunConfig`)."""
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
