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


# --- inference for claims: hierarchical bootstrap, Holm's adjustment, detectable gain ---------------------------

CLAIM_RESAMPLES = 10_000


@dataclass(frozen=True)
class HierarchicalGain:
    """A paired gain with its hierarchical bootstrap (:func:`hierarchical_bootstrap`): the estimate, the percentile
    interval, the p-value and the bootstrap's standard error."""

    estimate: float
    low: float
    high: float
    p: float
    se: float
    seeds: int
    classes: int
    level: float
    resamples: int
    seed: int
    alternative: str  # "two-sided", or "greater than -margin" for a non-inferiority test
    margin: float

    def to_dict(self) -> dict:
        return asdict(self)


def hierarchical_draws(rng: np.random.Generator, seeds: int, members: Sequence[np.ndarray],
                       resamples: int) -> tuple[np.ndarray, np.ndarray]:
    """The indices of ``resamples`` hierarchical resamples: (resamples, seeds) drawn seeds, and (resamples, L) drawn
    queries, -1 where a row is shorter than L. Each row draws as many classes as there are (``members``: the query
    indices of each class) with replacement and, within each drawn class, as many of its queries as it has, with
    replacement."""
    sizes = np.array([len(m) for m in members])
    if seeds < 1 or len(sizes) == 0 or (sizes == 0).any():
        raise DataError("a hierarchical bootstrap needs at least one seed and classes with at least one query each")
    padded = np.full((len(members), sizes.max()), -1)
    for k, m in enumerate(members):
        padded[k, :len(m)] = m
    seed_draws = rng.integers(0, seeds, size=(resamples, seeds))
    class_draws = rng.integers(0, len(members), size=(resamples, len(members)))
    drawn_sizes = sizes[class_draws]  # (B, C)
    within = (rng.random((resamples, len(members), sizes.max())) * drawn_sizes[..., None]).astype(int)
    queries = padded[class_draws[..., None], within]  # (B, C, max size)
    queries[np.arange(sizes.max()) >= drawn_sizes[..., None]] = -1
    return seed_draws, queries.reshape(resamples, -1)


def hierarchical_statistics(gains: np.ndarray, seed_draws: np.ndarray, query_draws: np.ndarray) -> np.ndarray:
    """The statistic of each resample: the mean of ``gains`` (seeds, queries) over its drawn seeds and its drawn
    queries (every drawn seed read on every drawn query; -1 marks no query)."""
    statistics_ = np.empty(len(seed_draws))
    for start in range(0, len(seed_draws), 256):
        stop = min(len(seed_draws), start + 256)
        seed_means = gains[seed_draws[start:stop]].mean(axis=1)  # (b, Q): each query over the drawn seeds
        drawn = query_draws[start:stop]
        valid = drawn >= 0
        picked = np.take_along_axis(seed_means, np.where(valid, drawn, 0), axis=1)
        statistics_[start:stop] = (picked * valid).sum(axis=1) / valid.sum(axis=1)
    return statistics_


def _class_members(classes: np.ndarray) -> list[np.ndarray]:
    _, inverse = np.unique(classes, return_inverse=True)
    return [np.flatnonzero(inverse == k) for k in range(inverse.max() + 1)]


def _checked_gains(gains, classes) -> tuple[np.ndarray, np.ndarray]:
    gains = np.asarray(gains, dtype=float)
    gains = gains[None] if gains.ndim == 1 else gains
    classes = np.asarray(classes)
    if gains.ndim != 2 or gains.shape[1] != classes.shape[0] or not np.isfinite(gains).all():
        raise DataError(f"paired gains must be finite, shaped (seeds, queries) with one class per query; got "
                        f"{np.shape(gains)} gains and {classes.shape} classes")
    return gains, classes


def hierarchical_replicates(gains, classes, rng: np.random.Generator, resamples: int = CLAIM_RESAMPLES) -> np.ndarray:
    """The bootstrap statistics of the mean paired gain ``gains`` (seeds, queries; seed s of both arms paired),
    resampling seeds, whole classes (``classes``: each query's) and queries within a drawn class."""
    gains, classes = _checked_gains(gains, classes)
    seed_draws, query_draws = hierarchical_draws(rng, gains.shape[0], _class_members(classes), resamples)
    return hierarchical_statistics(gains, seed_draws, query_draws)


def bootstrap_p(replicates: np.ndarray, margin: float | None = None) -> float:
    """The p-value read off bootstrap statistics: two-sided against 0, ``min(1, 2 min(#{g <= 0} + 1, #{g >= 0} + 1)
    / (B + 1))``; with ``margin``, one-sided for non-inferiority, ``(#{g <= -margin} + 1) / (B + 1)``."""
    b = len(replicates)
    if margin is not None:
        return float((np.count_nonzero(replicates <= -margin) + 1) / (b + 1))
    tail = min(np.count_nonzero(replicates <= 0), np.count_nonzero(replicates >= 0)) + 1
    return float(min(1.0, 2 * tail / (b + 1)))


def gain_from_replicates(estimate: float, replicates: np.ndarray, *, seeds: int, classes: int, seed: int,
                         level: float = DEFAULT_LEVEL, margin: float | None = None) -> HierarchicalGain:
    """A :class:`HierarchicalGain` from its point estimate and bootstrap statistics."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return HierarchicalGain(float(estimate), float(low), float(high), bootstrap_p(replicates, margin),
                            float(np.std(replicates, ddof=1)), seeds, classes, level, len(replicates), seed,
                            "two-sided" if margin is None else "greater than -margin", margin or 0.0)


def hierarchical_bootstrap(gains, classes, *, resamples: int = CLAIM_RESAMPLES, level: float = DEFAULT_LEVEL,
                           seed: int = DEFAULT_BOOTSTRAP_SEED, margin: float | None = None) -> HierarchicalGain:
    """The hierarchical bootstrap of a paired gain: ``gains`` (seeds, queries) is full minus variant, seed s against
    seed s, on the same queries; ``classes`` the class of each query. Each resample draws seeds, whole classes and
    queries within each drawn class, all with replacement, seeds and classes crossed. The estimate is the mean gain
    (every query weighs the same); the interval is the percentile interval; the p-value is two-sided against 0, or
    with ``margin`` one-sided for non-inferiority (H0: gain <= -margin)."""
    gains, classes = _checked_gains(gains, classes)
    replicates = hierarchical_replicates(gains, classes, np.random.default_rng(seed), resamples)
    return gain_from_replicates(gains.mean(), replicates, seeds=gains.shape[0], classes=len(np.unique(classes)),
                                seed=seed, level=level, margin=margin)


def pooled_bootstrap(strata: Sequence[tuple[np.ndarray, np.ndarray]], *, resamples: int = CLAIM_RESAMPLES,
                     level: float = DEFAULT_LEVEL, seed: int = DEFAULT_BOOTSTRAP_SEED,
                     margin: float | None = None) -> HierarchicalGain:
    """The pooled gain over ``strata`` (one (gains, classes) pair per split, as :func:`hierarchical_bootstrap`): the
    mean of the strata's mean gains, each stratum weighing the same; each resample draws within every stratum
    independently (stratified) and averages the strata's statistics."""
    rng = np.random.default_rng(seed)
    checked = [_checked_gains(gains, classes) for gains, classes in strata]
    replicates = np.mean([hierarchical_replicates(g, c, rng, resamples) for g, c in checked], axis=0)
    estimate = float(np.mean([g.mean() for g, _ in checked]))
    return gain_from_replicates(estimate, replicates, seeds=min(g.shape[0] for g, _ in checked),
                                classes=sum(len(np.unique(c)) for _, c in checked), seed=seed, level=level,
                                margin=margin)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given: with the m p-values sorted, p(1) <= ... <= p(m), the
    adjusted p(i) = max over j <= i of min(1, (m - j + 1) p(j)). A hypothesis is rejected at family-wise level a
    when its adjusted p-value is below a (Holm 1979)."""
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1 or ((p < 0) | (p > 1)).any():
        raise DataError(f"holm() needs p-values in [0, 1], got {list(pvalues)}")
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted.tolist()


def variance_of_grand_mean(table) -> float:
    """The variance of the mean of a seeds x classes table of mean gains, from the two-way analysis of variance
    without replication (crossed random effects; method-of-moments components, a negative one set to 0):
    [max(MS_seed - MS_res, 0) + max(MS_class - MS_res, 0) + MS_res] / (S C). NaN with one seed or one class."""
    table = np.asarray(table, dtype=float)
    s, c = table.shape
    if s < 2 or c < 2:
        return math.nan
    grand = table.mean()
    seed_effects, class_effects = table.mean(axis=1) - grand, table.mean(axis=0) - grand
    ms_seed = c * (seed_effects ** 2).sum() / (s - 1)
    ms_class = s * (class_effects ** 2).sum() / (c - 1)
    residual = table - grand - seed_effects[:, None] - class_effects[None, :]
    ms_res = (residual ** 2).sum() / ((s - 1) * (c - 1))
    return float((max(ms_seed - ms_res, 0.0) + max(ms_class - ms_res, 0.0) + ms_res) / (s * c))


def detectable_gain(table, *, alpha: float, power: float = 0.8) -> float:
    """The smallest gain a two-sided test at level ``alpha`` detects with probability ``power``, given the seed and
    class variances of ``table`` (seeds x classes of mean gains): (z(1 - alpha/2) + z(power)) x SE with SE^2 from
    :func:`variance_of_grand_mean`. NaN with one seed (the seed variance is unknown)."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf
    return (z(1 - alpha / 2) + z(power)) * math.sqrt(variance_of_grand_mean(table))
