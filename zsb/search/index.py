"""The gallery and its index: the photos of a folder (or of the model's own benchmark) embedded once and kept in an
index file that a later search updates with the photos added or changed since."""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from zsb.errors import ConfigError, DataError, WeightsError
from zsb.io import atomic_torch_save, safe_torch_load
from zsb.log import get_logger
from zsb.search.searcher import Searcher

logger = get_logger(__name__)

BENCHMARK = "benchmark"
"""The ``gallery`` that names the run's own evaluation gallery (a folder called so: ``./benchmark``)."""
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
INDEX_FORMAT = "zsb-search-index/1"
CHUNK = 64
"""Photos embedded between two chances to save the index's progress (a few seconds of work on a CPU)."""
SAVE_INTERVAL_S = 20.0
"""An indexing run saves its progress at most this often (seconds): an interruption loses about this much work."""


@dataclass
class GalleryIndex:
    """A gallery ready to search: its readable photos in gallery order and their (N, dim) fp16 unit embeddings;
    the files left out; the index file; and how many photos this call embedded, reused and dropped."""

    paths: list[str]
    embeddings: torch.Tensor
    unreadable: list[str]
    file: Path
    embedded: int
    reused: int
    removed: int


@dataclass(frozen=True)
class _Photo:
    key: str  # what the index knows it by: its path relative to the gallery folder (benchmark: the manifest's)
    path: str  # where it is read, as shown in results
    size: int
    mtime_ns: int


def is_benchmark(gallery: str | os.PathLike) -> bool:
    """Whether ``gallery`` names the model's own evaluation gallery; a ConfigError while a folder of that name lies
    in the working directory (which one was meant cannot be told)."""
    if not (isinstance(gallery, str) and gallery == BENCHMARK):
        return False
    if Path(BENCHMARK).is_dir():
        raise ConfigError(f"'{BENCHMARK}' names both the model's own test gallery and the folder ./{BENCHMARK} here: "
                          f"pass ./{BENCHMARK} to search that folder, or run the search from another folder to "
                          "search the test gallery.")
    return True


def default_index_path(searcher: Searcher, gallery: str | os.PathLike) -> Path:
    """Where the index of ``gallery`` lives when none is named: ``<run_dir>/search/index-<key>.pt``."""
    home = searcher.run.dir / "search" if searcher.run is not None else searcher.index_home
    if home is None:
        raise ConfigError("this searcher has no run folder to keep its index in; name an index file.")
    key = BENCHMARK if is_benchmark(gallery) else hashlib.sha256(str(Path(gallery).resolve()).encode()).hexdigest()[:16]
    return home / f"index-{key}.pt"


def index_gallery(searcher: Searcher, gallery: str | os.PathLike, index: str | os.PathLike | None = None,
                  exclude: Sequence[str | os.PathLike] = ()) -> GalleryIndex:
    """Embed the photos of ``gallery`` (a folder, or ``"benchmark"``) that its index (``index``, default
    :func:`default_index_path`) lacks or holds in an older version, update the index, and return the gallery.
    Folders in ``exclude`` (where results are written) are no part of a gallery folder."""
    photos, missing = _gallery_photos(searcher, gallery, exclude)
    path = Path(index) if index is not None else default_index_path(searcher, gallery)
    stored = _read_index(path, searcher, strict=index is not None)
    position = {key: i for i, key in enumerate(stored["keys"])} if stored else {}
    versions = list(zip(stored["sizes"].tolist(), stored["mtimes"].tolist())) if stored else []
    reused, todo = [], []
    for photo in photos:
        i = position.get(photo.key)
        (reused if i is not None and versions[i] == (photo.size, photo.mtime_ns) else todo).append(photo)
    removed = len(set(position) - {photo.key for photo in photos})
    table = _Table(stored, [position[photo.key] for photo in reused])
    if stored is None or todo or removed:
        last_save = time.monotonic()
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            embedded, failed = searcher.embed([photo.path for photo in chunk],
                                              desc=f"photos {start + 1}-{start + len(chunk)} of {len(todo)}")
            table.add(chunk, embedded, ~failed)
            if start + CHUNK < len(todo) and time.monotonic() - last_save >= SAVE_INTERVAL_S:
                table.save(path, searcher.identity)
                last_save = time.monotonic()
        table.save(path, searcher.identity)
    logger.info("gallery %s: %d photos; %d embedded, %d reused, %d dropped (index %s)",
                _describe(searcher, gallery), len(photos), len(todo), len(reused), removed, path)

    rows = {key: i for i, key in enumerate(table.keys)}
    order = torch.tensor([rows[photo.key] for photo in photos], dtype=torch.long)
    ok = torch.cat(table.ok)[order]
    unreadable = missing + [photo.path for photo, good in zip(photos, ok.tolist()) if not good]
    if unreadable:
        named = ", ".join(unreadable[:20]) + (f" and {len(unreadable) - 20} more" if len(unreadable) > 20 else "")
        warnings.warn(f"{len(unreadable)} gallery file(s) could not be read and are left out of the search: {named}",
                      stacklevel=2)
    if not ok.any():
        raise DataError(f"the gallery {_describe(searcher, gallery)} has no readable photo; add .jpg, .jpeg or .png "
                        "photos.")
    return GalleryIndex(
        paths=[photo.path for photo, good in zip(photos, ok.tolist()) if good],
        embeddings=torch.cat(table.embeddings)[order[ok]],
        unreadable=unreadable, file=path, embedded=len(todo), reused=len(reused), removed=removed,
    )


def _describe(searcher: Searcher, gallery: str | os.PathLike) -> str:
    if not is_benchmark(gallery):
        return str(gallery)
    return f"of run {searcher.run.dir}" if searcher.run is not None else f"of {searcher.manifest.benchmark}"


def _gallery_photos(searcher: Searcher, gallery: str | os.PathLike,
                    exclude: Sequence[str | os.PathLike]) -> tuple[list[_Photo], list[str]]:
    """The gallery's photos in gallery order, and its files that are gone (a benchmark photo deleted since)."""
    if is_benchmark(gallery):
        named = [(path, path) for path in searcher.manifest.gallery()["path"]]
    else:
        root = Path(gallery)
        if not root.is_dir():
            raise DataError(f"gallery folder {root} does not exist (or is not a folder); pass a folder of photos, "
                            f"or {BENCHMARK} for the run's own test gallery.")
        real = root.resolve()
        skipped = tuple(f"{folder.relative_to(real).as_posix()}/" for folder in map(Path.resolve, map(Path, exclude))
                        if folder.is_relative_to(real))
        found = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*")
                       if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        named = [(key, str(path)) for key, path in found if not key.startswith(skipped)]
    photos, missing = [], []
    for key, path in named:
        try:
            stat = os.stat(path)
        except OSError:
            missing.append(path)
            continue
        photos.append(_Photo(key, path, stat.st_size, stat.st_mtime_ns))
    if not photos:
        raise DataError(f"the gallery {_describe(searcher, gallery)} holds no .jpg, .jpeg or .png photo.")
    return photos, missing


def _read_index(path: Path, searcher: Searcher, strict: bool) -> dict | None:
    """The index stored at ``path`` when it was made by this model; None when there is none to reuse (rebuilt,
    with a log line) or, with ``strict``, a WeightsError for a file that is another model's or no index."""
    if not path.exists():
        return None
    try:
        stored = safe_torch_load(path, what="search index")
    except WeightsError:
        stored = None
    if not (isinstance(stored, dict) and stored.get("format") == INDEX_FORMAT):
        if strict:
            raise WeightsError(f"{path} is not a zsb search index; name a new file, or delete this one.")
        logger.warning("rebuilding the search index %s: it is not a readable zsb search index", path)
        return None
    if stored["model"] != searcher.identity:
        where = f" than {searcher.run.dir}'s" if searcher.run is not None else ""
        if strict:
            raise WeightsError(f"the search index {path} was made by another model{where}; name another index file, "
                               "or delete this one to rebuild it.")
        logger.warning("rebuilding the search index %s: it was made by another model (retrained since?)", path)
        return None
    return stored


class _Table:
    """The index's rows as they are built: the stored rows kept, then each newly embedded chunk."""

    def __init__(self, stored: dict | None, kept: list[int]):
        self.keys: list[str] = [stored["keys"][i] for i in kept] if stored else []
        rows = torch.tensor(kept, dtype=torch.long)
        self.sizes = [stored["sizes"][rows]] if stored else []
        self.mtimes = [stored["mtimes"][rows]] if stored else []
        self.ok = [stored["ok"][rows]] if stored else []
        self.embeddings = [stored["embeddings"][rows]] if stored else []

    def add(self, photos: list[_Photo], embedded: torch.Tensor, ok: torch.Tensor) -> None:
        self.keys += [photo.key for photo in photos]
        self.sizes.append(torch.tensor([photo.size for photo in photos], dtype=torch.long))
        self.mtimes.append(torch.tensor([photo.mtime_ns for photo in photos], dtype=torch.long))
        self.ok.append(ok)
        self.embeddings.append(embedded.half())

    def save(self, path: Path, identity: str) -> None:
        atomic_torch_save({"format": INDEX_FORMAT, "model": identity, "keys": self.keys,
                           "sizes": torch.cat(self.sizes), "mtimes": torch.cat(self.mtimes),
                           "ok": torch.cat(self.ok), "embeddings": torch.cat(self.embeddings)}, path)
