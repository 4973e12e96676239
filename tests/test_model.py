"""ZSBModel: one CNN, three outputs, trainable end to end."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zsb.backbones import Backbone, Preprocessing, build_backbone
from zsb.errors import ConfigError
from zsb.model import ZSBModel, ZSBOutput

IMAGES = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def tiny_backbone():
    """A small CNN with the Backbone interface (conv, BatchNorm, pooling; 1000-way head), fast on CPU."""
    trunk = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Backbone("tiny", trunk, nn.Linear(8, 1000), None, Preprocessing((0.5,) * 3, (0.5,) * 3, "bilinear"))


@pytest.fixture(params=["cosine", "linear"])
def model(request):
    torch.manual_seed(0)
    return ZSBModel(tiny_backbone(), num_seen_classes=7, embed_dim=16, classifier=request.param)


def test_efficientnet_model_outputs():
    model = ZSBModel(build_backbone("efficientnet_lite0", None), num_seen_classes=7).eval()
    with torch.no_grad():
        output = model(IMAGES)
    assert (output.embedding.shape, output.class_logits.shape, output.imagenet_logits.shape) == (
        (3, 512), (3, 7), (3, 1000))
    assert model.architecture()["backbone"] == "efficientnet_lite0"


def test_outputs_have_the_documented_shapes_and_normalisation(model):
    output = model.eval()(IMAGES)
    assert isinstance(output, ZSBOutput)
    assert output.embedding.shape == (3, 16)
    assert output.class_logits.shape == (3, 7)
    assert output.imagenet_logits.shape == (3, 1000)
    assert torch.allclose(output.embedding.norm(dim=1), torch.ones(3), atol=1e-6)


def test_embed_is_the_forward_embedding(model):
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model.embed(IMAGES), model(IMAGES).embedding, atol=1e-6)


def test_imagenet_logits_are_the_backbones_pretrained_head_on_pooled_features(model):
    model.eval()
    with torch.no_grad():
        expected = model.backbone.imagenet_head(model.backbone(IMAGES))
        assert torch.allclose(model(IMAGES).imagenet_logits, expected, atol=1e-6)
    assert model.imagenet_head is model.backbone.imagenet_head


def test_cosine_classifier_is_scaled_cosine_similarity():
    torch.manual_seed(0)
    model = ZSBModel(tiny_backbone(), 5, embed_dim=8, classifier="cosine", classifier_scale=10.0).eval()
    with torch.no_grad():
        output = model(IMAGES)
        cosines = output.embedding @ F.normalize(model.classifier.weight, dim=1).T
    assert torch.allclose(output.class_logits, 10.0 * cosines, atol=1e-5)
    assert output.class_logits.abs().max() <= 10.0 + 1e-5


def test_gradients_reach_the_backbone_from_every_output(model):
    model.train()
    for name in ("embedding", "class_logits", "imagenet_logits"):
        model.zero_grad()
        output = model(IMAGES)
        getattr(output, name)[:, 0].sum().backward()
        stem_grad = model.backbone.trunk[0].weight.grad
        assert stem_grad is not None and torch.isfinite(stem_grad).all() and stem_grad.abs().sum() > 0, name


def test_parameter_groups_cover_every_parameter_once_with_their_learning_rates(model):
    groups = model.parameter_groups(backbone_lr=1e-4, head_lr=1e-3)
    assert [(g["name"], g["lr"]) for g in groups] == [("backbone", 1e-4), ("heads", 1e-3)]
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    backbone_ids = {id(p) for p in groups[0]["params"]}
    assert id(model.imagenet_head.weight) in backbone_ids and id(model.embedding_head.weight) not in backbone_ids
    torch.optim.SGD(groups, lr=0.1)  # accepted by an optimizer as is


def test_architecture_describes_the_model(model):
    assert model.architecture() == {
        "backbone": "tiny",
        "embed_dim": 16,
        "num_seen_classes": 7,
        "classifier": model.classifier_kind,
        "classifier_scale": 64.0,
    }


def test_bad_arguments_are_config_errors():
    backbone = tiny_backbone()
    with pytest.raises(ConfigError, match="linear, cosine"):
        ZSBModel(backbone, 5, classifier="arcface")
    with pytest.raises(ConfigError, match="num_seen_classes"):
        ZSBModel(backbone, 0)
    with pytest.raises(ConfigError, match="classifier_scale"):
        ZSBModel(backbone, 5, classifier_scale=0.0)
