"""Image preprocessing: training augmentation and deterministic evaluation resizing, normalised per backbone.

Each pretrained backbone expects its own input statistics and resampling filter (``Backbone.preprocessing``: its
mean, std and interpolation); using the wrong ones silently lowers accuracy, so transforms are always built from
them.
"""

from __future__ import annotations

from typing import Any

from torchvision import transforms as T

from zsb.errors import ConfigError

_INTERPOLATIONS = {"bicubic": T.InterpolationMode.BICUBIC, "bilinear": T.InterpolationMode.BILINEAR}


def build_transform(
    preprocessing: Any,
    image_size: int,
    train: bool,
    *,
    crop_scale: tuple[float, float] = (0.6, 1.0),
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
    hflip: bool = True,
) -> T.Compose:
    """The transform from an RGB PIL image to a normalised (3, image_size, image_size) float tensor.

    Args:
        preprocessing: any object with ``mean`` and ``std`` (3 floats each) and ``interpolation`` ("bicubic" or
            "bilinear") attributes, e.g. a ``zsb.backbones.Backbone``.
        image_size: output height and width in pixels.
        train: True for training augmentation, False for the deterministic evaluation transform (resize the whole
            image to image_size x image_size, no crop, so no part of a sketch is cut off).
        crop_scale: training only: range of the area fraction of the image kept by the random resized crop.
            Default (0.6, 1.0): mild crops, since sketches are sparse and a small crop may lose the object.
        crop_ratio: training only: range of the crop's aspect ratio. Default (3/4, 4/3), torchvision's.
        hflip: training only: flip horizontally with probability 0.5. Default True.

    Random choices use torch's RNG: seed it (and the DataLoader's generator) for reproducible augmentation.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ConfigError(f"image_size must be a positive integer, got {image_size!r}")
    if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
        raise ConfigError(f"crop_scale must satisfy 0 < low <= high <= 1, got {crop_scale!r}")
    if not 0 < crop_ratio[0] <= crop_ratio[1]:
        raise ConfigError(f"crop_ratio must satisfy 0 < low <= high, got {crop_ratio!r}")
    interpolation = _INTERPOLATIONS.get(getattr(preprocessing, "interpolation", None))
    if interpolation is None:
        raise ConfigError(
            f"preprocessing.interpolation must be one of {', '.join(_INTERPOLATIONS)}, "
            f"got {getattr(preprocessing, 'interpolation', None)!r}"
        )
    if train:
        steps = [T.RandomResizedCrop(image_size, scale=crop_scale, ratio=crop_ratio, interpolation=interpolation)]
        if hflip:
            steps.append(T.RandomHorizontalFlip())
    else:
        steps = [T.Resize((image_size, image_size), interpolation=interpolation)]
    normalize = T.Normalize(mean=list(preprocessing.mean), std=list(preprocessing.std))
    return T.Compose([*steps, T.ToTensor(), normalize])
