"""Zero-shot SBIR retrieval metrics: mAP@all, mAP@K and P@K, exact and vectorised, independent of gallery order.

Each query sketch ranks the whole photo gallery by cosine similarity of L2-normalised embeddings; a gallery item
is relevant when its class label equals the query's. Items of equal similarity (a tied block) have no order of
their own, so every metric is the expectation over the orders of each tied block, all orders equally likely (below);
no value depends on the gallery's order. Without ties this is the plain metric of the one ranking.

Queries are processed in chunks: per chunk one (chunk x N) similarity matrix, one stable sort (for float32 on the
CPU, a faster sort of unique integer keys that gives the same order), and from it the 1-based ranks of the query's
relevant items, r_1 < r_2 < ... < r_R. Every metric follows from those ranks, with precision at the m-th hit
p_m = m / r_m (float64 arithmetic, so the AP values are exact up to rounding):

* "exact" average precision (non-interpolated): AP = (1/R) * sum_m p_m. This equals
  ``sklearn.metrics.average_precision_score(relevance, similarity)`` whenever the similarities have no ties.
* "voc" average precision (interpolated, as in the SAKE / ZSE-SBIR evaluation code): precision is first made
  monotonically non-increasing from the right (the envelope e_m = max_{j >= m} p_j), then the area under the
  recall-precision step curve is taken; recall grows by 1/R at each hit, so AP = (1/R) * sum_m e_m. This is our
  own vectorised form of ``eval_AP_inner`` + ``VOCap`` in SAKE's src/test_cse_resnet_tuberlin_zeroshot.py
  (github.com/qliu24/SAKE, commit 3b32cd5), copied unchanged as ``voc_eval`` + ``voc_ap`` into ZSE-SBIR's
  utils/ap.py (github.com/buptLinfy/ZSE-SBIR, commit 3c6b0d5): their cumulative tp/fp give recall and
  precision, ``VOCap`` pads them with (0, 0) and (1, 0), takes the right-to-left running max of precision and
  sums (recall step) * (envelope) where recall changes. The padded (1, 0) point adds 0, so the two agree.
* mAP@K (both variants) uses the top n = min(K, N) ranks only, normalised by min(n, R) rather than R: the exact
  variant is sum_{m: r_m <= n} p_m / min(n, R); the voc variant takes the envelope over the top n only (precision
  beyond rank n is ignored) and divides by the same min(n, R). This is SAKE's mAP@200 (``top=200``), whose
  voc form is our "mAP@200 (voc)", eccv21's headline.
* "sem-pcyc" mAP@K (SEM-PCYC's evaluation code: scikit-learn's AP on the top-n slice of the ranking): the
  precisions at the hits within the top n are averaged over those hits, AP@K = sum_{m: r_m <= n} p_m / (hits in
  the top n), 0 without a hit. It is a mean over the retrieved relevant items, not over min(n, R), so it is higher
  than the exact mAP@K whenever fewer than min(n, R) relevant items make the top n. Named "mAP@200 (sem-pcyc)";
  it is computed for mAP@K only (for mAP@all it equals the exact AP). Doodle2Search's src/test.py computes
  scikit-learn's mAP@all (our exact mAP@all), and the mAP@200 it holds commented out is this one.
* P@K = (hits among the top n) / n with n = min(K, N): with a gallery smaller than K, SAKE's ``eval_precision``
  divides by the gallery size, and so do we. (ZSE-SBIR's ``precision_eval`` instead averages the top
  min(K, R) items; the two agree whenever the query has at least K relevant gallery items.) Doodle2Search's
  "P@200" is another quantity: in its code it is the relevance (0 or 1) of the single item at rank 201 (0-based
  index 200), averaged over the queries; zsb does not compute it, and its published P@200 numbers are not set
  beside zsb's.
* "sklearn ties" (``SKLEARN_TIES``, mAP@all only, asked for by name): scikit-learn's average_precision_score,
  which takes a tied block as one threshold: each of its k hits gets the precision at the block's end,
  (H + k) / (s + n) (notation below). SEM-PCYC's binary-code mAP@all is this, on exp(-Hamming distance) scores,
  so zsb records it for binary codes as "mAP@all (sklearn ties)". Without ties it equals the exact AP.

Ties. Take a tied block of n items after s items of higher similarity, holding k relevant items after H relevant
items above it; the k hits take a uniformly random k-subset of the places s + 1 ... s + n. A hit at place s + j has
on average 1 + (j - 1)(k - 1)/(n - 1) hits of its block at or above it, so with c = (k - 1)/(n - 1) (0 when n = 1)
and t of the block's places within the top n' (t = n for mAP@all), the block's hits add on average to the exact
AP's sum

    (k/n) sum_{j=1}^{t} (H + 1 + (j - 1) c) / (s + j) = (k/n) [c t + (H + 1 - c (s + 1)) (Har(s + t) - Har(s))],

with the harmonic numbers Har(m) = 1 + 1/2 + ... + 1/m (McSherry and Najork, ECIR 2008, "Computing information
retrieval performance measures efficiently in the presence of tied scores", give the t = n case); each hit of the
block is given 1/k of it, its expected precision within the top n'. A cut at K that splits the block
(s < n' < s + n) is what t < n handles: the exact mAP@K's denominator min(n', R) does not depend on the order. P@K
counts each of the block's hits as in the top with probability t / n. The sem-pcyc mAP@K divides by the number of
hits in the top n', which is random when the cut splits a block of hits: then with x of its k hits among its t
places in the top (hypergeometric), B the expected precision sum of the H hits above the block and F(x) the block's
expected sum given x (the formula above, with x hits over t places), it is sum_x P(x) (B + F(x)) / (H + x).
The interpolated ("voc") AP has no such closed form (the envelope couples every block to all blocks below it),
so zsb defines it under ties as the envelope of the exact variant's per-hit expected precisions (each hit's the
mean over its block, as above), summed and divided like the untied one. It does not depend on the order, equals
SAKE's without ties, is never below the exact AP, and never above SAKE's interpolated AP averaged over the orders
(a max of means is at most the mean of maxes); the tests check the bounds over every order of small cases.
Only the queries where a relevant item ties with another item take this path; the others are computed as without
ties, bit for bit. Exact float32 ties of float embeddings are rare but real (random 512-d embeddings against 17,101
photos: about one query in six has a relevant item tied with another item, moving its AP by around 1e-6); binary
codes tie in large blocks of equal Hamming distance.

Differences from SAKE, on purpose: SAKE ranks with ``np.argsort(-scores)`` (unstable quicksort), so its order of
tied items, and with it its metrics, is arbitrary (ZSE-SBIR's and SEM-PCYC's too; for SEM-PCYC's binary mAP@200 the
top-200 slice itself depends on it); ours is the expectation over those orders. A query with no relevant gallery
item gets NaN there (and is skipped by ``np.nanmean``); here its AP values are 0 (as scikit-learn returns) and a
warning says how many queries are affected, so every query counts in every mean.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from zsb.errors import ConfigError, DataError
from zsb.ties import TiedHits

AP_VARIANTS = ("exact", "voc", "sem-pcyc")
"""The average-precision variants of the real-valued results (see the module docstring); ``evaluate_retrieval``
computes ``DEFAULT_AP_VARIANTS`` unless asked for others."""
SKLEARN_TIES = "sklearn ties"
"""One more variant ``evaluate_retrieval`` accepts: scikit-learn's mAP@all, a tied block as one threshold (binary
codes' "mAP@all (sklearn ties)", as SEM-PCYC computes it)."""
DEFAULT_AP_VARIANTS = ("exact", "voc")
DEFAULT_CHUNK_SIZE = 512


@dataclass(frozen=True)
class RetrievalResult:
    """Per-query retrieval metrics.

    ``per_query`` has one row per query, in query order: "label" (the query's class label) and one float column
    per metric: "mAP@all", "mAP@<K>" (exact AP), "P@<K>", "mAP@all (voc)", "mAP@<K> (voc)" (interpolated AP),
    "mAP@<K> (sem-pcyc)", "mAP@all (sklearn ties)", as requested. The per-query AP values are named "mAP@..." so
    that their means keep the papers' names.
    """

    per_query: pd.DataFrame

    @property
    def metric_names(self) -> list[str]:
        """The metric columns of ``per_query`` (all but "label"), in order."""
        return [name for name in self.per_query.columns if name != "label"]

    def summary(self) -> dict[str, float]:
        """Mean of every metric over all queries (each query weighs the same, as in SAKE and the paper)."""
        return {name: float(self.per_query[name].mean()) for name in self.metric_names}

    def per_class(self) -> pd.DataFrame:
        """One row per query label (sorted): "label", the mean of every metric over that label's queries, and
        "n_queries"."""
        groups = self.per_query.groupby("label", sort=True)
        table = groups[self.metric_names].mean()
        table["n_queries"] = groups.size()
        return table.reset_index()


def evaluate_retrieval(
    query_emb,
    query_labels,
    gallery_emb,
    gallery_labels,
    *,
    precision_ks: Sequence[int] = (10, 25, 100, 200),
    map_ks: Sequence[int] = (200,),
    ap_variants: Sequence[str] = DEFAULT_AP_VARIANTS,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = False,
) -> RetrievalResult:
    """Rank the gallery for every query and compute mAP@all, mAP@K and P@K per query (see the module docstring).

    Args:
        query_emb: (Q, D) query embeddings (torch tensor or numpy array, floating point); L2-normalised here.
        query_labels: (Q,) integer class labels of the queries.
        gallery_emb: (N, D) gallery embeddings, same D.
        gallery_labels: (N,) integer class labels of the gallery; relevant = same label as the query.
        precision_ks: cut-offs K of the P@K columns (default (10, 25, 100, 200)).
        map_ks: cut-offs K of the mAP@K columns, besides mAP@all which is always computed (default (200,)).
        ap_variants: which average precisions: "exact" (non-interpolated), "voc" (interpolated, SAKE's),
            "sem-pcyc" (mAP@K over the hits in the top K, SEM-PCYC's) and/or "sklearn ties" (mAP@all with a tied
            block as one threshold, scikit-learn's) (default exact and voc).
        chunk_size: queries ranked at once (default 512). Memory beyond the inputs is about chunk_size * N * 20
            (float32) to 35 bytes: about 330 MB measured for Sketchy Extended's N = 17,101 photos and 1 GB for
            QuickDraw Extended's 54,151, in float32. Results do not depend on it, bit for bit.
        progress: show a progress bar over the chunks (default False).

    Similarities are computed in float64 when either embedding is float64, else in float32.

    Raises:
        DataError: embeddings or labels of the wrong shape or type, non-finite or all-zero embeddings.
        ConfigError: an unknown AP variant, a cut-off or chunk size that is not a positive integer.
    """
    variants = _check_ap_variants(ap_variants)
    precision_ks = _check_positive_ints(precision_ks, "precision_ks")
    map_ks = _check_positive_ints(map_ks, "map_ks")
    (chunk_size,) = _check_positive_ints((chunk_size,), "chunk_size")

    queries = _as_embeddings(query_emb, "query_emb")
    gallery = _as_embeddings(gallery_emb, "gallery_emb")
    if queries.shape[1] != gallery.shape[1]:
        raise DataError(
            f"query_emb has dimension {queries.shape[1]} but gallery_emb has {gallery.shape[1]}: both must come "
            "from the same embedding model."
        )
    query_label_array = _as_labels(query_labels, "query_labels", len(queries), "query_emb")
    gallery_label_array = _as_labels(gallery_labels, "gallery_labels", len(gallery), "gallery_emb")

    dtype = torch.float64 if torch.float64 in (queries.dtype, gallery.dtype) else torch.float32
    device = queries.device
    queries = F.normalize(queries.to(dtype), dim=1)
    gallery = F.normalize(gallery.to(device, dtype), dim=1)
    query_label_tensor = torch.from_numpy(query_label_array).to(device)
    gallery_label_tensor = torch.from_numpy(gallery_label_array).to(device)

    columns: dict[str, torch.Tensor] = {}  # filled in place: chunks leave no small blocks between their big ones
    n_without_relevant = 0
    starts = range(0, len(queries), chunk_size)
    for start in tqdm(starts, desc="ranking", unit="chunk", ascii=True, disable=not progress):
        chunk_labels = query_label_tensor[start : start + chunk_size]
        ranks, n_relevant, ties = _relevant_ranks(queries[start : start + chunk_size] @ gallery.T, chunk_labels,
                                                  gallery_label_tensor)
        n_without_relevant += int((n_relevant == 0).sum())
        chunk_metrics = _metrics_from_ranks(ranks, n_relevant, ties, len(gallery), precision_ks, map_ks, variants)
        for name, values in chunk_metrics.items():
            if name not in columns:
                columns[name] = torch.empty(len(queries), dtype=torch.float64)
            columns[name][start : start + chunk_size] = values.cpu()

    if n_without_relevant:
        warnings.warn(
            f"{n_without_relevant} of {len(queries)} queries have no relevant gallery item (no gallery item "
            "shares their label); their AP values are 0 and they still count in the means. Check that the "
            "gallery holds every query class.",
            stacklevel=2,
        )
    table = {"label": query_label_array}
    table.update({name: values.numpy() for name, values in columns.items()})
    return RetrievalResult(per_query=pd.DataFrame(table))


def _relevant_ranks(similarity: torch.Tensor, query_labels: torch.Tensor, gallery_labels: torch.Tensor):
    """Rank each row of ``similarity`` (chunk, N) by (similarity desc, gallery index asc) (:func:`_ranking`).

    Returns (ranks, n_relevant, ties): ranks is (chunk, max R) float64 holding, row by row, the ascending 1-based
    ranks of the query's relevant items, padded with +inf; n_relevant (chunk,) is R per query; ties is
    :func:`_tied_blocks`'s (rows, start, size) for the rows where a relevant item ties with another item, or None.
    """
    order = _ranking(similarity)
    relevant = (gallery_labels[None, :] == query_labels[:, None]).gather(1, order)
    rows, columns = relevant.nonzero(as_tuple=True)  # row-major: each row's ranks come out ascending
    n_relevant = torch.bincount(rows, minlength=len(relevant))  # (a row sum of the mask would take 8 bytes an item)
    del relevant
    first_of_row = torch.cumsum(n_relevant, 0) - n_relevant
    hit_index = torch.arange(len(rows), device=rows.device) - first_of_row[rows]
    width = max(1, int(n_relevant.max()))  # at least one (+inf) column, so every row has a last running sum
    ranks = torch.full((len(n_relevant), width), math.inf, dtype=torch.float64, device=similarity.device)
    ranks[rows, hit_index] = (columns + 1).to(torch.float64)
    with _one_thread():
        return ranks, n_relevant, _tied_blocks(similarity, order, ranks)


_TIED_ROWS_AT_ONCE = 64
"""Rows sorted at once for the tie search: bounds its memory to 64 * N * 16 bytes."""


def _tied_blocks(similarity: torch.Tensor, order: torch.Tensor, ranks: torch.Tensor):
    """The rows of the chunk where a relevant item ties with another item, and there the tied block of every
    relevant item: (rows, start, size), start and size (len(rows), max R) float64 like ``ranks[rows]``, where start
    is the number of items ranked strictly above the block and size the number of items in it (its similarity's),
    so the block holds ranks start + 1 ... start + size; N and 1 on the padding. None when no row has such a tie.

    A relevant item ties with another only if it ties with a neighbour in the ranking, which a few gathers check;
    only the rows where one does are sorted and their blocks found by binary search."""
    size = similarity.shape[1]
    padding = torch.isinf(ranks)
    position = (ranks - 1).masked_fill(padding, 0).long()
    around = torch.stack([position - 1, position, position + 1], dim=2).clamp_(0, size - 1).view(len(ranks), -1)
    before, value, after = similarity.gather(1, order.gather(1, around)).view(*ranks.shape, 3).unbind(2)
    tied = ((before == value) & (position > 0)) | ((after == value) & (position < size - 1))
    rows = (tied & ~padding).any(dim=1).nonzero().flatten()
    if len(rows) == 0:
        return None
    padding = padding[rows]
    hit_values = value[rows].neg_().masked_fill_(padding, math.inf)
    start, stop = torch.empty_like(hit_values, dtype=torch.int64), torch.empty_like(hit_values, dtype=torch.int64)
    for batch in torch.arange(len(rows), device=rows.device).split(_TIED_ROWS_AT_ONCE):
        descending = similarity[rows[batch]].gather(1, order[rows[batch]]).neg_()  # ascending, for searchsorted
        start[batch] = torch.searchsorted(descending, hit_values[batch], right=False)
        stop[batch] = torch.searchsorted(descending, hit_values[batch], right=True)
    return rows, start.to(torch.float64), (stop - start).to(torch.float64).masked_fill_(padding, 1.0)


def _ranking(similarity: torch.Tensor) -> torch.Tensor:
    """The gallery indices of each row of ``similarity`` in ranking order: similarity descending, then gallery index
    ascending; ``torch.sort(similarity, dim=1, descending=True, stable=True).indices``, which float64 and GPU
    similarities use.

    A float32 matrix on the CPU is ranked by sorting unique int64 keys with numpy's vectorised sort, several times
    faster than torch's stable sort (the sort is most of the metrics' time: 92,291 x 54,151 similarities at
    QuickDraw Extended's test size): the high 32 bits of a key order the similarity (its float's bits made
    monotone, negated: descending), the low 32 bits are the gallery index. Unique keys make any sort stable; +0.0 and
    -0.0 share a key as they tie in torch.sort. Blocks of rows are sorted in ``torch.get_num_threads()`` threads.
    """
    if similarity.dtype != torch.float32 or similarity.device.type != "cpu" or similarity.shape[1] >= 2**31:
        return torch.sort(similarity, dim=1, descending=True, stable=True).indices
    values = similarity.numpy()
    order = np.empty(values.shape, dtype=np.int64)

    def rank_rows(rows: slice) -> None:
        bits = (values[rows] + np.float32(0.0)).view(np.int32)  # + 0.0 turns -0.0 into +0.0
        negative = bits >> 31
        negative &= 0x7FFFFFFF
        bits ^= negative  # now monotone in the similarity
        del negative
        keys = order[rows]
        np.multiply(bits, -(2**32), out=keys, dtype=np.int64)  # descending
        keys |= np.arange(values.shape[1], dtype=np.int64)
        keys.sort(axis=1)
        keys &= 0xFFFFFFFF

    bounds = np.linspace(0, len(values), min(torch.get_num_threads(), len(values)) + 1).astype(int)
    blocks = [slice(start, stop) for start, stop in pairwise(bounds)]
    with ThreadPoolExecutor(len(blocks)) as pool:
        list(pool.map(rank_rows, blocks))  # numpy releases the GIL in these operations
    return torch.from_numpy(order)


def _metrics_from_ranks(ranks, n_relevant, ties, gallery_size, precision_ks, map_ks,
                        variants) -> dict[str, torch.Tensor]:
    """All requested metrics of a chunk from the ranks of its relevant items (:func:`_relevant_ranks`), in column
    order: exact APs, P@K, voc APs, sem-pcyc APs, the tie-grouped AP; the rows with ties computed again, as
    expectations over the orders of their tied blocks (see the module docstring)."""
    metrics = _rank_metrics(ranks, n_relevant, None, gallery_size, precision_ks, map_ks, variants)
    if ties is not None:
        rows, start, size = ties
        with _one_thread():
            tied = _rank_metrics(ranks[rows], n_relevant[rows], TiedHits(start, size), gallery_size,
                                 precision_ks, map_ks, variants)
            for name, values in tied.items():
                metrics[name][rows] = values
    return metrics


@contextlib.contextmanager
def _one_thread():
    """torch on one CPU thread: the tie checks are many operations on small tensors, for which waking the other
    threads costs more than it saves (much more on a machine whose cores are all busy)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _rank_metrics(ranks, n_relevant, ties: TiedHits | None, gallery_size, precision_ks, map_ks,
                  variants) -> dict[str, torch.Tensor]:
    """:func:`_metrics_from_ranks` of rows without ties (``ties`` None), or with their :class:`TiedHits`."""
    hit_number = torch.arange(1, ranks.shape[1] + 1, dtype=torch.float64, device=ranks.device)
    precision_at_hits = hit_number / ranks  # p_m = m / r_m; 0 on the +inf padding
    n_relevant = n_relevant.to(torch.float64)
    cutoffs = {"all": gallery_size} | {str(k): min(k, gallery_size) for k in map_ks}

    @functools.cache
    def precision_in_top(top: int) -> torch.Tensor:
        """Per hit, its precision if it ranks within the top ``top``, else 0; with ties, the expectation."""
        untied = precision_at_hits.masked_fill(ranks > top, 0.0)
        return untied if ties is None else torch.where(ties.alone, untied, ties.precision_in_top(top))

    def average_precisions(variant: str) -> dict[str, torch.Tensor]:
        suffix = "" if variant == "exact" else f" ({variant})"
        values = {}
        for name, top in cutoffs.items():
            if (variant == "sem-pcyc" and name == "all") or (variant == SKLEARN_TIES and name != "all"):
                continue  # sem-pcyc's mAP@all equals the exact one; scikit-learn's is for mAP@all only
            if variant == SKLEARN_TIES:
                precisions = precision_at_hits if ties is None else ties.precision_at_block_end(precision_at_hits)
            else:
                precisions = precision_in_top(top)
            if variant == "voc":  # right-to-left running max: the interpolated precision envelope
                precisions = torch.cummax(precisions.flip(1), dim=1).values.flip(1)
            if variant == "sem-pcyc":  # over the hits within the top n (in blocks wholly there, with ties)
                within = ranks <= top if ties is None else ties.start + ties.size <= top
                above = _sum_in_rank_order(precisions.masked_fill(~within, 0.0))
                values[f"mAP@{name}{suffix}"] = above / within.sum(dim=1).to(torch.float64).clamp(min=1)
                if ties is not None:
                    ties.sem_pcyc_at_cut(values[f"mAP@{name}{suffix}"], above, top)
            else:
                normaliser = torch.clamp(n_relevant, max=top).clamp(min=1)  # min(n, R); 0 / 1 = 0 when R = 0
                values[f"mAP@{name}{suffix}"] = _sum_in_rank_order(precisions) / normaliser
        return values

    metrics = average_precisions("exact") if "exact" in variants else {}
    for k in precision_ks:
        top = min(k, gallery_size)
        if ties is None:
            metrics[f"P@{k}"] = (ranks <= top).sum(dim=1).to(torch.float64) / top
        else:
            metrics[f"P@{k}"] = ties.in_top(ranks, top).sum(dim=1) / top
    for variant in ("voc", "sem-pcyc", SKLEARN_TIES):
        if variant in variants:
            metrics.update(average_precisions(variant))
    return metrics


def _sum_in_rank_order(values: torch.Tensor) -> torch.Tensor:
    """Row sums accumulated left to right (a running sum), so that the trailing zero padding, whose width depends
    on the chunk, cannot change the rounding: results are bitwise independent of ``chunk_size``."""
    return torch.cumsum(values, dim=1)[:, -1]


def _check_ap_variants(ap_variants) -> tuple[str, ...]:
    variants = (ap_variants,) if isinstance(ap_variants, str) else tuple(ap_variants)
    unknown = [v for v in variants if v not in (*AP_VARIANTS, SKLEARN_TIES)]
    if unknown or not variants:
        raise ConfigError(
            f"ap_variants={ap_variants!r}: choose one or more of {AP_VARIANTS} "
            f'or {SKLEARN_TIES!r} ("exact": non-interpolated AP; "voc": interpolated AP as in SAKE; "sem-pcyc": '
            f'mAP@K over the hits; {SKLEARN_TIES!r}: scikit-learn\'s mAP@all, a tied block as one threshold).'
        )
    return tuple(dict.fromkeys(variants))


def _check_positive_ints(values, name: str) -> tuple[int, ...]:
    values = tuple(values)
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1]
    if bad:
        raise ConfigError(f"{name}={values!r}: every value must be a positive integer (got {bad!r}).")
    return tuple(dict.fromkeys(int(v) for v in values))


def _as_embeddings(values, name: str) -> torch.Tensor:
    """A (rows, D) floating tensor with finite, non-zero rows, detached; DataError otherwise."""
    tensor = values.detach() if isinstance(values, torch.Tensor) else torch.tensor(np.asarray(values))
    if tensor.ndim != 2 or tensor.shape[0] == 0 or tensor.shape[1] == 0:
        raise DataError(f"{name} must be a non-empty 2-D array (items, dimension); got shape {tuple(tensor.shape)}.")
    if not tensor.is_floating_point():
        raise DataError(f"{name} must hold floating-point embeddings; got dtype {tensor.dtype}.")
    if tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.float()
    if not bool(torch.isfinite(tensor).all()):
        rows = torch.nonzero(~torch.isfinite(tensor).all(dim=1)).flatten()[:5].tolist()
        raise DataError(f"{name} has NaN or infinite values (rows {rows}...); check the model's outputs.")
    zero_rows = torch.nonzero(~tensor.any(dim=1)).flatten()
    if len(zero_rows):
        raise DataError(
            f"{name} has {len(zero_rows)} all-zero rows (first: {zero_rows[:5].tolist()}); cosine similarity is "
            "undefined for them."
        )
    return tensor


def _as_labels(values, name: str, expected_length: int, embedding_name: str) -> np.ndarray:
    """A 1-D int64 numpy array of ``expected_length`` labels; DataError otherwise."""
    array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{name} must be 1-D (one label per item); got shape {array.shape}.")
    if array.dtype.kind not in "iu":
        raise DataError(f"{name} must hold integer class labels; got dtype {array.dtype}.")
    if len(array) != expected_length:
        raise DataError(
            f"{name} has {len(array)} labels but {embedding_name} has {expected_length} rows: "
            "they must describe the same items, in the same order."
        )
    return array.astype(np.int64)


def metric_header(name: str) -> str:
    """A metric's column header with its AP variant named, as tables show it: ``"mAP@all"`` -> ``"mAP@all
    (exact)"``, ``"mAP@all (voc)"`` -> ``"mAP@all (VOC)"``, ``"mAP@200 (sem-pcyc)"`` -> ``"mAP@200 (SEM-PCYC)"``,
    ``"mAP@all (sklearn ties)"`` as it is; a statistic named after the metric keeps its suffix (``"mAP@all sd"`` ->
    ``"mAP@all (exact) sd"``); P@K, and anything that is not a metric name, is returned as it is."""
    match = re.fullmatch(rf"(mAP@(?:all|\d+))(?: \((voc|sem-pcyc|{SKLEARN_TIES})\))?((?: [^(].*)?)", name)
    if match is None:
        return name
    variant = {None: "exact", "voc": "VOC", "sem-pcyc": "SEM-PCYC"}.get(match.group(2), match.group(2))
    return f"{match.group(1)} ({variant}){match.group(3)}"
