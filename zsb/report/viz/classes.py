"""Per-class figures: the class-oriented knowledge (each seen class's teacher distribution) and the retrieval
quality of each unseen class."""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from zsb.errors import ConfigError, DataError
from zsb.report.viz.base import finish, require_columns, style, to_numpy


def plot_class_knowledge(
    knowledge: Any,
    class_names: Sequence[str],
    imagenet_names: Sequence[str],
    classes: Sequence[str | int] | None = None,
    top: int = 5,
    path: str | os.PathLike | None = None,
) -> Figure:
    """What the class-oriented knowledge looks like: for a few classes, the ``top`` ImageNet classes the teacher
    predicts for that class's training photos on average, with their probabilities (the targets of the paper's
    semantic knowledge preservation loss).

    Args:
        knowledge: (C, 1000) array or tensor, row c = class c's averaged teacher distribution.
        class_names: the C class names, in row order.
        imagenet_names: the 1000 ImageNet class names, in column order.
        classes: class names or row indices to show; default the first 4 classes.
        top: ImageNet classes shown per class (default 5).
        path: optional PNG file to save the figure to.
    """
    probs = to_numpy(knowledge, "knowledge").astype(np.float64)
    if probs.ndim != 2 or probs.shape[0] != len(class_names) or probs.shape[1] != len(imagenet_names):
        raise ConfigError(
            f"knowledge has shape {probs.shape} but there are {len(class_names)} class names and "
            f"{len(imagenet_names)} ImageNet names; pass the (C, 1000) table with its own class list."
        )
    if top < 1:
        raise ConfigError(f"top={top} must be >= 1.")
    class_names = list(class_names)
    rows = []
    for c in (range(min(4, len(class_names))) if classes is None else classes):
        if isinstance(c, str):
            if c not in class_names:
                raise ConfigError(f"class {c!r} is not among the knowledge's classes (e.g. {class_names[:8]}).")
            c = class_names.index(c)
        if not 0 <= int(c) < len(class_names):
            raise ConfigError(f"class index {c} is outside 0..{len(class_names) - 1}.")
        rows.append(int(c))
    if not rows:
        raise ConfigError("plot_class_knowledge needs at least one class to show.")

    ncols = min(len(rows), 2)
    nrows = math.ceil(len(rows) / ncols)
    with style(font_scale=0.9):
        fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 0.45 * top * nrows + 1.4 * nrows),
                                 squeeze=False)
        for ax, c in zip(axes.ravel(), rows):
            order = np.argsort(-probs[c], kind="stable")[:top]
            names = [_short_name(imagenet_names[i]) for i in order]
            ax.barh(range(len(order)), probs[c, order], color=sns.color_palette("crest", len(order)), zorder=2)
            ax.set_yticks(range(len(order)), names)
            ax.invert_yaxis()
            for y, p in enumerate(probs[c, order]):
                ax.text(p, y, f" {p:.3f}", va="center", fontsize=9)
            ax.set_xlim(0, max(probs[c, order].max() * 1.25, 1e-6))
            ax.set_xlabel("teacher probability")
            ax.set_title(f"{class_names[c]}  (top-{len(order)} mass {probs[c, order].sum():.2f})")
        for ax in axes.ravel()[len(rows):]:
            ax.set_axis_off()
        fig.suptitle("Class-oriented knowledge: the teacher's mean ImageNet prediction per class", fontsize=13)
        fig.tight_layout()
    return finish(fig, path)

def _short_name(name: str, limit: int = 28) -> str:
    """First synonym of an ImageNet class name, cut to ``limit`` characters."""
    name = name.split(",")[0].strip()
    return name if len(name) <= limit else name[: limit - 1] + "…"

def plot_per_class_ap(per_class: pd.DataFrame, path: str | os.PathLike | None = None) -> Figure:
    """Per-class retrieval quality: a horizontal bar of mAP@all per class, best class on top, with the mean as a
    dashed line; when the table has ``mAP@all (voc)`` (the VOC-style interpolated average precision) it is
    shown as a dot.

    Args:
        per_class: DataFrame with ``class_name`` and ``mAP@all`` (e.g. ``RetrievalResult.per_class()`` with the
            class names added), optionally ``mAP@all (voc)``.
        path: optional PNG file to save the figure to.
    """
    require_columns(per_class, ("class_name", "mAP@all"), "the per-class table",
                     "Add class names, e.g. df['class_name'] = [unseen_classes[i] for i in df['label']].")
    if per_class.empty:
        raise DataError("the per-class table has no rows; evaluate some queries first.")
    table = per_class.sort_values("mAP@all", ascending=False, kind="stable").reset_index(drop=True)
    ys = np.arange(len(table))
    scores = table["mAP@all"].to_numpy(dtype=float)
    with style(font_scale=0.9):
        fig, ax = plt.subplots(figsize=(7.0, 0.28 * len(table) + 1.6))
        ax.barh(ys, scores, color=sns.color_palette("viridis", as_cmap=True)(0.15 + 0.7 * np.clip(scores, 0, 1)),
                zorder=2, label="mAP@all")
        if "mAP@all (voc)" in table.columns:
            ax.scatter(table["mAP@all (voc)"].to_numpy(dtype=float), ys, color="black", s=14, zorder=3,
                       label="mAP@all (VOC-style AP)")
        mean = float(np.nanmean(scores))
        ax.axvline(mean, color="#c44e52", linestyle="--", linewidth=1.5, zorder=4, label=f"mean = {mean:.3f}")
        ax.set_yticks(ys, table["class_name"].astype(str))
        ax.set_ylim(len(table) - 0.5, -0.5)
        ax.set_xlim(0, max(1.0, float(np.nanmax(scores))))
        ax.set_xlabel("mean average precision over the class's query sketches")
        ax.set_title("Retrieval quality per class (mAP@all)")
        ax.legend(loc="lower right", fontsize="small", frameon=True)
    return finish(fig, path)
