"""The embedding space drawn in two dimensions: t-SNE of sketches and photos, by class and domain."""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from zsb.domains import DOMAIN_NAMES, PHOTO, SKETCH
from zsb.errors import ConfigError
from zsb.report.viz.base import DOMAIN_MARKERS, finish, style, to_numpy


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

    points = to_numpy(embeddings, "embeddings").astype(np.float64)
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
        labels = to_numpy(labels, f"labels of panel {title!r}").astype(int).ravel()
        domains = to_numpy(domains, f"domains of panel {title!r}").astype(int).ravel()
        n = to_numpy(embeddings, f"embeddings of panel {title!r}").shape[0]
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
    with style():
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
    return finish(fig, path)
