"""What every figure shares: the style, the atomic PNG save, the colours and markers, and the image helpers."""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from zsb.domains import PHOTO, SKETCH
from zsb.errors import ConfigError, DataError
from zsb.io import atomic_open

DPI = 120
"""Resolution of saved PNGs (dots per inch)."""

CORRECT_COLOR = "#2ca02c"
WRONG_COLOR = "#d62728"
QUERY_COLOR = "#1f4e79"
DOMAIN_MARKERS = {PHOTO: "o", SKETCH: "^"}
"""t-SNE markers: photos are circles, sketches are triangles."""


@contextmanager
def style(font_scale: float = 1.0) -> Iterator[None]:
    """Seaborn's white-grid style and readable fonts for the figures created inside the block only."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=font_scale):
        yield


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Save ``fig`` as a PNG (``DPI`` dots per inch, tight bounding box) at ``path``, atomically: a crash while
    rendering or writing leaves any previous file at ``path`` untouched and no partial file behind."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"figure path {path} does not end in .png; zsb saves figures as PNG, so name it *.png.")
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=DPI, bbox_inches="tight")
    return path


def finish(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def to_numpy(values: Any, what: str) -> np.ndarray:
    """An array-like or a torch tensor (on any device, any dtype, tracking gradients or not) as a numpy array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu()
        values = (values.double() if values.is_floating_point() else values).numpy()
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{what} could not be read as an array ({e}); pass a numpy array or a torch tensor.") from e


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str, hint: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}. {hint}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lacks column(s) {missing} (it has {list(frame.columns)}). {hint}")


def load_thumbnail(path: str | os.PathLike, size: int) -> np.ndarray | None:
    """The image at ``path`` as RGB (transparent pixels white, as the model reads them), shrunk to fit ``size`` x
    ``size`` and centred on a white square; None (with a warning) when it cannot be read, so one bad file never stops
    a figure."""
    from PIL import Image

    from zsb.data.datasets import _to_rgb

    try:
        with Image.open(path) as image:
            image = _to_rgb(image)
            image.thumbnail((size, size))
    except (OSError, ValueError) as e:
        warnings.warn(f"could not read image {path} ({e}); it is shown as an empty cell.", stacklevel=3)
        return None
    canvas = Image.new("RGB", (size, size), "white")
    canvas.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return np.asarray(canvas)


def show_image(ax, image: np.ndarray | None) -> None:
    """Draw a thumbnail (or an 'unreadable' placeholder) in an axes with no ticks and no grid."""
    if image is None:
        ax.set_facecolor("0.85")
        ax.text(0.5, 0.5, "unreadable", ha="center", va="center", fontsize=8, transform=ax.transAxes)
    else:
        ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def frame_spines(ax, color: str | None, width: float = 4.0) -> None:
    """Colour all four spines of an image cell (the correct/wrong border), or hide them when ``color`` is None."""
    for spine in ax.spines.values():
        spine.set_visible(color is not None)
        if color is not None:
            spine.set_edgecolor(color)
            spine.set_linewidth(width)
