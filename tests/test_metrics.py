"""zsb.metrics against hand-computed values, scikit-learn and slow plain-Python references."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score

from zsb.errors import ConfigError, DataError
from zsb.metrics import RetrievalResult, _ranking, evaluate_retrieval

KS = (1, 3, 10, 40, 500)  # 500 > gallery size; 1, 3 < #relevant for most queries; 40 > #relevant for rare classes


# ---------------------------------------------------------------- slow plain-Python references


def reference_ranking(similarities: list[float]) -> list[int]:
    """Gallery indices by (similarity descending, index ascending)."""
    return sorted(range(len(similarities)), key=lambda j: (-similarities[j], j))


def reference_exact_ap(relevance: list[bool], top: int) -> float:
    """Non-interpolated AP over the first ``top`` ranks: sum of precision at each hit / min(top, #relevant)."""
    hits, total = 0, 0.0
    for rank, is_relevant in enumerate(relevance[:top], start=1):
        if is_relevant:
            hits += 1
            total += hits / rank
    normaliser = min(top, sum(relevance))
    return total / normaliser if normaliser else 0.0


def reference_voc_ap(relevance: list[bool], top: int) -> float:
    """SAKE's interpolated AP, written as its recall/precision step curve: pad recall with 0 and 1 and precision
    with 0 and 0, take the right-to-left running max of precision, sum (recall step) * precision where recall
    changes."""
    normaliser = min(top, sum(relevance))
    if normaliser == 0:
        return 0.0
    recall, precision, hits = [0.0], [0.0], 0
    for rank, is_relevant in enumerate(relevance[:top], start=1):
        hits += is_relevant
        recall.append(hits / normaliser)
        precision.append(hits / rank)
    recall.append(1.0)
    precision.append(0.0)
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    return sum((recall[i] - recall[i - 1]) * precision[i] for i in range(1, len(recall)) if recall[i] != recall[i - 1])


def reference_metrics(query_emb, query_labels, gallery_emb, gallery_labels, ks) -> pd.DataFrame:
    """Per-query metrics by plain loops; embeddings are used as given (callers pass unit vectors)."""
    rows = []
    gallery_size, gallery_labels = len(gallery_labels), gallery_labels.tolist()
    for query, label in zip(query_emb.tolist(), query_labels.tolist()):
        similarities = [sum(a * b for a, b in zip(query, item)) for item in gallery_emb.tolist()]
        relevance = [gallery_labels[j] == label for j in reference_ranking(similarities)]
        row = {"label": label, "mAP@all": reference_exact_ap(relevance, gallery_size)}
        row.update({f"mAP@{k}": reference_exact_ap(relevance, min(k, gallery_size)) for k in ks})
        row.update({f"P@{k}": sum(relevance[:k]) / min(k, gallery_size) for k in ks})
        row["mAP@all (voc)"] = reference_voc_ap(relevance, gallery_size)
        row.update({f"mAP@{k} (voc)": reference_voc_ap(relevance, min(k, gallery_size)) for k in ks})
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- data


def tied_unit_vectors(n: int, generator: torch.Generator, dim: int = 8) -> torch.Tensor:
    """Quantised unit vectors: four entries +-1/2, the rest 0. Dot products are multiples of 1/4, computed
    exactly in any order, so similarities tie often and exactly (only 9 distinct values)."""
    vectors = torch.zeros(n, dim, dtype=torch.float64)
    for row in range(n):
        support = torch.randperm(dim, generator=generator)[:4]
        signs = torch.randint(0, 2, (4,), generator=generator) * 2 - 1
        vectors[row, support] = 0.5 * signs.to(torch.float64)
    return vectors


def imbalanced_labels(generator: torch.Generator) -> torch.Tensor:
    """Gallery of 150: class 0 once, class 1 twice, class 2 five times, classes 3..5 share the rest."""
    rest = torch.randint(3, 6, (142,), generator=generator)
    labels = torch.cat([torch.tensor([0, 1, 1, 2, 2, 2, 2, 2]), rest])
    return labels[torch.randperm(len(labels), generator=generator)]


@pytest.fixture(scope="module")
def tied_problem():
    generator = torch.Generator().manual_seed(0)
    gallery_labels = imbalanced_labels(generator)
    query_labels = torch.arange(6).repeat(5)  # every class, rare ones included
    return (tied_unit_vectors(30, generator), query_labels, tied_unit_vectors(150, generator), gallery_labels)


def evaluate_all(problem, **kwargs) -> RetrievalResult:
    return evaluate_retrieval(*problem, precision_ks=KS, map_ks=KS, **kwargs)


# ---------------------------------------------------------------- tests


def test_hand_computed_example():
    """Ranked relevance [1, 0, 1]: AP = (1 + 2/3) / 2. Ranked relevance [0, 1, 0, 1, 1]: precisions at the hits
    1/2, 2/4, 3/5, so exact AP = 8/15; the envelope raises all three to 3/5, so voc AP = 3/5; within the top 4
    both are (1/2 + 2/4) / min(4, 3) = 1/3; P@2 = 1/2."""
    query = torch.tensor([[1.0, 0.0]])
    gallery = torch.tensor([[math.cos(0.1 * i), math.sin(0.1 * i)] for i in range(5)])  # similarity falls with i
    first = evaluate_retrieval(query, [1], gallery[:3], [1, 0, 1], precision_ks=(2,), map_ks=(2,))
    assert first.per_query.loc[0, "mAP@all"] == pytest.approx((1 + 2 / 3) / 2)
    second = evaluate_retrieval(query, [1], gallery, [0, 1, 0, 1, 1], precision_ks=(2,), map_ks=(4,))
    row = second.per_query.loc[0]
    assert row["mAP@all"] == pytest.approx(8 / 15)
    assert row["mAP@all (voc)"] == pytest.approx(3 / 5)
    assert row["mAP@4"] == pytest.approx(1 / 3)
    assert row["mAP@4 (voc)"] == pytest.approx(1 / 3)
    assert row["P@2"] == pytest.approx(1 / 2)


def test_columns_follow_the_contract():
    generator = torch.Generator().manual_seed(1)
    result = evaluate_retrieval(torch.randn(4, 5, generator=generator), [0, 1, 0, 1],
                                torch.randn(9, 5, generator=generator), [0, 1, 0, 1, 0, 1, 0, 1, 0])
    assert list(result.per_query.columns) == [
        "label", "mAP@all", "mAP@200", "P@10", "P@25", "P@100", "P@200", "mAP@all (voc)", "mAP@200 (voc)"]
    assert list(result.summary()) == result.metric_names == list(result.per_query.columns[1:])


def test_exact_ap_equals_sklearn_without_ties():
    generator = torch.Generator().manual_seed(2)
    queries, gallery = torch.randn(40, 16, generator=generator, dtype=torch.float64), torch.randn(
        300, 16, generator=generator, dtype=torch.float64)
    query_labels = torch.arange(40) % 5
    gallery_labels = torch.cat([torch.arange(5), torch.randint(0, 5, (295,), generator=generator)])
    result = evaluate_retrieval(queries, query_labels, gallery, gallery_labels, chunk_size=16)

    unit = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True))  # noqa: E731
    similarity = unit(queries.numpy()) @ unit(gallery.numpy()).T
    assert all(len(np.unique(row)) == len(row) for row in similarity)  # the premise: no ties
    expected = [average_precision_score(gallery_labels.numpy() == label, row)
                for label, row in zip(query_labels.numpy(), similarity)]
    np.testing.assert_allclose(result.per_query["mAP@all"], expected, rtol=0, atol=1e-12)


def test_all_metrics_equal_plain_python_reference_with_ties(tied_problem):
    similarity = tied_problem[0] @ tied_problem[2].T
    assert len(torch.unique(similarity)) <= 9  # the premise: heavy, exact ties
    result = evaluate_all(tied_problem, chunk_size=7)
    expected = reference_metrics(*tied_problem, KS)
    pd.testing.assert_frame_equal(result.per_query, expected[result.per_query.columns], check_exact=False,
                                  rtol=0, atol=1e-12)
    # the references differ where the envelope matters, so the comparison above tells the variants apart
    assert (expected["mAP@all (voc)"] > expected["mAP@all"] + 1e-6).any()


def test_ties_rank_lower_gallery_index_first():
    """All similarities equal: the ranking is the gallery order, relevance [0, 1, 1] -> AP = (1/2 + 2/3) / 2."""
    result = evaluate_retrieval(torch.ones(1, 3), [7], torch.ones(3, 3), [2, 7, 7], precision_ks=(1,), map_ks=(1,))
    row = result.per_query.loc[0]
    assert row["mAP@all"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert row["P@1"] == 0.0 and row["mAP@1"] == 0.0


def test_chunk_size_does_not_change_results(tied_problem):
    reference = evaluate_all(tied_problem, chunk_size=1000).per_query
    for chunk_size in (1, 4, 29):
        pd.testing.assert_frame_equal(evaluate_all(tied_problem, chunk_size=chunk_size).per_query, reference,
                                      check_exact=True)


def test_numpy_float32_inputs_match_torch_float64_inputs(tied_problem):
    """The tied vectors are exact in float32 too, so the rankings (and all metrics) must be identical."""
    as_numpy = [x.numpy() for x in tied_problem]
    as_numpy[0], as_numpy[2] = as_numpy[0].astype(np.float32), as_numpy[2].astype(np.float32)
    pd.testing.assert_frame_equal(evaluate_all(as_numpy).per_query, evaluate_all(tied_problem).per_query)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_float32_ranking_by_sorted_keys_equals_torch_stable_sort(threads):
    """Float32 similarities on the CPU are ranked by sorting int64 keys with numpy (zsb.metrics._ranking), float64
    ones with torch's stable sort: the same order, ties (+0.0 and -0.0 among them) by gallery index, extremes and
    denormals in place, whatever the number of threads."""
    generator = torch.Generator().manual_seed(0)
    similarity = torch.randn(67, 1001, generator=generator)
    similarity[:, ::3] = similarity[:, :1].clone()  # exact ties within rows
    similarity[:, 1::5], similarity[:, 2::5] = 0.0, -0.0
    similarity[1::2] = similarity[:1].clone()  # and equal rows
    similarity[-1, :6] = torch.tensor([3.4e38, -3.4e38, 1e-45, -1e-45, 1.0, -1.0])
    expected = torch.sort(similarity, dim=1, descending=True, stable=True).indices
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert torch.equal(_ranking(similarity), expected)
        assert torch.equal(_ranking(similarity[:1]), expected[:1])
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(_ranking(similarity.double()), expected)


def test_per_class_and_summary_equal_pandas_groupby(tied_problem):
    result = evaluate_all(tied_problem)
    per_query = result.per_query
    grouped = per_query.groupby("label")
    expected = grouped.mean()
    expected["n_queries"] = grouped.size()
    pd.testing.assert_frame_equal(result.per_class(), expected.reset_index())
    assert result.summary() == pytest.approx(per_query.drop(columns="label").mean().to_dict(), abs=1e-15)


def test_query_without_relevant_item_scores_zero_with_a_warning():
    generator = torch.Generator().manual_seed(3)
    with pytest.warns(UserWarning, match="1 of 3 queries have no relevant gallery item"):
        result = evaluate_retrieval(torch.randn(3, 4, generator=generator), [0, 1, 9],
                                    torch.randn(6, 4, generator=generator), [0, 1, 0, 1, 0, 1],
                                    precision_ks=(2,), map_ks=(2,))
    assert (result.per_query.drop(columns="label").loc[2] == 0.0).all()
    assert (result.per_query.loc[:1, "mAP@all"] > 0).all()


def test_no_warning_when_every_query_has_a_relevant_item(tied_problem):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate_all(tied_problem)


def test_single_variant_and_cutoff_selection(tied_problem):
    voc_only = evaluate_retrieval(*tied_problem, precision_ks=(5,), map_ks=(), ap_variants=("voc",))
    assert list(voc_only.per_query.columns) == ["label", "P@5", "mAP@all (voc)"]
    full = evaluate_all(tied_problem)
    np.testing.assert_array_equal(voc_only.per_query["mAP@all (voc)"], full.per_query["mAP@all (voc)"])


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"query_emb": torch.ones(2, 4)}, DataError, "dimension 4 but gallery_emb has 3"),
        ({"query_labels": [0, 1, 2]}, DataError, "query_labels has 3 labels but query_emb has 2 rows"),
        ({"gallery_labels": [[0], [1], [0]]}, DataError, "must be 1-D"),
        ({"gallery_labels": [0.0, 1.0, 0.0]}, DataError, "integer class labels"),
        ({"query_emb": torch.ones(3)}, DataError, "2-D"),
        ({"gallery_emb": torch.zeros(3, 3)}, DataError, "all-zero rows"),
        ({"gallery_emb": torch.full((3, 3), math.nan)}, DataError, "NaN"),
        ({"query_emb": torch.ones(2, 3, dtype=torch.int64)}, DataError, "floating-point"),
        ({"ap_variants": ("exact", "11point")}, ConfigError, "choose one or more of"),
        ({"precision_ks": (10, 0)}, ConfigError, "positive integer"),
        ({"map_ks": (2.5,)}, ConfigError, "positive integer"),
        ({"chunk_size": 0}, ConfigError, "positive integer"),
    ],
)
def test_bad_input_is_reported(change, error, message):
    arguments = {"query_emb": torch.ones(2, 3), "query_labels": [0, 1], "gallery_emb": torch.eye(3),
                 "gallery_labels": [0, 1, 0]} | change
    with pytest.raises(error, match=message):
        evaluate_retrieval(**arguments)


def test_sem_pcyc_map_at_k_equals_a_plain_loop(tied_problem):
    """SEM-PCYC's mAP@K: precision at each hit within the top K, averaged over those hits (0 without one)."""
    queries, query_labels, gallery, gallery_labels = tied_problem
    result = evaluate_retrieval(queries, query_labels, gallery, gallery_labels, precision_ks=(), map_ks=(3, 7),
                                ap_variants=("sem-pcyc",), chunk_size=5)
    assert list(result.per_query.columns) == ["label", "mAP@3 (sem-pcyc)", "mAP@7 (sem-pcyc)"]
    similarity = (torch.nn.functional.normalize(torch.as_tensor(queries, dtype=torch.float64), dim=1)
                  @ torch.nn.functional.normalize(torch.as_tensor(gallery, dtype=torch.float64), dim=1).T)
    for q in range(len(similarity)):
        order = sorted(range(similarity.shape[1]), key=lambda j: (-float(similarity[q, j]), j))
        for k in (3, 7):
            hits, precisions = 0, []
            for rank, j in enumerate(order[:k], start=1):
                if int(gallery_labels[j]) == int(query_labels[q]):
                    hits += 1
                    precisions.append(hits / rank)
            expected = sum(precisions) / len(precisions) if precisions else 0.0
            assert result.per_query[f"mAP@{k} (sem-pcyc)"][q] == pytest.approx(expected, abs=1e-12)
