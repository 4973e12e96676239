"""A PyTorch dataset over manifest rows: RGB images, class labels and domains.

Sketches are stored as grayscale PNGs and photos as RGB JPEGs; both are returned as RGB so that one backbone
reads both domains (paper, Sec. 3: a single network embeds sketches and photos). Transparent pixels (sketches
saved with an alpha channel) are painted white, like the background of the other sketches.

Unreadable images. ``build_manifest`` already leaves out images that do not decode, but a file can still fail
when it is read for training (damaged after the manifest was built, or damage that the cheap check cannot see).
Such a failure never stops an epoch: the item is replaced by the next readable item of the same class and domain
(in manifest order, so runs stay reproducible), a warning names the file, and the item is marked as failed in a
table shared by all DataLoader worker processes, so that it is not decoded again and
:attr:`ImageDataset.num_failed` / :attr:`ImageDataset.failed_paths` report it once. The item keeps its own
index, label and domain. Only when every item of that class and domain fails is it a DataError. The same
replacement happens for evaluation sets; there the affected query or gallery item is a copy of a same-class image,
and :attr:`ImageDataset.num_failed` should be reported with the results.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm import tqdm

from zsb.domains import DOMAIN_NAMES
from zsb.errors import DataError


class ImageDataset(Dataset):
    """Images listed in a manifest frame, as ``(image, label, domain, index)``.

    Args:
        frame: manifest rows (columns path, domain, class_name, label; see ``zsb.data.manifest.COLUMNS``), e.g.
            ``manifest.train()``. Items are numbered by row position.
        transform: callable applied to the RGB PIL image (e.g. ``build_transform(...)``); None returns the PIL image.
        cache_in_memory: keep decoded images in memory after their first use, so that decoding does not bottleneck
            small benchmarks on few CPU cores. Default False. Each DataLoader worker process holds its own copy of
            the cache and fills it as it goes; call :meth:`preload` before creating the DataLoader to decode
            everything once in the main process, which forked workers then share.
        substitute_failed: an image that fails to decode is replaced by the next readable image of the same class
            and domain (training: the batch keeps its shape). With False (evaluation) it is not replaced: its item
            is a white image, it is listed in :attr:`failed_paths` / :meth:`failed_mask`, and the caller drops it,
            so no duplicate of another image ever enters a gallery or the queries.
        cache_size: images in the cache are downscaled (aspect ratio kept, never upscaled) so that their shorter
            side is at most this many pixels, which bounds memory (Sketchy-sized 256x256 images: about 64 kB per
            sketch, 192 kB per photo). Set it at least as large as the training image size. Default 256; None keeps
            full size.

    Attributes:
        labels: (N,) int64 tensor of class labels; domains: (N,) int64 tensor (``zsb.domains.SKETCH`` / ``PHOTO``).
        These are what :class:`zsb.data.sampler.DomainBalancedBatchSampler` needs.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        transform: Callable | None,
        cache_in_memory: bool = False,
        cache_size: int | None = 256,
        substitute_failed: bool = True,
    ):
        unknown = sorted(set(frame["domain"]) - set(DOMAIN_NAMES))
        if unknown:
            raise DataError(f"manifest frame has unknown domain(s) {unknown}; expected {DOMAIN_NAMES}")
        self.paths: list[str] = [str(path) for path in frame["path"]]
        self.class_names: list[str] = [str(name) for name in frame["class_name"]]
        self.labels = torch.tensor(frame["label"].tolist(), dtype=torch.int64)
        self.domains = torch.tensor([DOMAIN_NAMES.index(domain) for domain in frame["domain"]], dtype=torch.int64)
        self.transform = transform
        self.cache_in_memory = cache_in_memory
        self.cache_size = cache_size
        self.substitute_failed = substitute_failed
        self._cache: dict[int, Image.Image] = {}
        self._failed = torch.zeros(len(self.paths), dtype=torch.bool).share_memory_()
        groups: dict[tuple[str, int], list[int]] = defaultdict(list)
        for index, (name, domain) in enumerate(zip(self.class_names, self.domains.tolist())):
            groups[(name, domain)].append(index)
        self._group_of = {index: members for members in groups.values() for index in members}

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_failed(self) -> int:
        """Number of distinct images that failed to decode so far, in this process or any DataLoader worker."""
        return int(self._failed.sum())

    @property
    def failed_paths(self) -> list[str]:
        """The images that failed to decode so far (in any process), to report with the results."""
        return [self.paths[index] for index in self._failed.nonzero().flatten().tolist()]

    def __getitem__(self, item: int | tuple[int, int, bool]):
        """``(image, label, domain, index)`` of item ``index``, or of ``(index, draw_seed, load)`` from
        :class:`zsb.data.sampler.SeededBatches`: the transform's random draws then come from ``draw_seed``
        alone (whatever process runs it), and an item with ``load`` False is not decoded (its image is None)."""
        index, draw_seed, load = item if isinstance(item, tuple) else (item, None, True)
        label, domain = int(self.labels[index]), int(self.domains[index])
        if not load:
            return None, label, domain, index
        image = self._load_or_substitute(index)
        if self.transform is not None and draw_seed is None:
            image = self.transform(image)
        elif self.transform is not None:
            with torch.random.fork_rng(devices=()):
                torch.random.default_generator.manual_seed(draw_seed)
                image = self.transform(image)
        return image, label, domain, index

    def preload(self, progress: bool = True) -> None:
        """Decode every image into the in-memory cache now (in this process), before DataLoader workers start."""
        if not self.cache_in_memory:
            raise DataError("preload() fills the in-memory cache: create the dataset with cache_in_memory=True")
        for index in tqdm(range(len(self)), desc="caching images", ascii=True, disable=not progress):
            self._load_or_substitute(index)

    def failed_mask(self) -> torch.Tensor:
        """(N,) bool: the items whose image failed to decode so far (in any process)."""
        return self._failed.clone()

    def _load_or_substitute(self, index: int) -> Image.Image:
        """The RGB image of ``index``, or of the next readable item of the same class and domain (or, without
        ``substitute_failed``, a white placeholder that the caller drops)."""
        if not self.substitute_failed:
            image = self._load(index)
            return image if image is not None else Image.new("RGB", (self.cache_size or 256,) * 2, "white")
        members = self._group_of[index]
        start = members.index(index)
        for candidate in members[start:] + members[:start]:
            if self._failed[candidate]:
                continue
            image = self._load(candidate)
            if image is not None:
                return image
        domain = DOMAIN_NAMES[int(self.domains[index])]
        raise DataError(
            f"none of the {len(members)} {domain} images of class '{self.class_names[index]}' can be decoded "
            f"(e.g. {self.paths[index]}). Restore the images and rebuild the manifest (the data stage)."
        )

    def _load(self, index: int) -> Image.Image | None:
        """Decode one image as RGB (cached when enabled); None, with a warning, when it cannot be decoded."""
        cached = self._cache.get(index)
        if cached is not None:
            return _to_rgb(cached)
        path = self.paths[index]
        try:
            with Image.open(path) as file:
                if self.cache_in_memory and self.cache_size is not None:
                    file.draft(file.mode, (self.cache_size, self.cache_size))
                image = file.copy() if self.cache_in_memory else _to_rgb(file)
        except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, ... depending on the damage
            self._failed[index] = True
            warnings.warn(
                f"could not decode {path} ({type(error).__name__}: {error}); "
                + ("using another image of the same class and domain instead" if self.substitute_failed
                   else "it is left out of the evaluation and counted"),
                stacklevel=2,
            )
            return None
        if not self.cache_in_memory:
            return image
        image = _shrink(image, self.cache_size)
        self._cache[index] = image
        return _to_rgb(image)


def read_image(path: str | os.PathLike, what: str = "image") -> Image.Image:
    """The image at ``path`` as RGB, transparent pixels white; a DataError when it is missing or not an image."""
    if not Path(path).is_file():
        raise DataError(f"{what} {path} does not exist (or is not a file); pass a PNG or JPEG image.")
    try:
        with Image.open(path) as file:
            return _to_rgb(file)
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, ... depending on the damage
        raise DataError(f"{what} {path} is not an image that can be read ({type(e).__name__}: {e}); pass a PNG or "
                        "JPEG image.") from e


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB copy of an image; transparent pixels (sketch PNGs with an alpha channel) become white, not black."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def _shrink(image: Image.Image, shorter_side: int | None) -> Image.Image:
    """Downscale so that the shorter side is ``shorter_side`` (aspect ratio kept); never upscale."""
    if shorter_side is None or min(image.size) <= shorter_side:
        return image
    scale = shorter_side / min(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)
