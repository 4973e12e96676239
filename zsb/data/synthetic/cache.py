"""Generation of the synthetic benchmark's image tree into its cache folder, atomically and once."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from PIL import Image

from zsb.data.synthetic.render import RENDERERS
from zsb.data.synthetic.shapes import SYNTHETIC_CLASSES, SYNTHETIC_UNSEEN
from zsb.domains import DOMAIN_NAMES, PHOTO, SKETCH
from zsb.errors import ConfigError, DataError
from zsb.io import atomic_write_json, default_cache_dir

FORMAT_VERSION = 1
"""Bump whenever a change to the drawing code changes any generated pixel: it names the cache folder."""

METADATA_FILE = "synthetic.json"
IMAGE_SUFFIX = {SKETCH: ".png", PHOTO: ".jpg"}


def image_rng(seed: int, class_name: str, domain: int, index: int) -> np.random.Generator:
    """The random generator of one image, a pure function of (seed, class, domain, index)."""
    return np.random.default_rng([seed, zlib.crc32(class_name.encode()), domain, index])


def _encode(image: Image.Image, domain: int) -> bytes:
    """File bytes: sketches as PNG; photos (already JPEG-degraded by :func:`render_photo`) as JPEG of quality 95."""
    buffer = io.BytesIO()
    if domain == PHOTO:
        image.save(buffer, format="JPEG", quality=95)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def _generate_images(root: str, seed: int, class_name: str, domain: int, num: int, image_size: int) -> int:
    """Write the ``num`` images of one (class, domain) folder; returns how many were written."""
    folder = Path(root) / DOMAIN_NAMES[domain] / class_name
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(num):
        image = RENDERERS[domain](class_name, image_rng(seed, class_name, domain, index), image_size)
        (folder / f"{index:04d}{IMAGE_SUFFIX[domain]}").write_bytes(_encode(image, domain))
    return num


def _parameters(seed: int, num_per_domain: int, image_size: int) -> dict:
    return {"format_version": FORMAT_VERSION, "seed": seed, "num_per_domain": num_per_domain,
            "image_size": image_size}


def synthetic_root(cache_dir: str | os.PathLike | None = None, seed: int = 0, num_per_domain: int = 40,
                   image_size: int = 128) -> Path:
    """The folder that holds (or will hold) the tree generated with these parameters."""
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / f"synthetic-v{FORMAT_VERSION}-seed{seed}-n{num_per_domain}-{image_size}px"


def is_complete(root: str | os.PathLike, seed: int = 0, num_per_domain: int = 40, image_size: int = 128) -> bool:
    """True if ``root`` holds a finished generation with these parameters: its metadata file (written last) matches
    and every class folder holds the expected number of images."""
    root = Path(root)
    try:
        metadata = json.loads((root / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return False
    if metadata.get("parameters") != _parameters(seed, num_per_domain, image_size):
        return False
    for domain, domain_name in enumerate(DOMAIN_NAMES):
        for class_name in SYNTHETIC_CLASSES:
            folder = root / domain_name / class_name
            if not folder.is_dir():
                return False
            if sum(1 for f in folder.iterdir() if f.suffix == IMAGE_SUFFIX[domain]) != num_per_domain:
                return False
    return True


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"synthetic benchmark: {name} must be an integer >= {minimum}, got {value!r}")


def ensure_synthetic(cache_dir: str | os.PathLike | None = None, seed: int = 0, num_per_domain: int = 40,
                     image_size: int = 128, progress: bool = True, workers: int | None = None) -> Path:
    """Generate the synthetic benchmark once and return the root of its tree (see :mod:`zsb.data.synthetic`).

    cache_dir: parent folder of the tree; default $ZSB_CACHE, else ~/.cache/zsb. The tree lands in a subfolder named
        by the parameters and :data:`FORMAT_VERSION`, e.g. ``synthetic-v1-seed0-n40-128px``.
    seed: base random seed (default 0); image ``i`` of a class and domain uses :func:`image_rng`.
    num_per_domain: sketches and photos per class (default 40).
    image_size: side of the square images in pixels (default 128).
    progress: show a progress bar while generating.
    workers: processes sharing the work (default: all CPU cores; 1 generates in this process). The output does not
        depend on it.

    A complete tree (:func:`is_complete`) is reused as it is. Otherwise the images are written into a temporary
    sibling folder that is renamed into place only once all of them and the metadata file exist, so an interrupted
    run never leaves a tree that looks complete; an incomplete folder found at the target path is replaced.
    """
    _check_int("seed", seed, 0)
    _check_int("num_per_domain", num_per_domain, 1)
    _check_int("image_size", image_size, 16)
    if workers is not None:
        _check_int("workers", workers, 1)
    root = synthetic_root(cache_dir, seed, num_per_domain, image_size)
    if is_complete(root, seed, num_per_domain, image_size):
        return root
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    except OSError as e:
        raise DataError(
            f"cannot create the synthetic benchmark cache in {root.parent}: {e.strerror or e}. "
            "Set $ZSB_CACHE (or pass cache_dir) to a writable folder."
        ) from e
    try:
        start = time.perf_counter()
        _generate_into(staging, seed, num_per_domain, image_size, progress, workers)
        metadata = {
            "parameters": _parameters(seed, num_per_domain, image_size),
            "classes": list(SYNTHETIC_CLASSES),
            "unseen_classes": list(SYNTHETIC_UNSEEN),
            "layout": {DOMAIN_NAMES[d]: f"{DOMAIN_NAMES[d]}/<class>/<index>{IMAGE_SUFFIX[d]}" for d in IMAGE_SUFFIX},
            "generation_seconds": round(time.perf_counter() - start, 2),
        }
        atomic_write_json(staging / METADATA_FILE, metadata)
        if root.exists():
            if is_complete(root, seed, num_per_domain, image_size):  # another process finished first
                return root
            warnings.warn(f"replacing the incomplete synthetic benchmark folder {root}", stacklevel=2)
            shutil.rmtree(root)
        os.rename(staging, root)
    except OSError as e:
        if is_complete(root, seed, num_per_domain, image_size):  # lost a rename race to another process
            return root
        raise DataError(
            f"generating the synthetic benchmark into {root.parent} failed: {e.strerror or e}. "
            "Free some disk space or set $ZSB_CACHE to a writable folder, then run again."
        ) from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _generate_into(staging: Path, seed: int, num: int, image_size: int, progress: bool, workers: int | None) -> None:
    from tqdm.auto import tqdm

    jobs = [(str(staging), seed, c, d, num, image_size) for d in (SKETCH, PHOTO) for c in SYNTHETIC_CLASSES]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    with tqdm(total=len(jobs) * num, desc="synthetic benchmark", unit="img", ascii=True, disable=not progress) as bar:
        if workers == 1:
            for job in jobs:
                bar.update(_generate_images(*job))
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for future in as_completed([pool.submit(_generate_images, *job) for job in jobs]):
                bar.update(future.result())
