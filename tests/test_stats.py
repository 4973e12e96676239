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


# --- hierarchical bootstrap, Holm, detectable gain ---------------------------------------------------------------

from zsb.stats import (  # noqa: E402
    bootstrap_p,
    detectable_gain,
    hierarchical_bootstrap,
    hierarchical_draws,
    hierarchical_statistics,
    holm,
    pooled_bootstrap,
    variance_of_grand_mean,
)


def unequal_classes():
    """Three classes of 4, 2 and 3 queries, not in order."""
    classes = np.array([2, 0, 0, 1, 0, 2, 1, 0, 2])
    members = [np.flatnonzero(classes == k) for k in range(3)]
    return classes, members


def test_hierarchical_draws_take_whole_classes_and_queries_within_them():
    classes, members = unequal_classes()
    seeds, queries = hierarchical_draws(np.random.default_rng(1), 4, members, 500)
    assert seeds.shape == (500, 4) and seeds.min() == 0 and seeds.max() == 3
    for row in queries:
        drawn = row[row >= 0]
        # the row is made of blocks, one per drawn class, each as long as that class, from that class only
        blocks = [row[k * 4:(k + 1) * 4] for k in range(3)]
        for block in blocks:
            block = block[block >= 0]
            assert len(set(classes[block])) == 1 and len(block) == len(members[classes[block[0]]])
        assert len(drawn) == sum(len(members[classes[b[b >= 0][0]]]) for b in blocks)
    counts = np.bincount(queries[queries >= 0], minlength=len(classes))
    # every query is drawn about as often as any other (each class: 1/3 a slot, each query: 1/size of its class)
    expected = 500 * 3 * (1 / 3)
    assert np.allclose(counts, expected, rtol=0.2)


def test_hierarchical_statistics_match_a_plain_loop():
    classes, members = unequal_classes()
    rng = np.random.default_rng(2)
    gains = rng.normal(size=(3, len(classes)))
    seeds, queries = hierarchical_draws(rng, 3, members, 300)
    fast = hierarchical_statistics(gains, seeds, queries)
    for b in range(300):
        total, count = 0.0, 0
        for s in seeds[b]:
            for q in queries[b]:
                if q >= 0:
                    total += gains[s, q]
                    count += 1
        assert fast[b] == pytest.approx(total / count, abs=1e-12)


def plain_hierarchical_se(gains, classes, resamples, seed):
    """The bootstrap's standard error by a plain-Python loop with Python's own generator."""
    import random

    rng = random.Random(seed)
    by_class = {}
    for q, c in enumerate(classes):
        by_class.setdefault(c, []).append(q)
    labels = list(by_class)
    stats_ = []
    for _ in range(resamples):
        drawn_seeds = [rng.randrange(len(gains)) for _ in gains]
        drawn_queries = []
        for _ in labels:
            members = by_class[rng.choice(labels)]
            drawn_queries += [rng.choice(members) for _ in members]
        stats_.append(statistics.mean(gains[s][q] for s in drawn_seeds for q in drawn_queries))
    return statistics.stdev(stats_)


def test_the_hierarchical_standard_error_matches_a_plain_python_bootstrap():
    rng = np.random.default_rng(3)
    classes = np.repeat(np.arange(8), 5)
    class_effect = rng.normal(0, 0.05, 8)[classes]
    gains = 0.02 + class_effect + rng.normal(0, 0.03, (3, 1)) + rng.normal(0, 0.02, (3, 40))
    fast = hierarchical_bootstrap(gains, classes, resamples=4000, seed=0)
    slow = plain_hierarchical_se(gains.tolist(), classes.tolist(), 1500, seed=0)
    assert fast.estimate == pytest.approx(gains.mean())
    assert fast.se == pytest.approx(slow, rel=0.12)
    assert fast.low < fast.estimate < fast.high and (fast.seeds, fast.classes) == (3, 8)


def test_the_hierarchical_interval_is_wider_than_the_query_interval_when_seeds_and_classes_vary():
    rng = np.random.default_rng(4)
    classes = np.repeat(np.arange(10), 10)
    gains = rng.normal(0, 0.05, 10)[classes] + rng.normal(0, 0.03, (4, 1)) + rng.normal(0, 0.01, (4, 100))
    hierarchical = hierarchical_bootstrap(gains, classes, resamples=2000)
    queries = paired_difference(gains, np.zeros_like(gains))
    assert hierarchical.high - hierarchical.low > 2 * (queries.high - queries.low)


def test_bootstrap_p_values_count_the_replicates_as_a_loop_does():
    replicates = np.random.default_rng(5).normal(0.01, 0.01, 999)
    below = sum(1 for g in replicates if g <= 0)
    above = sum(1 for g in replicates if g >= 0)
    assert bootstrap_p(replicates) == pytest.approx(min(1, 2 * (min(below, above) + 1) / 1000))
    assert bootstrap_p(replicates, margin=0.01) == pytest.approx((sum(1 for g in replicates if g <= -0.01) + 1) / 1000)
    assert bootstrap_p(np.zeros(99)) == 1.0  # every replicate on both sides


def test_the_p_value_rejects_a_real_gain_and_not_a_null_one():
    rng = np.random.default_rng(6)
    classes = np.repeat(np.arange(20), 10)
    noise = rng.normal(0, 0.01, (5, 200))
    assert hierarchical_bootstrap(0.02 + noise, classes, resamples=2000).p < 0.01
    assert hierarchical_bootstrap(noise - noise.mean(), classes, resamples=2000).p > 0.5
    assert hierarchical_bootstrap(-0.005 + noise, classes, resamples=2000, margin=0.01).p < 0.01  # non-inferior
    assert hierarchical_bootstrap(-0.02 + noise, classes, resamples=2000, margin=0.01).p > 0.5


def test_a_pooled_bootstrap_of_one_stratum_is_its_hierarchical_bootstrap_and_of_several_their_mean():
    rng = np.random.default_rng(7)
    classes = np.repeat(np.arange(5), 4)
    a, b = rng.normal(0.01, 0.02, (2, 20)), rng.normal(0.03, 0.02, (2, 20))
    assert pooled_bootstrap([(a, classes)], resamples=500, seed=3) == hierarchical_bootstrap(a, classes, resamples=500,
                                                                                             seed=3)
    pooled = pooled_bootstrap([(a, classes), (b, classes)], resamples=500)
    assert pooled.estimate == pytest.approx((a.mean() + b.mean()) / 2) and pooled.classes == 10


def plain_holm(pvalues):
    """Holm's step-down procedure by hand: the adjusted p-value of each hypothesis, in the order given."""
    m = len(pvalues)
    ranked = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for step, i in enumerate(ranked):
        running = max(running, min(1.0, (m - step) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def test_holm_matches_the_worked_example_and_a_plain_loop():
    # The worked example of the Holm-Bonferroni method (four hypotheses, family-wise 0.05): H1 and H4 are rejected.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [p < 0.05 for p in adjusted] == [True, False, False, True]
    rng = np.random.default_rng(8)
    for _ in range(50):
        p = rng.uniform(0, 0.2, rng.integers(1, 16)).tolist()
        assert holm(p) == pytest.approx(plain_holm(p))
    with pytest.raises(DataError):
        holm([0.5, 1.5])


def plain_anova_variance(table):
    s, c = len(table), len(table[0])
    grand = sum(map(sum, table)) / (s * c)
    rows = [sum(r) / c for r in table]
    cols = [sum(table[i][j] for i in range(s)) / s for j in range(c)]
    ms_rows = c * sum((r - grand) ** 2 for r in rows) / (s - 1)
    ms_cols = s * sum((k - grand) ** 2 for k in cols) / (c - 1)
    ms_res = sum((table[i][j] - rows[i] - cols[j] + grand) ** 2 for i in range(s) for j in range(c)) / ((s - 1) * (c - 1))
    return (max(ms_rows - ms_res, 0) + max(ms_cols - ms_res, 0) + ms_res) / (s * c)


def test_the_variance_of_the_grand_mean_matches_a_plain_anova_and_the_truth():
    rng = np.random.default_rng(9)
    table = rng.normal(size=(5, 25))
    assert variance_of_grand_mean(table) == pytest.approx(plain_anova_variance(table.tolist()))
    assert math.isnan(variance_of_grand_mean(table[:1]))
    # crossed random effects: seed sd 0.02, class sd 0.04, residual sd 0.01; var of the grand mean is known
    s, c = 5, 25
    truth = 0.02 ** 2 / s + 0.04 ** 2 / c + 0.01 ** 2 / (s * c)
    estimates, means = [], []
    for _ in range(3000):
        sim = rng.normal(0, 0.02, (s, 1)) + rng.normal(0, 0.04, (1, c)) + rng.normal(0, 0.01, (s, c))
        estimates.append(variance_of_grand_mean(sim))
        means.append(sim.mean())
    assert statistics.mean(estimates) == pytest.approx(truth, rel=0.08)
    assert statistics.variance(means) == pytest.approx(truth, rel=0.08)


def test_the_detectable_gain_is_detected_with_the_stated_power():
    from statistics import NormalDist

    table = np.random.default_rng(10).normal(size=(5, 25)) * 0.02
    se = math.sqrt(variance_of_grand_mean(table))
    gain = detectable_gain(table, alpha=0.05 / 15)
    assert gain == pytest.approx((NormalDist().inv_cdf(1 - 0.05 / 30) + NormalDist().inv_cdf(0.8)) * se)
    # a normal estimate centred on that gain with that SE exceeds the two-sided critical value 80% of the time
    critical = NormalDist().inv_cdf(1 - 0.05 / 30) * se
    assert 1 - NormalDist(gain, se).cdf(critical) == pytest.approx(0.8)
    assert math.isnan(detectable_gain(table[:1], alpha=0.05))
