"""ImageDataset: RGB tensors with labels and domains, caching, and recovery from images that fail to decode."""

import types

import numpy as np

import pandas as pd
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from zsb.data.datasets import ImageDataset
from zsb.data.manifest import COLUMNS, build_manifest
from zsb.data.sampler import DomainBalancedBatchSampler, SeededBatches, collate_loaded, rank_share
from zsb.data.transforms import build_transform
from zsb.domains import PHOTO, SKETCH
from zsb.errors import DataError

from .trees import truncate, write_image

PREPROCESSING = types.SimpleNamespace(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bilinear")


def frame_of(tmp_path, per_group=3, size=8):
    """Two classes x two domains x ``per_group`` images with distinct grey levels; rows in manifest order."""
    rows = []
    for label, name in enumerate(["cat", "dog"]):
        for domain, suffix in (("sketch", ".png"), ("photo", ".jpg")):
            for index in range(per_group):
                path = write_image(tmp_path / domain / name / f"{index}{suffix}", colour=40 * index + 20, size=size)
                rows.append((str(path), domain, name, True, label))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_items_are_rgb_tensors_with_label_domain_and_index(sketchy_mini_root):
    manifest = build_manifest("sketchy_mini", sketchy_mini_root, max_seen_classes=2, max_unseen_classes=1,
                              max_per_class=2, verify_images=False)
    frame = manifest.train()
    dataset = ImageDataset(frame, build_transform(PREPROCESSING, 32, train=False))
    assert len(dataset) == 2 * 2 * 2
    for index in range(len(dataset)):
        image, label, domain, returned = dataset[index]
        assert image.shape == (3, 32, 32) and image.dtype == torch.float32
        assert label == frame["label"][index] and returned == index
        assert domain == (SKETCH if frame["domain"][index] == "sketch" else PHOTO)
    sketch = dataset[0][0]
    assert frame["domain"][0] == "sketch" and torch.equal(sketch[0], sketch[1])  # grayscale read as RGB
    assert dataset.labels.tolist() == frame["label"].tolist()
    assert dataset.domains.tolist() == [SKETCH if d == "sketch" else PHOTO for d in frame["domain"]]


def test_without_transform_returns_an_rgb_pil_image(tmp_path):
    image, *_ = ImageDataset(frame_of(tmp_path), transform=None)[0]
    assert isinstance(image, Image.Image) and image.mode == "RGB"


def test_truncated_image_is_replaced_by_the_next_of_its_class_and_domain(tmp_path):
    frame = frame_of(tmp_path, size=64)
    broken = 4  # cat's second photo
    assert frame["domain"][broken] == "photo" and frame["class_name"][broken] == "cat"
    truncate(type(tmp_path)(frame["path"][broken]), 0.5)
    dataset = ImageDataset(frame, transform=None)
    with pytest.warns(UserWarning, match="could not decode .*1.jpg"):
        image, label, domain, index = dataset[broken]
    assert (label, domain, index) == (0, PHOTO, broken)
    assert np.array_equal(np.asarray(image), np.asarray(dataset[broken + 1][0]))
    assert dataset.num_failed == 1 and dataset.failed_paths == [frame["path"][broken]]
    dataset[broken]  # a known-bad file is not decoded (nor counted) again
    assert dataset.num_failed == 1


def test_the_last_image_of_a_group_is_replaced_by_the_first(tmp_path):
    frame = frame_of(tmp_path)
    truncate(type(tmp_path)(frame["path"][2]), 0.3)  # cat's last sketch
    dataset = ImageDataset(frame, transform=None)
    with pytest.warns(UserWarning):
        image = dataset[2][0]
    assert np.array_equal(np.asarray(image), np.asarray(dataset[0][0]))


def test_a_group_without_any_readable_image_is_a_data_error(tmp_path):
    frame = frame_of(tmp_path)
    for path in frame["path"][3:6]:  # every cat photo
        truncate(type(tmp_path)(path), 0.3)
    dataset = ImageDataset(frame, transform=None)
    with pytest.warns(UserWarning), pytest.raises(DataError, match="none of the 3 photo images of class 'cat'"):
        dataset[3]
    assert dataset.num_failed == 3
    assert dataset[0][1] == 0  # other groups still load


def test_cache_keeps_downscaled_images(tmp_path):
    frame = frame_of(tmp_path, size=40)
    dataset = ImageDataset(frame, transform=None, cache_in_memory=True, cache_size=16)
    dataset.preload(progress=False)
    assert len(dataset._cache) == len(frame)
    assert all(min(image.size) == 16 for image in dataset._cache.values())
    assert dataset._cache[0].mode == "L"  # sketches are cached as grayscale and converted on the way out
    for path in frame["path"]:
        type(tmp_path)(path).unlink()  # served from memory from now on
    image = dataset[0][0]
    assert image.mode == "RGB" and image.size == (16, 16)
    assert dataset.num_failed == 0


def test_preload_needs_the_cache(tmp_path):
    with pytest.raises(DataError, match="cache_in_memory=True"):
        ImageDataset(frame_of(tmp_path), transform=None).preload(progress=False)


def test_unknown_domain_is_a_data_error(tmp_path):
    frame = frame_of(tmp_path)
    frame.loc[0, "domain"] = "painting"
    with pytest.raises(DataError, match="painting"):
        ImageDataset(frame, transform=None)


@pytest.mark.parametrize("cache", [False, True])
def test_dataloader_workers_with_balanced_batches_and_a_broken_file(tmp_path, cache):
    frame = frame_of(tmp_path)
    truncate(type(tmp_path)(frame["path"][7]), 0.3)  # a dog sketch
    dataset = ImageDataset(frame, build_transform(PREPROCESSING, 16, train=True), cache_in_memory=cache)
    if cache:
        with pytest.warns(UserWarning):
            dataset.preload(progress=False)
        assert dataset.num_failed == 1
    sampler = DomainBalancedBatchSampler(dataset.labels, dataset.domains, 2, 3, batches_per_epoch=2)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=2)
    batches = list(loader)
    assert len(batches) == 2
    for images, labels, domains, indices in batches:
        assert images.shape == (12, 3, 16, 16)
        assert labels.tolist() == dataset.labels[indices].tolist()
        assert domains.tolist() == dataset.domains[indices].tolist()
    # counted once, whether found in the main process (preload) or by several workers
    assert dataset.failed_paths == [frame["path"][7]]


@pytest.mark.parametrize("cache", [False, True])
def test_transparent_sketch_background_becomes_white(tmp_path, cache):
    path = tmp_path / "sketch.png"
    image = Image.new("LA", (8, 8), (0, 0))  # fully transparent black
    image.putpixel((2, 3), (0, 255))  # one opaque black stroke pixel
    image.save(path)
    frame = pd.DataFrame([(str(path), "sketch", "cat", True, 0)], columns=list(COLUMNS))
    rgb = np.asarray(ImageDataset(frame, transform=None, cache_in_memory=cache)[0][0])
    assert rgb.shape == (8, 8, 3)
    assert (rgb[3, 2] == 0).all() and (rgb[0, 0] == 255).all()


def seeded_loader(dataset, num_workers, epoch=1, rank=0, world_size=1):
    sampler = DomainBalancedBatchSampler(dataset.labels, dataset.domains, 2, 3, seed=5, batches_per_epoch=2)
    batches = SeededBatches(sampler, rank, world_size)
    batches.set_epoch(epoch)
    return list(DataLoader(dataset, batch_sampler=batches, collate_fn=collate_loaded, num_workers=num_workers))


def test_augmentation_draws_do_not_depend_on_the_number_of_workers(tmp_path):
    """num_workers is an execution setting: the crops and flips of an epoch are the same with 0 or 2 workers
    (each worker has its own RNG stream; the seeds come with the items), and another epoch draws others."""
    dataset = ImageDataset(frame_of(tmp_path, size=24), build_transform(PREPROCESSING, 16, train=True,
                                                                        crop_scale=(0.2, 1.0)))
    in_process, with_workers = seeded_loader(dataset, 0), seeded_loader(dataset, 2)
    for (a, *rest_a), (b, *rest_b) in zip(in_process, with_workers):
        assert torch.equal(a, b)
        assert all(torch.equal(x, y) for x, y in zip(rest_a, rest_b))
    other_epoch = seeded_loader(dataset, 0, epoch=2)
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(in_process, other_epoch))
    torch.manual_seed(123)  # the global RNG plays no part
    assert all(torch.equal(a[0], b[0]) for a, b in zip(in_process, seeded_loader(dataset, 0)))


def test_each_process_loads_only_its_share_with_the_single_process_draws(tmp_path):
    dataset = ImageDataset(frame_of(tmp_path, size=24), build_transform(PREPROCESSING, 16, train=True))
    whole = seeded_loader(dataset, 0)
    shares = [seeded_loader(dataset, 0, rank=r, world_size=2) for r in range(2)]
    for step, (images, labels, domains, indices) in enumerate(whole):
        covered = []
        for rank, batches in enumerate(shares):
            share_images, share_labels, share_domains, share_indices = batches[step]
            positions = rank_share(domains.tolist(), rank, 2)
            assert torch.equal(share_images, images[positions])  # decoded and augmented as in one process
            assert torch.equal(share_labels, labels) and torch.equal(share_domains, domains)  # the whole batch's
            assert torch.equal(share_indices, indices)
            covered += positions
        assert sorted(covered) == list(range(len(labels)))
