"""Figures of images: a grid of data samples, retrievals (a query and its ranked gallery, right and wrong
framed) and a search's ranked photos."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from zsb.domains import DOMAIN_NAMES, PHOTO, SKETCH
from zsb.errors import ConfigError, DataError
from zsb.report.viz.base import (CORRECT_COLOR, QUERY_COLOR, WRONG_COLOR, finish, frame_spines, load_thumbnail,
                                 require_columns, show_image, style)


def plot_sample_grid(
    frame: pd.DataFrame,
    classes: Sequence[str] | None = None,
    per_class: int = 4,
    path: str | os.PathLike | None = None,
    thumb_size: int = 96,
    seed: int = 0,
) -> Figure:
    """A grid of dataset samples: one row per class, ``per_class`` sketches then ``per_class`` photos.

    Args:
        frame: a manifest table (``Manifest.frame``) with columns ``path``, ``domain`` ("sketch"/"photo"),
            ``class_name``, ``seen`` (bool) and ``label``.
        classes: class names to show, in this order. Default None: up to 8 classes drawn with ``seed``, balanced
            between seen and unseen classes when both exist, shown seen first, each group sorted by name.
        per_class: images shown per domain and class (default 4); classes with fewer show empty cells.
        path: optional PNG file to save the figure to.
        thumb_size: thumbnail side in pixels (default 96); images keep their aspect ratio on a white square.
        seed: seed of the class and image draws (default 0), so the same call gives the same figure.

    Unseen classes (the zero-shot test classes) are marked "(unseen)" in their row label.
    """
    require_columns(
        frame, ("path", "domain", "class_name", "seen"), "the sample-grid frame",
        "Pass Manifest.frame from zsb.data.manifest.build_manifest.",
    )
    if per_class < 1 or thumb_size < 8:
        raise ConfigError(f"per_class={per_class} and thumb_size={thumb_size} must be >= 1 and >= 8.")
    if frame.empty:
        raise DataError("the sample-grid frame has no rows; build the manifest from a dataset with images.")
    rng = np.random.default_rng(seed)
    seen_of = frame.groupby("class_name")["seen"].first().astype(bool)
    if classes is None:
        classes = _default_classes(seen_of, max_classes=8, rng=rng)
    else:
        classes = list(classes)
        unknown = [c for c in classes if c not in seen_of.index]
        if unknown or not classes:
            raise DataError(
                f"classes {unknown or '[]'} are not in the frame; choose among e.g. {sorted(seen_of.index)[:10]}."
            )

    ncols = 2 * per_class
    height = 1.2 * len(classes) + 0.8
    with style(font_scale=0.9):
        fig, axes = plt.subplots(
            len(classes), ncols, figsize=(1.15 * ncols + 1.6, height), squeeze=False,
            gridspec_kw={"wspace": 0.05, "hspace": 0.08, "top": 1 - 0.75 / height, "bottom": 0.1 / height},
        )
        for row, class_name in enumerate(classes):
            rows = frame[frame["class_name"] == class_name]
            for offset, domain in ((0, DOMAIN_NAMES[SKETCH]), (per_class, DOMAIN_NAMES[PHOTO])):
                paths = sorted(rows.loc[rows["domain"] == domain, "path"].astype(str))
                picked = rng.choice(len(paths), size=min(per_class, len(paths)), replace=False) if paths else []
                for col in range(per_class):
                    ax = axes[row, offset + col]
                    if col < len(picked):
                        show_image(ax, load_thumbnail(paths[picked[col]], thumb_size))
                    else:
                        show_image(ax, np.full((thumb_size, thumb_size, 3), 255, dtype=np.uint8))
                    frame_spines(ax, None)
                    if row == 0:
                        ax.set_title(domain, fontsize=10)
            unseen = not seen_of[class_name]
            axes[row, 0].set_ylabel(
                f"{class_name}\n(unseen)" if unseen else class_name, rotation=0, ha="right", va="center",
                fontsize=10, color="#b35900" if unseen else "black",
            )
        fig.suptitle(f"Sketches and photos per class ({per_class} of each)", fontsize=13)
    return finish(fig, path)

def _default_classes(seen_of: pd.Series, max_classes: int, rng: np.random.Generator) -> list[str]:
    """Up to ``max_classes`` class names drawn with ``rng``, half unseen when both kinds exist; seen first, each
    group sorted."""
    seen = sorted(seen_of.index[seen_of])
    unseen = sorted(seen_of.index[~seen_of])
    n_unseen = min(len(unseen), max_classes - min(len(seen), max_classes // 2))
    n_seen = min(len(seen), max_classes - n_unseen)

    def draw(names: list[str], n: int) -> list[str]:
        return sorted(names[i] for i in rng.choice(len(names), size=n, replace=False)) if n else []

    return draw(seen, n_seen) + draw(unseen, n_unseen)

def plot_retrieval(
    query_paths: Sequence[str | os.PathLike],
    ranked_paths: Sequence[Sequence[str | os.PathLike]],
    ranked_correct: Sequence[Sequence[bool]] | np.ndarray,
    path: str | os.PathLike | None = None,
    query_titles: Sequence[str] | None = None,
    top: int = 10,
) -> Figure:
    """Retrieval examples: one row per query sketch, followed by its ``top`` best-ranked gallery photos framed in
    green (same class as the query) or red (another class), with the rank above each photo.

    Args:
        query_paths: image file of each query (a few: one figure row each).
        ranked_paths: per query, gallery image files in rank order (at least ``top`` used when available).
        ranked_correct: per query, whether each ranked photo has the query's class (same shape as ranked_paths).
        path: optional PNG file to save the figure to.
        query_titles: optional row label per query (e.g. its class name); default "query i".
        top: number of ranked photos shown per query (default 10).
    """
    n_queries = len(query_paths)
    if n_queries == 0 or top < 1:
        raise ConfigError(f"plot_retrieval needs at least one query and top >= 1 (got {n_queries} queries, top={top}).")
    if len(ranked_paths) != n_queries or len(ranked_correct) != n_queries:
        raise ConfigError(
            f"plot_retrieval got {n_queries} queries but {len(ranked_paths)} ranked lists and {len(ranked_correct)} "
            "correctness lists; pass one of each per query."
        )
    if query_titles is not None and len(query_titles) != n_queries:
        raise ConfigError(f"query_titles has {len(query_titles)} entries for {n_queries} queries; give one per query.")
    for i in range(n_queries):
        if len(ranked_correct[i]) < min(top, len(ranked_paths[i])):
            raise ConfigError(
                f"query {i} has {len(ranked_paths[i])} ranked paths but only {len(ranked_correct[i])} correctness "
                "flags; give one flag per ranked path."
            )

    shown = max(min(top, len(r)) for r in ranked_paths)
    thumb = 112
    with style(font_scale=0.9):
        fig, axes = plt.subplots(
            n_queries, 1 + shown, figsize=(1.25 * (1 + shown) + 1.5, 1.35 * n_queries + 0.9), squeeze=False,
            gridspec_kw={"wspace": 0.12, "hspace": 0.25},
        )
        for row in range(n_queries):
            query_ax = axes[row, 0]
            show_image(query_ax, load_thumbnail(query_paths[row], thumb))
            frame_spines(query_ax, QUERY_COLOR, width=2.5)
            if row == 0:
                query_ax.set_title("query", fontsize=10, fontweight="bold")
            ranked = list(ranked_paths[row])[:shown]
            flags = [bool(f) for f in list(ranked_correct[row])[: len(ranked)]]
            title = query_titles[row] if query_titles is not None else f"query {row + 1}"
            query_ax.set_ylabel(f"{title}\n{sum(flags)}/{len(flags)} correct", rotation=0, ha="right", va="center",
                                fontsize=10)
            for rank in range(shown):
                ax = axes[row, 1 + rank]
                if rank < len(ranked):
                    show_image(ax, load_thumbnail(ranked[rank], thumb))
                    frame_spines(ax, CORRECT_COLOR if flags[rank] else WRONG_COLOR)
                    ax.set_title(str(rank + 1), fontsize=9, pad=3)
                else:
                    ax.set_axis_off()
        fig.legend(
            handles=[Patch(facecolor="white", edgecolor=c, linewidth=3, label=t)
                     for c, t in ((CORRECT_COLOR, "same class as query"), (WRONG_COLOR, "other class"))],
            loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.02),
        )
        fig.suptitle(f"Top-{shown} retrieved photos per query sketch (rank above each photo)", fontsize=12)
    return finish(fig, path)

def plot_search(query: str | os.PathLike, paths: Sequence[str], similarities: Sequence[float],
                path: str | os.PathLike | None = None) -> Figure:
    """The query sketch, then its ranked photos with the rank and cosine similarity above each."""
    thumb = 112
    with style(font_scale=0.9):
        fig, axes = plt.subplots(1, 1 + len(paths), figsize=(1.25 * (1 + len(paths)) + 0.5, 2.3), squeeze=False,
                                 gridspec_kw={"wspace": 0.12})
        query_ax = axes[0, 0]
        show_image(query_ax, load_thumbnail(query, thumb))
        frame_spines(query_ax, QUERY_COLOR, width=2.5)
        query_ax.set_title("query", fontsize=10, fontweight="bold")
        for rank, (photo, similarity) in enumerate(zip(paths, similarities), start=1):
            ax = axes[0, rank]
            show_image(ax, load_thumbnail(photo, thumb))
            frame_spines(ax, None)
            ax.set_title(f"{rank}\n{similarity:.3f}", fontsize=9, pad=3)
        fig.suptitle(f"Top-{len(paths)} photos for {Path(query).name} (rank, cosine similarity)", fontsize=11, y=1.02)
    return finish(fig, path)
