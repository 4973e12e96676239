"""Reading each benchmark release's folder layout from disk.

Every release stores one folder per class for each domain (sketches; photos, the retrieval gallery), but the
releases differ in where those two folders live, how class folders are spelled and which image formats they
hold. A :class:`Layout` names the two domain folders of one release; :func:`find_layout` picks the layout that a
user's data root actually has, and the helpers below list class folders and image files and check that an image
decodes (:func:`inspect_images` checks many, in worker processes: at QuickDraw Extended's 534,000 files the check
is most of the time a manifest takes).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from zsb.errors import ConfigError, DataError
from zsb.io import usable_cpus

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
"""File extensions read as images, matched case-insensitively (TU-Berlin Extended mixes ``.jpg`` and ``.JPEG``)."""

_JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})


@dataclass(frozen=True)
class Layout:
    """Where one release keeps its two domain folders, each holding one sub-folder per class.

    Attributes:
        name: short name of the release layout (``"sempcyc"``, ``"sake"``, ...), used in messages and manifests.
        description: which release uses it.
        sketch_dir: the sketch folder, relative to the release's top folder (posix separators).
        photo_dir: the photo (gallery) folder, relative to the release's top folder.
        container: the release's top folder name (``"Sketchy"``, ``"TU-Berlin"``, ``"QuickDraw"``), or None when the
            data root itself is the top folder. The data root may be either the folder that contains ``container``
            or the ``container`` folder itself.
        extra_photo_dir: a second photo folder of per-class sub-folders whose images join the photo folder's (the
            gallery of the unseen classes, the training photos of the seen ones), or None. SAKE's Sketchy lists read
            both ``256x256/photo/tx_000000000000_ready`` (the 12,500 original Sketchy photos) and
            ``EXTEND_image_sketchy_ready`` (the 73,002 extended photos) and keep both copies of a photo that is in
            both folders: its ``zeroshot1`` gallery is 2,500 + 14,601 = 17,101 photos.
        gallery: the name of the photo set this layout's gallery is drawn from, as results and published rows
            (``zsb/report/literature.csv``, column ``gallery``) name it; empty: ``"<name>: <photo_dir>"``. Two
            layouts holding the same photos under other folder names share one name.
    """

    name: str
    description: str
    sketch_dir: str
    photo_dir: str
    container: str | None = None
    extra_photo_dir: str | None = None
    gallery: str = ""

    def gallery_name(self) -> str:
        """The gallery's name (:attr:`gallery`, or ``"<name>: <photo_dir>"``)."""
        return self.gallery or f"{self.name}: {self.photo_dir}"

    def top_folders(self, root: Path) -> list[Path]:
        """The folders that may be this release's top folder for a given data root, most specific first."""
        return [root / self.container, root] if self.container else [root]

    def locate(self, root: Path) -> tuple[Path, Path] | None:
        """The (sketch folder, photo folder) under ``root`` if both exist, else None."""
        for top in self.top_folders(root):
            sketch, photo = top / self.sketch_dir, top / self.photo_dir
            if sketch.is_dir() and photo.is_dir():
                return sketch, photo
        return None

    def extra_photo_folder(self, sketch_folder: Path) -> Path | None:
        """The located release's :attr:`extra_photo_dir` (given its sketch folder), or None; DataError when the
        layout needs one and it is missing."""
        if self.extra_photo_dir is None:
            return None
        top = sketch_folder
        for _ in Path(self.sketch_dir).parts:
            top = top.parent
        folder = top / self.extra_photo_dir
        if not folder.is_dir():
            raise DataError(
                f"the {self.description} at {top} has no {self.extra_photo_dir} folder: its photos are read from "
                f"both {self.photo_dir} and {self.extra_photo_dir} (as the release's own file lists do). Restore "
                "that folder from the release."
            )
        return folder

    def expected(self) -> str:
        """Human-readable sub-paths, for error messages."""
        prefix = f"[{self.container}/]" if self.container else ""
        return (
            f"layout '{self.name}' ({self.description}): {prefix}{self.sketch_dir}/<class>/ and "
            f"{prefix}{self.photo_dir}/<class>/"
        )


def describe_layouts(layouts: tuple[Layout, ...]) -> str:
    """One line per supported layout, for error messages."""
    return "\n".join(f"  - {layout.expected()}" for layout in layouts)


def find_layout(
    benchmark: str, layouts: tuple[Layout, ...], root: str | os.PathLike, layout_name: str | None = None
) -> tuple[Layout, Path, Path]:
    """The first of ``layouts`` (or the one named ``layout_name``) present under ``root``.

    Returns (layout, sketch folder, photo folder). Raises DataError naming the root, the supported layouts and
    their expected sub-paths when the root is missing or matches none of them.
    """
    root = Path(root).expanduser()
    if layout_name is not None:
        by_name = {layout.name: layout for layout in layouts}
        if layout_name not in by_name:
            raise ConfigError(
                f"unknown layout '{layout_name}' for benchmark '{benchmark}'; valid layouts: {', '.join(by_name)}"
            )
        layouts = (by_name[layout_name],)
    supported = describe_layouts(layouts)
    if not root.is_dir():
        raise DataError(
            f"data root {root} for benchmark '{benchmark}' does not exist or is not a folder. "
            f"Expected a folder holding one of these layouts (paths relative to the data root):\n{supported}\n"
            "Download the release and pass its folder as the data root."
        )
    for layout in layouts:
        found = layout.locate(root)
        if found is not None:
            return layout, found[0], found[1]
    entries = sorted(p.name for p in root.iterdir())[:20]
    raise DataError(
        f"data root {root} does not match any supported layout of benchmark '{benchmark}'. "
        f"It contains: {', '.join(entries) or '(nothing)'}. Supported layouts (paths relative to the data root):\n"
        f"{supported}\nPoint the data root at the folder that holds one of these layouts."
    )


def is_image_file(path: Path) -> bool:
    """True for a regular, non-hidden file whose extension is an image extension (any letter case)."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def list_class_folders(domain_dir: Path) -> list[Path]:
    """The class folders (non-hidden sub-folders) of one domain folder, sorted by name."""
    return [entry for entry in sorted(domain_dir.iterdir()) if entry.is_dir() and not entry.name.startswith(".")]


def list_class_files(class_dir: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other entries) in one class folder, both sorted by name."""
    images, others = [], []
    for entry in sorted(class_dir.iterdir()):
        (images if is_image_file(entry) else others).append(entry)
    return images, others


def check_image(path: Path) -> str | None:
    """Why ``path`` cannot be used as an image, or None when it decodes.

    Cheap checks, each reading the file once: PNG files are checked with ``Image.verify()`` (every chunk's CRC),
    JPEG files are decoded at 1/8 scale (``Image.draft``), which reads all the compressed data and so catches a
    truncated file; other formats are decoded in full.
    """
    try:
        with Image.open(path) as image:
            if image.format == "PNG":
                image.verify()
            else:
                if image.format == "JPEG" or path.suffix.lower() in _JPEG_EXTENSIONS:
                    image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError, ...
        return f"{type(error).__name__}: {error}"
    return None


def inspect_image(path: Path, resolved_folder: str | None = None, *, verify: bool = True) -> tuple[str, str | None]:
    """(``str(path.resolve())``, :func:`check_image`'s reason or None): what a manifest records of one file. With
    ``verify`` False the image is not opened and the reason is None.

    ``resolved_folder``, when given, is ``str(path.parent.resolve())``: a file that is no symbolic link resolves to
    it joined with the file's name, without resolving every component of its folder again (most of the time of
    ``Path.resolve``); a link is resolved in full."""
    if resolved_folder is None or path.is_symlink():
        resolved = str(path.resolve())
    else:
        resolved = os.path.join(resolved_folder, path.name)
    return resolved, check_image(path) if verify else None


FILES_PER_PROCESS = 2_000
""":func:`inspect_images` starts at most one worker process per this many files: below it, starting a process
costs more than it saves."""


def inspect_images(
    paths: list[Path], verify: bool = True, processes: int | None = None, progress: bool = False, desc: str = "images"
) -> list[tuple[str, str | None]]:
    """:func:`inspect_image` of every path, in the order given, each folder resolved once.

    The files are checked in ``processes`` worker processes (None: one per usable core, at most one per
    :data:`FILES_PER_PROCESS` files; 1 or fewer: in this process). Each file is read on its own, so the results
    do not depend on the number of processes. Workers are forked on Linux (nothing is imported again; what the
    caller has loaded is shared), started the platform's way elsewhere.
    """
    folders = {folder: str(folder.resolve()) for folder in {path.parent for path in paths}}
    resolved_folders = [folders[path.parent] for path in paths]
    if processes is None:
        processes = min(usable_cpus(), len(paths) // FILES_PER_PROCESS)
    bar = partial(tqdm, total=len(paths), desc=desc, unit="file", ascii=True, disable=not progress)
    if processes <= 1:
        return [inspect_image(path, folder, verify=verify) for path, folder in bar(zip(paths, resolved_folders))]
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    chunk = max(1, min(1_000, len(paths) // (8 * processes)))
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        return list(bar(pool.map(partial(inspect_image, verify=verify), paths, resolved_folders, chunksize=chunk)))
