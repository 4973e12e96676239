"""Spread and uncertainty of retrieval results: seeds, bootstrap intervals and paired comparisons.

Every headline metric of zsb (mAP@all, mAP@200, P@100, ...) is a mean over queries of a per-query value
(``per_query.csv`` of an evaluation). Two sources of uncertainty are reported:

* **Seeds** (training randomness): the mean and sample standard deviation of a metric over training seeds
  (:func:`mean_sd`, ``statistics.mean`` / ``statistics.stdev``; the sd of one seed is undefined, ``nan``).
* **Queries** (which sketches happened to be drawn): a percentile bootstrap over queries (:func:`bootstrap_ci`).
  With several seeds, each query's value is first averaged over the seeds (the pooled interval), so the interval
  describes the mean over seeds. The class-level bootstrap (``clusters=``) resamples whole classes instead: the
  queries of one class are not independent (they share a gallery and a class-specific difficulty), so it is the
  more honest interval for a claim about unseen classes in general; it is also much wider with 20 to 25 classes.

Paired comparisons (:func:`paired_difference`) take the per-query difference of two methods on the same seeds and
the same queries and bootstrap its mean. That interval knows nothing of training randomness, so a comparison is read
"spread before claims" (:func:`reading`): a component "earns its place" when the interval of ``full - variant`` lies
above 0 **and** the gain exceeds the spread over seeds; otherwise it is a tie.

Every interval records its resamples, level, RNG seed and kind, so it can be recomputed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from zsb.errors import DataError

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95
DEFAULT_BOOTSTRAP_SEED = 0
_CHUNK_ELEMENTS = 4_000_000  # resampled indices drawn at once (bounds memory at QuickDraw's 92,291 queries)


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval of a mean: the point estimate, its bounds and how they were drawn."""

    estimate: float
    low: float
    high: float
    level: float
    resamples: int
    seed: int
    kind: str  # "query" (resample queries) or "class" (resample whole classes)

    def to_dict(self) -> dict:
        return asdict(self)

    def excludes_zero(self) -> bool:
        """Whether the whole interval lies above 0 (or below 0)."""
        return self.low > 0 or self.high < 0


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1 in the denominator) of ``values``; sd is ``nan`` for one value."""
    values = [float(v) for v in values]
    if not values:
        raise DataError("mean_sd() needs at least one value (one per seed)")
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else math.nan)


def bootstrap_ci(
    values: np.ndarray | Sequence[float],
    *,
    clusters: np.ndarray | Sequence | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> Interval:
    """Percentile bootstrap interval of the mean of per-query ``values``.

    Args:
        values: (Q,) per-query values, or (S, Q) for S seeds on the same queries (each query is averaged over the
            seeds first: the pooled interval of the mean over seeds).
        clusters: (Q,) the class of each query: resample whole classes (the class-level bootstrap) and weigh each
            drawn class by its number of queries; ``None`` resamples single queries.
        resamples: bootstrap resamples (default 2000).
        level: coverage of the interval (default 0.95: the 2.5th and 97.5th percentiles).
        seed: seed of the resampling RNG (NumPy's PCG64); the same seed gives the same interval.
    """
    per_query = _per_query(values)
    if resamples < 1 or not 0 < level < 1:
        raise DataError(f"bootstrap needs resamples >= 1 and 0 < level < 1 (got {resamples}, {level})")
    rng = np.random.default_rng(seed)
    if clusters is None:
        sums, counts, kind = per_query, np.ones_like(per_query), "query"
    else:
        clusters = np.asarray(clusters)
        if clusters.shape != per_query.shape:
            raise DataError(f"clusters has shape {clusters.shape} but there are {per_query.shape[0]} queries")
        _, inverse = np.unique(clusters, return_inverse=True)
        sums = np.bincount(inverse, weights=per_query)
        counts = np.bincount(inverse).astype(float)
        kind = "class"
    units = len(sums)
    chunk = max(1, _CHUNK_ELEMENTS // units)
    means = np.empty(resamples)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        drawn = rng.integers(0, units, size=(stop - start, units))
        means[start:stop] = sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(per_query.mean()), float(low), float(high), level, resamples, seed, kind)


def paired_difference(
    first: np.ndarray | Sequence[float],
    second: np.ndarray | Sequence[float],
    **bootstrap: object,
) -> Interval:
    """Bootstrap interval of the mean paired difference ``first - second``: both (Q,) or (S, Q) per-query values
    of two methods on the same seeds (rows) and the same queries (columns); ``bootstrap`` as :func:`bootstrap_ci`."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if first.shape != second.shape:
        raise DataError(
            f"a paired comparison needs the same seeds and queries on both sides, got shapes {first.shape} and "
            f"{second.shape}"
        )
    return bootstrap_ci(first - second, **bootstrap)


def _per_query(values: np.ndarray | Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 2:
        array = array.mean(axis=0)
    if array.ndim != 1 or array.size == 0 or not np.isfinite(array).all():
        raise DataError(f"bootstrap needs finite per-query values, shape (Q,) or (seeds, Q); got {np.shape(values)}")
    return array


def summarise_seeds(per_seed: Mapping[int, float]) -> dict:
    """``{"seeds": [...], "values": [...], "mean": ..., "sd": ...}`` of one metric over seeds (sd ``None`` for
    one seed, so that the record is valid JSON)."""
    seeds = sorted(per_seed)
    mean, sd = mean_sd([per_seed[s] for s in seeds])
    return {"seeds": seeds, "values": [per_seed[s] for s in seeds], "mean": mean, "sd": None if math.isnan(sd) else sd}


def seed_spread(*sds: float | None) -> float:
    """The spread over seeds a comparison is held against: the largest of the arms' sds over seeds that is known
    (``None`` and NaN are not), NaN when none is (one seed on each side)."""
    known = [float(sd) for sd in sds if sd is not None and not math.isnan(sd)]
    return max(known) if known else math.nan


def reading(gain: float, low: float, high: float, spread: float, variant: str) -> str:
    """What a paired gain of the full method over ``variant`` (full minus variant) and its 95% interval over queries
    say, held against ``spread`` (:func:`seed_spread`; NaN when unknown). The interval over queries knows nothing of
    training randomness, so "spread before claims":

    * "tie" when the interval contains 0, or when the gain is no larger than the spread over seeds;
    * "full ahead" (the component earns its place) or "<variant> ahead" otherwise; "... (1 seed)" when the spread
      over seeds is not known yet (one seed on each side): a reading of one training run each, provisional."""
    if low <= 0 <= high or abs(gain) <= spread:
        return "tie"
    ahead = "full ahead" if low > 0 else f"{variant} ahead"
    return f"{ahead} (1 seed)" if math.isnan(spread) else ahead


def ablation_reading(row: Mapping, full: Mapping, metric: str, variant: str) -> str:
    """:func:`reading` of ``variant``'s row of an ablation table (:func:`zsb.run.stages.ablation`: ``<metric> gain``,
    ``gain low``, ``gain high`` and ``sd``) against the full method's row, on ``metric``."""
    spread = seed_spread(row.get(f"{metric} sd"), full.get(f"{metric} sd"))
    return reading(row[f"{metric} gain"], row[f"{metric} gain low"], row[f"{metric} gain high"], spread, variant)


def ablation_readings(table, metric: str) -> list[str]:
    """:func:`ablation_reading` of every row of an ablation table (a DataFrame with a ``variant`` column) on
    ``metric``, in row order; ``""`` for a row without a gain (the full method's own)."""
    rows = [row.to_dict() for _, row in table.iterrows()]
    full = next((row for row in rows if row["variant"] == "full"), {})

    def has_gain(row: Mapping) -> bool:
        gain = row.get(f"{metric} gain")
        return gain is not None and not math.isnan(gain)

    return [ablation_reading(row, full, metric, str(row["variant"])) if has_gain(row) else "" for row in rows]
