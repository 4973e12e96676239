"""Ranking a gallery for each query sketch (cosine similarity, fp16 candidates then fp32), and the ranked lists
written as ``zsb search`` writes them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import torch

from zsb.data.datasets import read_image
from zsb.errors import ConfigError
from zsb.io import atomic_write_text
from zsb.report.viz.images import plot_search
from zsb.search.index import GalleryIndex
from zsb.search.searcher import Searcher

FP16_MARGIN = 4e-3
"""Candidates: every photo whose fp16 similarity is within this of the top-th best (fp16 rounds a cosine in
[-1, 1] by at most 2.5e-4, so none of the exact top is missed)."""


def check_request(queries: Sequence[str | os.PathLike], top: int) -> None:
    """A DataError for a query that is missing or not an image, a ConfigError for ``top`` below 1: before any
    gallery is indexed."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"top must be a positive integer (photos listed per query), got {top!r}.")
    if not queries:
        raise ConfigError("give at least one query sketch.")
    for query in queries:
        read_image(query, "query")


def search(searcher: Searcher, gallery: GalleryIndex, queries: Sequence[str | os.PathLike],
           top: int = 10) -> pd.DataFrame:
    """The ``top`` photos most similar to each query sketch (fewer in a smaller gallery): columns query, rank
    (1: most similar), path, similarity (cosine)."""
    queries = list(dict.fromkeys(str(query) for query in queries))
    check_request(queries, top)
    embedded, _ = searcher.embed(queries, desc="queries")
    rows = []
    for query, vector in zip(queries, embedded):
        ranked, similarity = rank_gallery(gallery.embeddings, vector, top)
        rows += [{"query": query, "rank": rank, "path": gallery.paths[i], "similarity": s}
                 for rank, (i, s) in enumerate(zip(ranked.tolist(), similarity.tolist()), start=1)]
    return pd.DataFrame(rows, columns=["query", "rank", "path", "similarity"])


def rank_gallery(gallery: torch.Tensor, query: torch.Tensor, top: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows of ``gallery`` (N, dim, fp16) with the ``top`` highest cosine similarities to the unit vector
    ``query``, highest first, ties in row order, and those similarities (fp32)."""
    query = query.float()
    top = min(top, len(gallery))
    coarse = (gallery @ query.to(gallery.dtype)).float()
    threshold = coarse.topk(top).values[-1] - FP16_MARGIN
    candidates = (coarse >= threshold).nonzero().flatten()
    exact = (gallery[candidates].float() * query).sum(dim=1)  # row by row: equal rows, equal similarities
    order = torch.sort(exact, descending=True, stable=True).indices[:top]
    return candidates[order], exact[order]


def write_results(results: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
    """For each query of :func:`search`'s ``results``, ``<stem>_ranked.csv`` (rank, path, similarity) and
    ``<stem>_ranked.png`` (the sketch and its ranked photos) in ``out_dir``; a name taken already (by an earlier
    query, or by a query file itself) gets ``-2``, ``-3``, ... The CSV's paths are relative to its own folder, so it
    names no machine's absolute paths and stays valid when that folder and the gallery move together. The files
    written."""
    out, written = Path(out_dir), []
    taken = {Path(query).resolve() for query in results["query"].unique()}
    for query, rows in results.groupby("query", sort=False):
        stem = name = f"{Path(query).stem}_ranked"
        copy = 1
        while {(out / f"{name}.csv").resolve(), (out / f"{name}.png").resolve()} & taken:
            copy += 1
            name = f"{stem}-{copy}"
        files = [out / f"{name}.csv", out / f"{name}.png"]
        taken.update(file.resolve() for file in files)
        table = rows[["rank", "path", "similarity"]].assign(path=[_seen_from(out, path) for path in rows["path"]])
        atomic_write_text(files[0], table.to_csv(index=False, float_format="%.6f"))
        plt.close(plot_search(query, rows["path"].tolist(), rows["similarity"].tolist(), path=files[1]))
        written += files
    return written


def _seen_from(folder: Path, path: str) -> str:
    """``path`` relative to ``folder`` (POSIX separators), or as it is where none exists (another Windows drive)."""
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:
        return path
