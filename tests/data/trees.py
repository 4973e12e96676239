"""Helpers that build tiny benchmark trees (a few 8x8 images per class) in a temporary folder."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def write_image(path: Path, colour: int = 128, size: int = 8) -> Path:
    """A small valid image; the format follows the extension (grayscale PNG, RGB JPEG otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".png":
        Image.new("L", (size, size), colour).save(path, format="PNG")
    else:
        Image.new("RGB", (size, size), (colour, 255 - colour, 40)).save(path, format="JPEG")
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to a fraction of its bytes (a download that stopped half way)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_tree(base: Path, sketch_dir: str, photo_dir: str, classes: dict[str, tuple[list[str], list[str]]]) -> Path:
    """Create ``base/sketch_dir/<class>/<file>`` and ``base/photo_dir/<class>/<file>`` for each
    class -> (sketch file names, photo file names). Returns ``base``."""
    for name, (sketches, photos) in classes.items():
        for index, file in enumerate(sketches):
            write_image(base / sketch_dir / name / file, colour=10 * index)
        for index, file in enumerate(photos):
            write_image(base / photo_dir / name / file, colour=10 * index)
    return base


def uniform_classes(names, sketches=("a.png", "b.png"), photos=("a.jpg", "b.jpg")) -> dict:
    return {name: (list(sketches), list(photos)) for name in names}
