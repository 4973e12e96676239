"""Teaching figures: data samples, training curves, retrievals, t-SNE of the embedding space, ablations, the
class-oriented knowledge and per-class retrieval quality.

Every ``plot_*`` function returns its matplotlib :class:`~matplotlib.figure.Figure` (created with pyplot, so a
notebook shows it) and, when ``path`` is given, also saves it there as a PNG through :func:`save_figure`. No
function closes any figure: call ``plt.close(fig)`` when a figure is no longer needed (e.g. in a loop).
Styling (seaborn's white grid, readable font sizes) is applied per figure and never changes global settings.
"""

from __future__ import annotations

import math
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from zsb.domains import DOMAIN_NAMES, PHOTO, SKETCH
from zsb.errors import ConfigError, DataError
from zsb.io import atomic_open
from zsb.trainlog import log_frame, lr_columns

DPI = 120
"""Resolution of saved PNGs (dots per inch)."""

CORRECT_COLOR = "#2ca02c"
WRONG_COLOR = "#d62728"
QUERY_COLOR = "#1f4e79"
DOMAIN_MARKERS = {PHOTO: "o", SKETCH: "^"}
"""t-SNE markers: photos are circles, sketches are triangles."""


@contextmanager
def _style(font_scale: float = 1.0) -> Iterator[None]:
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


def _finish(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def _to_numpy(values: Any, what: str) -> np.ndarray:
    """An array-like or a torch tensor (on any device, any dtype, tracking gradients or not) as a numpy array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu()
        values = (values.double() if values.is_floating_point() else values).numpy()
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{what} could not be read as an array ({e}); pass a numpy array or a torch tensor.") from e


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str, hint: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}. {hint}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lacks column(s) {missing} (it has {list(frame.columns)}). {hint}")


def _load_thumbnail(path: str | os.PathLike, size: int) -> np.ndarray | None:
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


def _show_image(ax, image: np.ndarray | None) -> None:
    """Draw a thumbnail (or an 'unreadable' placeholder) in an axes with no ticks and no grid."""
    if image is None:
        ax.set_facecolor("0.85")
        ax.text(0.5, 0.5, "unreadable", ha="center", va="center", fontsize=8, transform=ax.transAxes)
    else:
        ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def _frame_spines(ax, color: str | None, width: float = 4.0) -> None:
    """Colour all four spines of an image cell (the correct/wrong border), or hide them when ``color`` is None."""
    for spine in ax.spines.values():
        spine.set_visible(color is not None)
        if color is not None:
            spine.set_edgecolor(color)
            spine.set_linewidth(width)


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
    _require_columns(
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
    with _style(font_scale=0.9):
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
                        _show_image(ax, _load_thumbnail(paths[picked[col]], thumb_size))
                    else:
                        _show_image(ax, np.full((thumb_size, thumb_size, 3), 255, dtype=np.uint8))
                    _frame_spines(ax, None)
                    if row == 0:
                        ax.set_title(domain, fontsize=10)
            unseen = not seen_of[class_name]
            axes[row, 0].set_ylabel(
                f"{class_name}\n(unseen)" if unseen else class_name, rotation=0, ha="right", va="center",
                fontsize=10, color="#b35900" if unseen else "black",
            )
        fig.suptitle(f"Sketches and photos per class ({per_class} of each)", fontsize=13)
    return _finish(fig, path)


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


def plot_loss_curves(
    log: str | os.PathLike | Sequence[Mapping[str, Any]], path: str | os.PathLike | None = None
) -> Figure:
    """Training losses per epoch: one line per ``loss/...`` key (the total in bold black), and the learning
    rate(s) in a small panel below when the records have any: ``lr_backbone`` (what :func:`zsb.engine.train`
    logs), ``lr`` or any other ``lr_<group>`` key, one labelled line each.

    Args:
        log: a JSON-lines file (one JSON object per epoch, e.g. a run's ``train_log.jsonl``) or a list of dicts,
            each with ``epoch`` and loss keys such as ``loss/total``, ``loss/quadruplet``,
            ``loss/classification``, ``loss/knowledge``; read with :func:`zsb.trainlog.log_frame`.
        path: optional PNG file to save the figure to.
    """
    table = log_frame(log)
    loss_keys = [c for c in table.columns if str(c).startswith("loss/")]
    loss_keys.sort(key=lambda k: (k != "loss/total", k))
    lr_keys = lr_columns(table)
    epochs = table["epoch"].to_numpy()
    marker = "o" if len(epochs) <= 25 else None

    with _style():
        if lr_keys:
            fig, (ax, ax_lr) = plt.subplots(
                2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.2}
            )
        else:
            fig, ax = plt.subplots(figsize=(8, 4.6))
        palette = sns.color_palette("tab10")
        for index, key in enumerate(loss_keys):
            total = key == "loss/total"
            ax.plot(
                epochs, table[key].to_numpy(dtype=float), label=key.removeprefix("loss/"), marker=marker,
                color="black" if total else palette[index % len(palette)], linewidth=2.8 if total else 1.6,
                markersize=6 if total else 4.5, zorder=3 if total else 2,
            )
        ax.set_ylabel("loss")
        ax.set_title("Training losses per epoch")
        ax.legend(title="loss term", frameon=True)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if lr_keys:
            lr_palette = ["0.35"] + list(sns.color_palette("Dark2"))
            all_lr = []
            for index, key in enumerate(lr_keys):
                lr = pd.to_numeric(table[key], errors="coerce").to_numpy(dtype=float)
                all_lr.append(lr)
                ax_lr.plot(epochs, lr, label=key, color=lr_palette[index % len(lr_palette)], marker=marker,
                           markersize=4, linewidth=1.4)
            lr = np.concatenate(all_lr)
            positive = lr[np.isfinite(lr) & (lr > 0)]
            if len(positive) and positive.max() > 10 * positive.min():
                ax_lr.set_yscale("log")
            else:
                ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
            if lr_keys != ["lr"]:  # name the parameter group(s): the log's key, e.g. lr_backbone
                ax_lr.legend(fontsize="small", frameon=True)
            ax_lr.set_ylabel("learning\nrate")
            ax_lr.set_xlabel("epoch")
        else:
            ax.set_xlabel("epoch")
        if len(epochs) == 1:
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
    return _finish(fig, path)


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
    with _style(font_scale=0.9):
        fig, axes = plt.subplots(
            n_queries, 1 + shown, figsize=(1.25 * (1 + shown) + 1.5, 1.35 * n_queries + 0.9), squeeze=False,
            gridspec_kw={"wspace": 0.12, "hspace": 0.25},
        )
        for row in range(n_queries):
            query_ax = axes[row, 0]
            _show_image(query_ax, _load_thumbnail(query_paths[row], thumb))
            _frame_spines(query_ax, QUERY_COLOR, width=2.5)
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
                    _show_image(ax, _load_thumbnail(ranked[rank], thumb))
                    _frame_spines(ax, CORRECT_COLOR if flags[rank] else WRONG_COLOR)
                    ax.set_title(str(rank + 1), fontsize=9, pad=3)
                else:
                    ax.set_axis_off()
        fig.legend(
            handles=[Patch(facecolor="white", edgecolor=c, linewidth=3, label=t)
                     for c, t in ((CORRECT_COLOR, "same class as query"), (WRONG_COLOR, "other class"))],
            loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.02),
        )
        fig.suptitle(f"Top-{shown} retrieved photos per query sketch (rank above each photo)", fontsize=12)
    return _finish(fig, path)


def plot_search(query: str | os.PathLike, paths: Sequence[str], similarities: Sequence[float],
                path: str | os.PathLike | None = None) -> Figure:
    """The query sketch, then its ranked photos with the rank and cosine similarity above each."""
    thumb = 112
    with _style(font_scale=0.9):
        fig, axes = plt.subplots(1, 1 + len(paths), figsize=(1.25 * (1 + len(paths)) + 0.5, 2.3), squeeze=False,
                                 gridspec_kw={"wspace": 0.12})
        query_ax = axes[0, 0]
        _show_image(query_ax, _load_thumbnail(query, thumb))
        _frame_spines(query_ax, QUERY_COLOR, width=2.5)
        query_ax.set_title("query", fontsize=10, fontweight="bold")
        for rank, (photo, similarity) in enumerate(zip(paths, similarities), start=1):
            ax = axes[0, rank]
            _show_image(ax, _load_thumbnail(photo, thumb))
            _frame_spines(ax, None)
            ax.set_title(f"{rank}\n{similarity:.3f}", fontsize=9, pad=3)
        fig.suptitle(f"Top-{len(paths)} photos for {Path(query).name} (rank, cosine similarity)", fontsize=11, y=1.02)
    return _finish(fig, path)


def tsne_embed(
    embeddings: Any, seed: int = 0, perplexity: float = 30.0, pca_dim: int = 50
) -> np.ndarray:
    """Project embeddings to 2-D for plotting: PCA to ``min(pca_dim, N, D)`` components, then t-SNE.

    Args:
        embeddings: (N, D) array or tensor, N >= 4.
        seed: random state of PCA and t-SNE (default 0); the same seed gives the same layout.
        perplexity: t-SNE's effective number of neighbours (default 30), clipped to (N - 1) / 3 for small N.
        pca_dim: PCA components kept before t-SNE (default 50), which denoises and speeds t-SNE up.

    t-SNE runs on one OpenMP thread: its layout is identical for any thread count, and on a small busy machine
    (2-core CI) spinning OpenMP threads made it about ten times slower.

    Returns:
        (N, 2) float64 array.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    points = _to_numpy(embeddings, "embeddings").astype(np.float64)
    if points.ndim != 2 or points.shape[0] < 4 or points.shape[1] < 1:
        raise ConfigError(f"tsne_embed needs an (N, D) array with N >= 4 points, got shape {points.shape}.")
    if not np.isfinite(points).all():
        raise ConfigError("embeddings contain NaN or infinite values; check the model (a diverged training run?).")
    if perplexity <= 0 or pca_dim < 1:
        raise ConfigError(f"perplexity={perplexity} and pca_dim={pca_dim} must be positive.")
    n, d = points.shape
    reduced = PCA(n_components=min(pca_dim, n, d), svd_solver="full", random_state=seed).fit_transform(points)
    tsne = TSNE(
        n_components=2, perplexity=min(float(perplexity), (n - 1) / 3), init="pca", learning_rate="auto",
        random_state=seed,
    )
    with threadpool_limits(limits=1, user_api="openmp"):
        return tsne.fit_transform(reduced).astype(np.float64)


def _class_palette(labels: Sequence[int]) -> dict[int, tuple[float, float, float]]:
    """One distinct colour per class label, the same in every panel."""
    labels = sorted(labels)
    name = "tab10" if len(labels) <= 10 else "tab20" if len(labels) <= 20 else "husl"
    return dict(zip(labels, sns.color_palette(name, len(labels))))


def plot_tsne(
    panels: Mapping[str, tuple[Any, Any, Any]],
    class_names: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
    seed: int = 0,
    perplexity: float = 30.0,
) -> Figure:
    """t-SNE maps of embeddings side by side (e.g. "before training" vs "after training"): colour = class,
    marker = domain (circle photo, triangle sketch), one shared legend.

    Args:
        panels: title -> (embeddings (N, D), labels (N,), domains (N,)) with domains ``SKETCH``=0 / ``PHOTO``=1.
        class_names: optional names indexed by label, for the legend; default "class <label>".
        path: optional PNG file to save the figure to.
        seed, perplexity: passed to :func:`tsne_embed`.
    """
    if not panels:
        raise ConfigError("plot_tsne needs at least one panel: {title: (embeddings, labels, domains)}.")
    prepared = []
    for title, (embeddings, labels, domains) in panels.items():
        labels = _to_numpy(labels, f"labels of panel {title!r}").astype(int).ravel()
        domains = _to_numpy(domains, f"domains of panel {title!r}").astype(int).ravel()
        n = _to_numpy(embeddings, f"embeddings of panel {title!r}").shape[0]
        if not (len(labels) == len(domains) == n):
            raise ConfigError(
                f"panel {title!r}: {n} embeddings, {len(labels)} labels and {len(domains)} domains; "
                "give one label and one domain per embedding."
            )
        if not np.isin(domains, (SKETCH, PHOTO)).all():
            raise ConfigError(f"panel {title!r}: domains must be {SKETCH} (sketch) or {PHOTO} (photo).")
        if class_names is not None and len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise ConfigError(
                f"panel {title!r}: labels span {labels.min()}..{labels.max()} but class_names has "
                f"{len(class_names)} names; pass the class list the labels index into."
            )
        prepared.append((title, tsne_embed(embeddings, seed=seed, perplexity=perplexity), labels, domains))

    palette = _class_palette(set().union(*(set(p[2].tolist()) for p in prepared)))
    name_of = (lambda lab: class_names[lab]) if class_names is not None else (lambda lab: f"class {lab}")
    with _style():
        fig, axes = plt.subplots(1, len(prepared), figsize=(5.2 * len(prepared), 5.0), squeeze=False)
        for ax, (title, xy, labels, domains) in zip(axes[0], prepared):
            for domain, marker in DOMAIN_MARKERS.items():
                mask = domains == domain
                ax.scatter(
                    xy[mask, 0], xy[mask, 1], c=[palette[lab] for lab in labels[mask]], marker=marker,
                    s=34 if domain == PHOTO else 42, alpha=0.8, edgecolors="white", linewidths=0.4,
                )
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("t-SNE 1")
            ax.set_ylabel("t-SNE 2")
        class_handles = [Patch(color=palette[lab], label=name_of(lab)) for lab in palette]
        domain_handles = [
            Line2D([], [], marker=DOMAIN_MARKERS[d], linestyle="", color="0.4", markersize=8, label=DOMAIN_NAMES[d])
            for d in (SKETCH, PHOTO)
        ]
        fig.legend(handles=domain_handles, title="domain", loc="upper left", bbox_to_anchor=(1.0, 0.95))
        fig.legend(handles=class_handles, title="class", loc="upper left", bbox_to_anchor=(1.0, 0.72),
                   ncol=max(1, math.ceil(len(class_handles) / 18)), fontsize="small")
        fig.suptitle("t-SNE of retrieval embeddings (colour = class, marker = domain)")
        fig.tight_layout()
    return _finish(fig, path)


def _format_value(value: float, fractions: bool) -> str:
    return "" if not np.isfinite(value) else f"{value:.3f}" if fractions else f"{value:.1f}"


def plot_ablation(
    table: pd.DataFrame,
    metrics: Sequence[str] = ("mAP@all", "P@10"),
    path: str | os.PathLike | None = None,
) -> Figure:
    """Grouped bars comparing training variants (one group per metric, one bar per variant, value on each bar).
    The ``full`` variant (the paper's complete method) is drawn in a strong colour with a black edge; a row
    whose variant is ``chance`` (random ranking) is drawn as a dashed line across each metric's group. Where the
    table has ``<metric> low`` and ``<metric> high`` columns (a 95% interval of the mean over seeds and queries,
    :func:`zsb.run.stages.ablation`), each bar carries that interval as an error bar.

    Args:
        table: DataFrame with a ``variant`` column and one column per metric (optionally its interval bounds).
        metrics: metric columns to plot (default mAP@all and P@10).
        path: optional PNG file to save the figure to.
    """
    metrics = list(metrics)
    _require_columns(table, ["variant", *metrics], "the ablation table",
                     "Give one row per variant with its metric values.")
    repeated = sorted(set(table.loc[table["variant"].duplicated(), "variant"]))
    if repeated:
        raise DataError(f"the ablation table repeats variants {repeated}; keep one row per variant "
                        "(e.g. average the seeds first).")
    chance = table[table["variant"] == "chance"]
    bars = table[table["variant"] != "chance"]
    if bars.empty or not metrics:
        raise DataError("the ablation table needs at least one variant other than 'chance' and one metric.")
    values = bars[metrics].to_numpy(dtype=float)
    errors = None  # (2, variants, metrics): distances below and above each bar
    if any(f"{m} low" in bars for m in metrics):
        bounds = [bars.get(f"{m} {b}", pd.Series(np.nan, index=bars.index)).to_numpy(dtype=float)
                  for b in ("low", "high") for m in metrics]
        low, high = np.array(bounds[: len(metrics)]).T, np.array(bounds[len(metrics):]).T
        errors = np.nan_to_num(np.stack([values - low, high - values]), nan=0.0).clip(min=0)
    all_values = np.r_[values.ravel(), chance[metrics].to_numpy(dtype=float).ravel(), 0.0]
    if errors is not None:
        all_values = np.r_[all_values, (values + errors[1]).ravel()]
    fractions = np.nanmax(np.abs(all_values)) <= 1.0

    variants = bars["variant"].astype(str).tolist()
    n = len(variants)
    width = 0.8 / n
    centres = np.arange(len(metrics))
    muted = sns.color_palette("pastel", n)
    with _style():
        fig, ax = plt.subplots(figsize=(max(6.0, 1.0 + len(metrics) * (0.6 * n + 0.6)), 4.8))
        for i, variant in enumerate(variants):
            full = variant == "full"
            container = ax.bar(
                centres + (i - (n - 1) / 2) * width, values[i], width * 0.95, label=variant,
                color="#c44e52" if full else muted[i], edgecolor="black" if full else "0.5",
                linewidth=1.8 if full else 0.6, zorder=2, yerr=errors[:, i, :] if errors is not None else None,
                error_kw={"elinewidth": 1.0, "capsize": 2, "ecolor": "0.15"},
            )
            ax.bar_label(container, labels=[_format_value(v, fractions) for v in values[i]], padding=2,
                         fontsize=8, fontweight="bold" if full else "normal", rotation=90 if n > 4 else 0)
        if not chance.empty:
            for j, metric in enumerate(metrics):
                level = float(chance[metric].iloc[0])
                ax.hlines(level, centres[j] - 0.45, centres[j] + 0.45, colors="0.2", linestyles="--", linewidth=1.5,
                          zorder=3, label="chance" if j == 0 else None)
        ax.set_xticks(centres, metrics)
        ax.set_ylabel("score")
        ax.set_xlabel("metric")
        ax.set_ylim(0, np.nanmax(all_values) * (1.3 if n > 4 else 1.15) or 1.0)
        ax.set_title("Ablation: contribution of each component")
        legend = ax.legend(title="variant", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        for text in legend.get_texts():
            if text.get_text() == "full":
                text.set_fontweight("bold")
    return _finish(fig, path)


def _paired_gains(table: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """The rows of ``table`` with a paired gain on ``metric``, the reading of each (:func:`zsb.stats.ablation_readings`)
    and the gain's three columns (estimate, low, high)."""
    from zsb.stats import ablation_readings

    columns = [f"{metric} gain", f"{metric} gain low", f"{metric} gain high"]
    _require_columns(table, ["variant", *columns], "the ablation table",
                     "Run the ablation with the full variant, so each variant has a paired gain.")
    rows = table.dropna(subset=columns)
    if rows.empty:
        raise DataError("the ablation table has no paired gains (it needs the full variant and one other).")
    return rows, pd.Series(ablation_readings(table, metric), index=table.index)[rows.index], columns


def _draw_gains(ax, rows: pd.DataFrame, readings: pd.Series, columns: Sequence[str],
                positions: Sequence[float] | None = None) -> None:
    """One dot with whiskers per row, coloured by its reading, at ``positions`` on the y axis (default: top to
    bottom, labelled with the variants); the dashed line is 0."""
    labelled = positions is None
    positions = np.arange(len(rows))[::-1] if labelled else positions
    for (_, row), y, read in zip(rows.iterrows(), positions, readings):
        gain, low, high = (float(row[c]) for c in columns)
        colour = "0.35" if read == "tie" else "#2a7f3f" if read.startswith("full ahead") else "#c44e52"
        ax.errorbar([gain], [y], xerr=[[gain - low], [high - gain]], fmt="o", color=colour, elinewidth=2,
                    capsize=4, markersize=6, zorder=2, markerfacecolor="white" if read.endswith("(1 seed)") else colour)
    ax.axvline(0.0, color="0.2", linestyle="--", linewidth=1.2, zorder=1)
    if labelled:
        ax.set_yticks(positions, rows["variant"].astype(str).tolist())
        ax.set_ylim(-0.6, len(rows) - 0.4)


_GAINS_KEY = "(green: the component helps,\nbeyond the interval and the spread over seeds; hollow: 1 seed)"


def plot_ablation_gains(
    table: pd.DataFrame,
    metric: str = "mAP@all",
    path: str | os.PathLike | None = None,
) -> Figure:
    """What each component earns: for every variant, the paired gain of the full method over it (full minus
    variant, same seeds and queries) with its 95% bootstrap interval, as a dot with whiskers; the dashed line is 0.
    Colours follow :func:`zsb.stats.reading` ("spread before claims"): green, the component the variant removes
    earns its place (whiskers wholly right of 0 and a gain beyond the spread over seeds); red, the variant is ahead;
    grey, a tie. A hollow dot is a reading of one seed on each side, whose spread over seeds is not known yet.
    The untrained baselines (:data:`zsb.config.UNTRAINED_VARIANTS`: the frozen ImageNet features) get a panel of
    their own below, on their own scale: their gain, ten times the components', would squeeze the components'
    intervals into a sliver of the axis.

    Args:
        table: the ablation table, with ``variant`` and ``<metric> gain``, ``<metric> gain low`` and
            ``<metric> gain high`` columns (:func:`zsb.run.stages.ablation`); rows without a gain are left out.
        metric: the metric (default mAP@all); its header names the AP variant.
        path: optional PNG file to save the figure to.
    """
    from zsb.config import UNTRAINED_VARIANTS
    from zsb.metrics import metric_header

    rows, readings, columns = _paired_gains(table, metric)
    untrained = rows["variant"].astype(str).isin(UNTRAINED_VARIANTS)
    panels = [group for group in (rows[~untrained], rows[untrained]) if not group.empty]
    with _style():
        fig, axes = plt.subplots(len(panels), 1, squeeze=False, figsize=(6.4, 1.6 + 0.5 * len(rows)),
                                 height_ratios=[max(len(group), 1.5) for group in panels])
        for ax, group in zip(axes[:, 0], panels):
            _draw_gains(ax, group, readings[group.index], columns)
        axes[-1, 0].set_xlabel(f"gain of the full method over the variant, {metric_header(metric)}")
        if len(panels) > 1:
            axes[-1, 0].set_title("not trained (its own scale)", fontsize="small")
        axes[0, 0].set_title(f"Paired gain with 95% bootstrap interval {_GAINS_KEY}")
        fig.tight_layout()
    return _finish(fig, path)


def plot_gains_by_split(
    tables: Mapping[str, tuple[pd.DataFrame, str]],
    path: str | os.PathLike | None = None,
) -> Figure:
    """The figure of gains (:func:`plot_ablation_gains`) of several splits side by side, one panel per split, each
    on its own headline metric: the trained variants only (the frozen baseline's gain is ten times theirs), in the
    same rows on every panel, so a component reads across the splits.

    Args:
        tables: split name -> (its ablation table, its headline metric), in panel order.
        path: optional PNG file to save the figure to.
    """
    from zsb.config import UNTRAINED_VARIANTS
    from zsb.metrics import metric_header

    if not tables:
        raise DataError("no ablation tables to draw: give at least one split's table.")
    gains = {}
    for split, (table, metric) in tables.items():
        rows, readings, columns = _paired_gains(table, metric)
        trained = rows[~rows["variant"].astype(str).isin(UNTRAINED_VARIANTS)]
        gains[split] = trained, readings[trained.index], columns
    order = list(dict.fromkeys(v for rows, _, _ in gains.values() for v in rows["variant"].astype(str)))
    with _style():
        fig, axes = plt.subplots(1, len(gains), squeeze=False, sharey=True,
                                 figsize=(1.6 + 3.4 * len(gains), 1.8 + 0.5 * len(order)))
        for ax, (split, (rows, readings, columns)) in zip(axes[0], gains.items()):
            _draw_gains(ax, rows, readings, columns,
                        positions=[len(order) - 1 - order.index(v) for v in rows["variant"].astype(str)])
            ax.set_title(split)
            ax.set_xlabel(f"gain, {metric_header(tables[split][1])}")
        axes[0, 0].set_yticks(np.arange(len(order))[::-1], order)  # shared by every panel
        axes[0, 0].set_ylim(-0.6, len(order) - 0.4)
        fig.suptitle(f"Gain of the full method over each variant, paired, with 95% bootstrap interval {_GAINS_KEY}")
        fig.tight_layout()
    return _finish(fig, path)


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
    probs = _to_numpy(knowledge, "knowledge").astype(np.float64)
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
    with _style(font_scale=0.9):
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
    return _finish(fig, path)


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
    _require_columns(per_class, ("class_name", "mAP@all"), "the per-class table",
                     "Add class names, e.g. df['class_name'] = [unseen_classes[i] for i in df['label']].")
    if per_class.empty:
        raise DataError("the per-class table has no rows; evaluate some queries first.")
    table = per_class.sort_values("mAP@all", ascending=False, kind="stable").reset_index(drop=True)
    ys = np.arange(len(table))
    scores = table["mAP@all"].to_numpy(dtype=float)
    with _style(font_scale=0.9):
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
    return _finish(fig, path)
