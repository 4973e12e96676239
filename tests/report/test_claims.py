"""zsb.report.claims: the analysis plan's family, pairing, inference and verdict words, on run folders written here."""

import math

import numpy as np
import pandas as pd
import pytest

from zsb import stats
from zsb.report import claims

CLASSES = np.repeat(np.arange(5), 4)
"""The test class of each of the 20 queries of the runs written here."""


def write_run(runs, split, variant, seed, values):
    folder = claims.run_folder(runs / split, variant, seed)
    folder.dir.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"query": range(len(CLASSES)), "label": CLASSES})
    frame[claims.headline(split)] = values
    frame.to_csv(folder.per_query_path(), index=False)
    folder.metrics_path().write_text("{}")


def values(rng, mean):
    return mean + rng.normal(0, 0.05, 5)[CLASSES] + rng.normal(0, 0.01, len(CLASSES))


def test_the_family_holds_each_claims_variant_on_each_split_once():
    members = claims.family()
    assert len(members) == 15 == len(set(members))
    assert ("eccv21", "no_knowledge", False) in members  # claims 1 and 4 share it
    assert [ni for _, v, ni in members if v == "online_teacher"] == [True] * 3
    assert {claims.headline(s) for s in claims.SPLITS} == {"mAP@all", "mAP@200 (voc)", "mAP@all (voc)"}


def gain(low, high, estimate=None):
    mid = (low + high) / 2 if estimate is None else estimate
    return stats.HierarchicalGain(mid, low, high, 0.01, 0.01, 5, 25, 0.95, 100, 0, "two-sided", 0.0)


@pytest.mark.parametrize("interval, adjusted_p, ni, word", [
    ((0.01, 0.03), 0.01, False, "supported"),
    ((0.01, 0.03), 0.06, False, "not shown"),  # the interval alone is not enough after the correction
    ((-0.01, 0.03), 0.01, False, "not shown"),
    ((-0.03, -0.01), 0.01, False, "contradicted"),
    ((-0.03, -0.01), 0.2, False, "not shown"),
    ((-0.005, 0.02), 0.01, True, "supported"),  # non-inferior: above -margin
    ((-0.015, 0.02), 0.01, True, "not shown"),
    ((-0.04, -0.02), 0.5, True, "contradicted"),  # below -margin
])
def test_the_verdict_words_are_the_plans(interval, adjusted_p, ni, word):
    assert claims.verdict(gain(*interval), adjusted_p, ni) == word


def test_a_comparison_pairs_seed_s_with_seed_s_on_the_seeds_both_have(tmp_path):
    rng = np.random.default_rng(0)
    full = {s: values(rng, 0.5 + 0.01 * s) for s in range(3)}
    variant = {s: values(rng, 0.48) for s in range(2)}
    for s, v in full.items():
        write_run(tmp_path, "sempcyc25", "full", s, v)
    for s, v in variant.items():
        write_run(tmp_path, "sempcyc25", "triplet", s, v)
    gains, classes, seeds = claims.paired_gains(tmp_path / "sempcyc25", "sempcyc25", "triplet")
    assert seeds == [0, 1] and np.array_equal(classes, CLASSES)
    assert np.allclose(gains, np.stack([full[s] - variant[s] for s in (0, 1)]))
    comparison = claims.compare(tmp_path / "sempcyc25", "sempcyc25", "triplet", False, 15)
    assert comparison.gain == stats.hierarchical_bootstrap(gains, CLASSES, resamples=claims.RESAMPLES,
                                                           seed=claims.BOOTSTRAP_SEED)
    assert comparison.detectable == pytest.approx(stats.detectable_gain(
        claims.class_table(gains, CLASSES), alpha=0.05 / 15, power=0.8))
    assert claims.compare(tmp_path / "sempcyc25", "sempcyc25", "no_knowledge", False, 15) is None


def test_the_class_table_is_each_classes_mean_gain_per_seed():
    gains = np.arange(40, dtype=float).reshape(2, 20)
    table = claims.class_table(gains, CLASSES)
    for s in range(2):
        for c in range(5):
            assert table[s, c] == pytest.approx(np.mean([gains[s, q] for q in range(20) if CLASSES[q] == c]))


def test_judge_adjusts_the_family_with_holm_and_pools_each_variant_over_the_splits(tmp_path):
    rng = np.random.default_rng(1)
    for split in claims.SPLITS:
        for s in (0, 1):
            write_run(tmp_path, split, "full", s, values(rng, 0.5))
            write_run(tmp_path, split, "online_teacher", s, values(rng, 0.47))
            write_run(tmp_path, split, "no_knowledge", s, values(rng, 0.5))
    judgement = claims.judge(tmp_path)
    assert [(c.split, c.variant) for c in judgement.comparisons] == [
        (s, v) for s, v, _ in claims.family() if v in ("no_knowledge", "online_teacher")]
    assert [c.adjusted_p for c in judgement.comparisons] == pytest.approx(
        stats.holm([c.gain.p for c in judgement.comparisons]))
    assert all(c.verdict == claims.verdict(c.gain, c.adjusted_p, c.non_inferiority) for c in judgement.comparisons)
    pooled = judgement.find("pooled", "online_teacher")
    assert pooled.gain.estimate == pytest.approx(np.mean(
        [judgement.find(s, "online_teacher").gain.estimate for s in claims.SPLITS]))
    assert pooled.non_inferiority and pooled.gain.alternative == "greater than -margin"
    assert judgement.find("pooled", "triplet") is None
    assert judgement.runs_done == 18 and not judgement.final
    text = claims.claims_markdown(judgement, "gains.png")
    assert "**Interim**: 18 of the design's 90 trained runs exist" in text
    assert "| 2 | sake25 | triplet | 0 | mAP@all (VOC) | not run yet |" in text
    shown = [c for c in judgement.comparisons if c.verdict == "not shown"]
    assert shown and all(f"| {c.verdict} | {c.detectable:.4f} |" in text for c in shown)
    figure = claims.plot_claims(judgement, tmp_path / "claims.png")
    assert [ax.get_title() for ax in figure.axes] == list(claims.SPLITS) and (tmp_path / "claims.png").stat().st_size
    sentences = claims.claim_sentences(judgement)
    assert len(sentences) == 4 and sentences[1].endswith("triplet: not run on every split yet.")
    assert "no_knowledge on eccv21: gain" in sentences[3]


def test_one_seed_has_no_detectable_gain_and_says_so(tmp_path):
    rng = np.random.default_rng(2)
    write_run(tmp_path, "eccv21", "full", 0, values(rng, 0.5))
    write_run(tmp_path, "eccv21", "triplet", 0, values(rng, 0.5))
    judgement = claims.judge(tmp_path)
    (comparison,) = judgement.comparisons
    assert math.isnan(comparison.detectable)
    if comparison.verdict == "not shown":
        assert "| not shown | unknown (1 seed) |" in claims.comparisons_table(judgement)


SKETCHY_MINI = __import__("pathlib").Path(__file__).resolve().parents[3] / "shared" / "data" / "sketchy-mini"


def test_the_knowledge_gain_per_class_is_each_classes_paired_mean_beside_its_overlap(tmp_path):
    from zsb.data.imagenet import split_overlap

    rng = np.random.default_rng(3)
    names = ["bat", "cabin", "cow", "dolphin", "songbird"]  # eccv21 test classes
    full = {s: values(rng, 0.5) for s in (0, 1)}
    other = {s: values(rng, 0.49) for s in (0, 1)}
    for s in (0, 1):
        write_run(tmp_path, "eccv21", "full", s, full[s])
        write_run(tmp_path, "eccv21", "no_knowledge", s, other[s])
    table = claims.run_folder(tmp_path / "eccv21", "full", 0).table("per_class_ap").with_suffix(".csv")
    table.parent.mkdir(parents=True)
    pd.DataFrame({"class_name": names, "label": range(5)}).to_csv(table, index=False)
    by_class = claims.knowledge_by_class(tmp_path, SKETCHY_MINI)
    categories = split_overlap("sketchy_mini", SKETCHY_MINI, "eccv21")
    assert list(by_class["class_name"]) == names and set(by_class["split"]) == {"eccv21"}
    for row in by_class.itertuples():
        members = CLASSES == names.index(row.class_name)
        assert row.gain == pytest.approx(np.mean([full[s][members] - other[s][members] for s in (0, 1)]))
        assert row.low <= row.gain <= row.high and row.category == categories[row.class_name]
    by_category = claims.knowledge_by_category(by_class)
    for row in by_category.itertuples():
        assert row.gain == pytest.approx(by_class.loc[by_class["category"] == row.category, "gain"].mean())
        assert row.classes == (by_class["category"] == row.category).sum()
    text = claims.exploratory_markdown(by_class, "k.png")
    assert "**Exploratory, not a claim.**" in text and "](k.png)" in text
    figure = claims.plot_knowledge_by_overlap(by_class, tmp_path / "k.png")
    assert figure.axes and (tmp_path / "k.png").stat().st_size
