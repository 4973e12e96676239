"""zsb.stats against plain-Python references: seeds, bootstrap intervals and paired differences."""

import math
import statistics

import numpy as np
import pytest

from zsb.errors import DataError
from zsb.stats import (
    ablation_reading,
    ablation_readings,
    bootstrap_ci,
    mean_sd,
    paired_difference,
    reading,
    seed_spread,
    summarise_seeds,
)


def percentile(sorted_values, q):
    """NumPy's default ("linear") percentile, by hand."""
    position = (len(sorted_values) - 1) * q / 100
    below = math.floor(position)
    above = min(below + 1, len(sorted_values) - 1)
    return sorted_values[below] + (sorted_values[above] - sorted_values[below]) * (position - below)


def reference_bootstrap(values, clusters, resamples, level, seed):
    """The same draws as zsb.stats (one block of resamples x units integers from PCG64), averaged in loops."""
    if clusters is None:
        units = [[v] for v in values]
    else:
        order = sorted(set(clusters))
        units = [[v for v, c in zip(values, clusters) if c == name] for name in order]
    drawn = np.random.default_rng(seed).integers(0, len(units), size=(resamples, len(units)))
    means = []
    for row in drawn.tolist():
        total = count = 0.0
        for unit in row:
            total += sum(units[unit])
            count += len(units[unit])
        means.append(total / count)
    means.sort()
    tail = (1 - level) / 2 * 100
    return percentile(means, tail), percentile(means, 100 - tail)


@pytest.mark.parametrize("by_class", [False, True])
def test_bootstrap_matches_a_plain_loop(by_class):
    rng = np.random.default_rng(3)
    values = rng.random(40).tolist()
    clusters = [i % 7 for i in range(40)] if by_class else None
    interval = bootstrap_ci(values, clusters=clusters, resamples=300, level=0.9, seed=11)
    low, high = reference_bootstrap(values, clusters, 300, 0.9, 11)
    assert interval.low == pytest.approx(low, abs=1e-12)
    assert interval.high == pytest.approx(high, abs=1e-12)
    assert interval.estimate == pytest.approx(sum(values) / len(values))
    assert interval.kind == ("class" if by_class else "query")
    assert (interval.resamples, interval.level, interval.seed) == (300, 0.9, 11)


def test_bootstrap_is_reproducible_and_seed_dependent():
    values = np.random.default_rng(0).random(50)
    assert bootstrap_ci(values, seed=5) == bootstrap_ci(values, seed=5)
    assert bootstrap_ci(values, seed=5) != bootstrap_ci(values, seed=6)


def test_many_resamples_are_drawn_in_blocks_with_the_same_distribution(monkeypatch):
    """Resamples are drawn in blocks to bound memory; the interval must not depend on the block size much."""
    import zsb.stats

    values = np.random.default_rng(1).random(100)
    whole = bootstrap_ci(values, resamples=4000, seed=2)
    monkeypatch.setattr(zsb.stats, "_CHUNK_ELEMENTS", 1000)  # 10 resamples per block
    blocks = bootstrap_ci(values, resamples=4000, seed=2)
    assert blocks.low == pytest.approx(whole.low, abs=0.01) and blocks.high == pytest.approx(whole.high, abs=0.01)


def test_seeds_are_averaged_per_query_before_resampling():
    per_seed = np.random.default_rng(4).random((3, 30))
    pooled = bootstrap_ci(per_seed, resamples=200, seed=1)
    assert pooled == bootstrap_ci(per_seed.mean(axis=0), resamples=200, seed=1)
    assert pooled.estimate == pytest.approx(per_seed.mean())


def test_nominal_95_percent_interval_covers_the_truth():
    """Per-query values from a skewed distribution with a known mean (exponential, mean 0.4, clipped like an AP
    would not be: the mean stays exact); 250 replications of 150 queries each."""
    truth, covered, replications = 0.4, 0, 250
    rng = np.random.default_rng(2024)
    for replication in range(replications):
        sample = rng.exponential(truth, size=150)
        interval = bootstrap_ci(sample, resamples=1000, seed=replication)
        covered += interval.low <= truth <= interval.high
    assert 0.90 <= covered / replications <= 0.99


def test_class_bootstrap_covers_the_truth_when_classes_differ():
    """Classes with their own difficulty: the class-level interval covers the population mean; the query-level
    interval, which ignores that queries of one class are alike, is narrower."""
    rng = np.random.default_rng(7)
    truth, covered, narrower, replications = 0.5, 0, 0, 200
    for replication in range(replications):
        class_means = truth + rng.normal(0, 0.15, size=25)
        values = np.repeat(class_means, 20) + rng.normal(0, 0.05, size=500)
        clusters = np.repeat(np.arange(25), 20)
        by_class = bootstrap_ci(values, clusters=clusters, resamples=1000, seed=replication)
        by_query = bootstrap_ci(values, resamples=1000, seed=replication)
        covered += by_class.low <= truth <= by_class.high
        narrower += (by_query.high - by_query.low) < (by_class.high - by_class.low)
    assert 0.88 <= covered / replications <= 0.99  # 25 classes: the percentile interval runs a little short
    assert narrower == replications


def test_paired_difference_is_the_bootstrap_of_the_differences():
    rng = np.random.default_rng(9)
    full = rng.random((2, 60))
    variant = full - 0.05 + rng.normal(0, 0.01, size=(2, 60))
    paired = paired_difference(full, variant, resamples=500, seed=3)
    assert paired == bootstrap_ci(full - variant, resamples=500, seed=3)
    assert paired.estimate == pytest.approx(0.05, abs=0.005)
    assert paired.low > 0 and paired.excludes_zero()
    assert not paired_difference(full, full + rng.normal(0, 0.01, size=(2, 60)), seed=3).low > 0.01


def test_paired_difference_needs_the_same_seeds_and_queries():
    with pytest.raises(DataError, match="same seeds and queries"):
        paired_difference(np.zeros((2, 10)), np.zeros((3, 10)))


def test_bad_values_are_refused():
    for bad in ([], [1.0, float("nan")], np.zeros((2, 3, 4))):
        with pytest.raises(DataError, match="finite per-query values"):
            bootstrap_ci(bad)
    with pytest.raises(DataError, match="clusters"):
        bootstrap_ci([1.0, 2.0], clusters=[0])


def test_seed_summary_matches_statistics():
    per_seed = {2: 0.41, 0: 0.45, 1: 0.43}
    mean, sd = mean_sd(list(per_seed.values()))
    assert mean == statistics.mean([0.41, 0.45, 0.43]) and sd == statistics.stdev([0.41, 0.45, 0.43])
    summary = summarise_seeds(per_seed)
    assert summary["seeds"] == [0, 1, 2] and summary["values"] == [0.45, 0.43, 0.41]
    assert summary["mean"] == mean and summary["sd"] == sd
    assert summarise_seeds({0: 0.5})["sd"] is None and math.isnan(mean_sd([0.5])[1])
    with pytest.raises(DataError):
        mean_sd([])


def test_readings_follow_the_paired_interval_and_the_spread_over_seeds():
    nan = float("nan")
    assert reading(0.01, 0.001, 0.02, 0.005, "triplet") == "full ahead"
    assert reading(-0.01, -0.02, -0.001, 0.005, "triplet") == "triplet ahead"
    assert reading(0.0, -0.01, 0.01, 0.005, "triplet") == "tie"
    assert reading(0.01, 0.001, 0.02, 0.012, "triplet") == "tie"  # within the spread over seeds
    assert reading(-0.01, -0.02, -0.001, 0.012, "triplet") == "tie"
    assert reading(0.01, 0.001, 0.02, nan, "triplet") == "full ahead (1 seed)"
    assert reading(0.0, -0.01, 0.01, nan, "triplet") == "tie"


def test_the_spread_over_seeds_is_the_larger_known_sd_of_the_two_arms():
    nan = float("nan")
    assert seed_spread(0.01, 0.02) == 0.02 and seed_spread(0.03, nan) == 0.03 and seed_spread(None, 0.02) == 0.02
    assert math.isnan(seed_spread(nan, nan)) and math.isnan(seed_spread(None, None))
    full = {"mAP@all sd": 0.004}
    row = {"mAP@all gain": 0.01, "mAP@all gain low": 0.002, "mAP@all gain high": 0.018, "mAP@all sd": 0.012}
    assert ablation_reading(row, full, "mAP@all", "triplet") == "tie"  # the variant's own spread is the larger
    assert ablation_reading({**row, "mAP@all sd": nan}, full, "mAP@all", "triplet") == "full ahead"
    one_seed = {k: v for k, v in row.items() if k != "mAP@all sd"}  # a table of one seed has no sd column
    assert ablation_reading(one_seed, {}, "mAP@all", "triplet") == "full ahead (1 seed)"


def test_every_row_of_an_ablation_table_is_read_against_the_full_methods_row():
    import pandas as pd

    nan = float("nan")
    table = pd.DataFrame({"variant": ["triplet", "full", "frozen"], "mAP@all sd": [nan, 0.004, 0.0],
                          "mAP@all gain": [0.01, nan, 0.30], "mAP@all gain low": [0.002, nan, 0.28],
                          "mAP@all gain high": [0.018, nan, 0.32]})
    assert ablation_readings(table, "mAP@all") == ["full ahead", "", "full ahead"]
    table.loc[1, "mAP@all sd"] = 0.02  # the full method's spread now exceeds the triplet's gain
    assert ablation_readings(table, "mAP@all") == ["tie", "", "full ahead"]
    assert ablation_readings(table.drop(columns="mAP@all sd"), "mAP@all") == ["full ahead (1 seed)", "",
                                                                              "full ahead (1 seed)"]
