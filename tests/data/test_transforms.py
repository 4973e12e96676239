"""build_transform: per-backbone normalisation and interpolation, deterministic evaluation, training augmentation."""

import types

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from zsb.data.transforms import build_transform
from zsb.errors import ConfigError

IMAGENET = types.SimpleNamespace(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), interpolation="bicubic")
HALF = types.SimpleNamespace(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bilinear")


def gradient_image(width=40, height=30):
    x = np.linspace(0, 255, width, dtype=np.uint8)
    return Image.fromarray(np.stack([np.tile(x, (height, 1))] * 3, axis=-1), "RGB")


def test_eval_normalises_with_the_backbone_statistics():
    image = Image.new("RGB", (50, 20), (255, 128, 0))
    tensor = build_transform(IMAGENET, 24, train=False)(image)
    assert tensor.shape == (3, 24, 24)
    expected = [(v / 255 - m) / s for v, m, s in zip((255, 128, 0), IMAGENET.mean, IMAGENET.std)]
    assert torch.allclose(tensor.mean(dim=(1, 2)), torch.tensor(expected), atol=1e-5)


def test_eval_resizes_the_whole_image_without_cropping_and_is_deterministic():
    transform = build_transform(HALF, 16, train=False)
    image = gradient_image()
    first, second = transform(image), transform(image)
    assert torch.equal(first, second)
    # the full left-to-right ramp survives: no crop cut off the dark or bright end
    assert first[0, :, 0].mean() < -0.85 and first[0, :, -1].mean() > 0.85


@pytest.mark.parametrize("preprocessing, mode", [
    (IMAGENET, T.InterpolationMode.BICUBIC), (HALF, T.InterpolationMode.BILINEAR),
])
@pytest.mark.parametrize("train", [False, True])
def test_interpolation_follows_the_backbone(preprocessing, mode, train):
    first = build_transform(preprocessing, 16, train=train).transforms[0]
    assert first.interpolation == mode


def test_training_crop_and_flip_parameters():
    transform = build_transform(HALF, 16, train=True, crop_scale=(0.3, 0.9), crop_ratio=(0.5, 2.0))
    crop = transform.transforms[0]
    assert isinstance(crop, T.RandomResizedCrop) and crop.scale == (0.3, 0.9) and crop.ratio == (0.5, 2.0)
    assert any(isinstance(step, T.RandomHorizontalFlip) for step in transform.transforms)
    no_flip = build_transform(HALF, 16, train=True, hflip=False)
    assert not any(isinstance(step, T.RandomHorizontalFlip) for step in no_flip.transforms)
    assert build_transform(HALF, 16, train=True).transforms[0].scale == (0.6, 1.0)


def test_training_augmentation_varies_and_is_reproducible_with_a_seed():
    transform = build_transform(HALF, 16, train=True)
    image = gradient_image()
    torch.manual_seed(0)
    draws = [transform(image) for _ in range(4)]
    assert all(d.shape == (3, 16, 16) for d in draws)
    assert any(not torch.equal(draws[0], d) for d in draws[1:])
    torch.manual_seed(0)
    assert all(torch.equal(a, transform(image)) for a in draws)


def test_a_flipped_ramp_runs_the_other_way():
    transform = build_transform(HALF, 16, train=True, crop_scale=(1.0, 1.0), crop_ratio=(40 / 30, 40 / 30))
    image = gradient_image()
    torch.manual_seed(0)
    slopes = {bool(t[0, 0, -1] > t[0, 0, 0]) for t in (transform(image) for _ in range(20))}
    assert slopes == {True, False}


@pytest.mark.parametrize("kwargs, match", [
    ({"image_size": 0}, "image_size"),
    ({"image_size": 8.0}, "image_size"),
    ({"crop_scale": (0.0, 1.0)}, "crop_scale"),
    ({"crop_scale": (0.9, 0.5)}, "crop_scale"),
    ({"crop_ratio": (2.0, 1.0)}, "crop_ratio"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_transform(HALF, **{"image_size": 16, "train": True, **kwargs})


def test_unknown_interpolation():
    with pytest.raises(ConfigError, match="bicubic, bilinear"):
        build_transform(types.SimpleNamespace(mean=HALF.mean, std=HALF.std, interpolation="nearest"), 16, False)
