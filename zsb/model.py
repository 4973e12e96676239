"""The ZS-SBIR network: one CNN shared by sketches and photos, with three outputs.

    image -> backbone -> pooled features f -+-> embedding head (Linear) -> e -> z = e / ||e||  (retrieval embedding)
                                            |                              +-> seen-class classifier (on e, or on z)
                                            +-> pretrained ImageNet head -> ImageNet logits

* The **retrieval embedding** z is L2-normalised; the quadruplet loss and retrieval use Euclidean distances on it.
* The **semantic classification** branch classifies the embedding into the seen training classes. By default
  (``classifier="linear"``) it is a Linear layer on the unnormalised embedding e. ``classifier="cosine"`` is the
  alternative: logits = scale * <z, w_c / ||w_c||> on the normalised z, the geometry the metric loss and retrieval
  use. In a heads-only proxy (frozen ImageNet EfficientNet-Lite0 features of sketchy-mini, 100 seen / 25 unseen
  classes, quadruplet + classification loss) both gave similar unseen-class mAP when the cosine scale was large
  (64), while a small scale (16) was clearly worse; the linear classifier is the default because it has no
  scale to tune.
* The **semantic knowledge preservation** branch is the backbone's pretrained ImageNet head on the pooled features;
  training it to reproduce the teacher's class-oriented ImageNet predictions keeps the pretrained knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zsb.backbones import Backbone
from zsb.errors import ConfigError

CLASSIFIERS = ("linear", "cosine")


@dataclass
class ZSBOutput:
    """What :class:`ZSBModel` computes for a batch of B images.

    embedding: (B, embed_dim) L2-normalised retrieval embedding.
    class_logits: (B, num_seen_classes) logits of the seen-class (semantic classification) classifier.
    imagenet_logits: (B, 1000) logits of the pretrained ImageNet head (semantic knowledge preservation).
    """

    embedding: torch.Tensor
    class_logits: torch.Tensor
    imagenet_logits: torch.Tensor


class CosineClassifier(nn.Module):
    """logits = scale * cos(z, w_c): a Linear layer without bias whose input and weight rows are L2-normalised.

    Args:
        in_features: size of the input vectors.
        num_classes: number of classes.
        scale: multiplies the cosines (in [-1, 1]) so that softmax can become confident; default 64.
    """

    def __init__(self, in_features: int, num_classes: int, scale: float = 64.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.normal_(self.weight, std=0.01)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[1]}, num_classes={self.weight.shape[0]}, scale={self.scale}"


class ZSBModel(nn.Module):
    """One CNN for sketches and photos with a retrieval embedding, a seen-class classifier and the ImageNet head.

    Args:
        backbone: a :class:`~zsb.backbones.Backbone` (pretrained on ImageNet for the paper's setting).
        num_seen_classes: number of seen training classes for the semantic classification loss.
        embed_dim: size of the retrieval embedding; default 512. The embedding head is one Linear layer
            (feature_dim -> embed_dim, with bias, no BatchNorm) followed by L2 normalisation.
        classifier: ``"linear"`` (default): Linear layer (with bias) on the unnormalised embedding;
            ``"cosine"``: scaled cosine classifier on the normalised embedding.
        classifier_scale: scale of the cosine classifier's logits (ignored by ``"linear"``); default 64.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_seen_classes: int,
        embed_dim: int = 512,
        classifier: str = "linear",
        classifier_scale: float = 64.0,
    ) -> None:
        super().__init__()
        if classifier not in CLASSIFIERS:
            raise ConfigError(f"unknown classifier {classifier!r}; choose one of {', '.join(CLASSIFIERS)}.")
        if int(num_seen_classes) < 1 or int(embed_dim) < 1:
            raise ConfigError(
                f"num_seen_classes ({num_seen_classes}) and embed_dim ({embed_dim}) must be positive integers."
            )
        if classifier_scale <= 0:
            raise ConfigError(f"classifier_scale must be positive, got {classifier_scale}.")
        self.backbone = backbone
        self.embedding_head = nn.Linear(backbone.feature_dim, embed_dim)
        self.classifier_kind = classifier
        self.classifier = (
            CosineClassifier(embed_dim, num_seen_classes, classifier_scale)
            if classifier == "cosine"
            else nn.Linear(embed_dim, num_seen_classes)
        )
        self.embed_dim = int(embed_dim)
        self.num_seen_classes = int(num_seen_classes)
        self.classifier_scale = float(classifier_scale)

    @property
    def imagenet_head(self) -> nn.Linear:
        """The backbone's pretrained ImageNet classifier (on the pooled features)."""
        return self.backbone.imagenet_head

    def forward(self, x: torch.Tensor) -> ZSBOutput:
        features = self.backbone(x)
        raw_embedding = self.embedding_head(features)
        embedding = F.normalize(raw_embedding, dim=1)
        class_logits = self.classifier(embedding if self.classifier_kind == "cosine" else raw_embedding)
        return ZSBOutput(embedding, class_logits, self.backbone.imagenet_head(features))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, embed_dim) L2-normalised retrieval embedding only (no classifier work)."""
        return F.normalize(self.embedding_head(self.backbone(x)), dim=1)

    def architecture(self) -> dict:
        """What a checkpoint must match to be loaded into this model."""
        return {
            "backbone": self.backbone.name,
            "embed_dim": self.embed_dim,
            "num_seen_classes": self.num_seen_classes,
            "classifier": self.classifier_kind,
            "classifier_scale": self.classifier_scale,
        }

    def parameter_groups(self, backbone_lr: float, head_lr: float) -> list[dict]:
        """Optimizer parameter groups: the pretrained backbone (its ImageNet head included) at ``backbone_lr``,
        the new embedding head and seen-class classifier at ``head_lr``. Each group also carries a ``"name"``.
        Frozen parameters (``requires_grad`` false) are left out."""
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        heads = [p for p in (*self.embedding_head.parameters(), *self.classifier.parameters()) if p.requires_grad]
        return [
            {"name": "backbone", "params": backbone, "lr": backbone_lr},
            {"name": "heads", "params": heads, "lr": head_lr},
        ]
