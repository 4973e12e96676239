"""zsb.metrics against hand-computed values, scikit-learn and slow plain-Python references."""

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score

from zsb.errors import ConfigError, DataError
from zsb.metrics import (
    AP_VARIANTS,
    SKLEARN_TIES,
    RetrievalResult,
    _ranking,
    evaluate_retrieval,
    metric_header,
)
from zsb.ties import harmonic_between

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


def reference_sem_pcyc_ap(relevance: list[bool], top: int) -> float:
    """SEM-PCYC's AP@K: precision at each hit within the top ``top``, averaged over those hits (0 without one)."""
    hits, precisions = 0, []
    for rank, is_relevant in enumerate(relevance[:top], start=1):
        if is_relevant:
            hits += 1
            precisions.append(hits / rank)
    return sum(precisions) / len(precisions) if precisions else 0.0


def tie_orders(similarities: list[float], relevance: list[bool]):
    """Every ranking of one query: the distinct similarities descending, and within each tied block every
    permutation (itertools.permutations, so each of the prod(n_b!) orders once); yields the relevance in rank
    order."""
    blocks = [[relevance[j] for j in range(len(similarities)) if similarities[j] == value]
              for value in sorted(set(similarities), reverse=True)]
    for arrangement in itertools.product(*(itertools.permutations(block) for block in blocks)):
        yield [is_relevant for block in arrangement for is_relevant in block]


def expected_metrics_over_all_orders(similarities: list[float], relevance: list[bool], ks) -> dict[str, float]:
    """Every metric averaged over all orders of the tied blocks (:func:`tie_orders`). The interpolated ("voc") AP
    follows zsb's definition under ties: for the m-th hit, its precision when it ranks within the top n (else 0)
    averaged over the orders and then over the hits of its tied block; the envelope of those (running max from the
    right), summed over the hits and divided by min(n, R). "(voc, per order)" is SAKE's interpolated AP averaged
    over the orders, for bounds."""
    size, n_relevant = len(relevance), sum(relevance)
    tops = {"all": size} | {str(k): min(k, size) for k in ks}
    totals: dict[str, float] = {}
    hit_totals = {name: [0.0] * n_relevant for name in tops}  # per hit number m: sum over orders of its precision
    orders = 0
    for ranked in tie_orders(similarities, relevance):
        orders += 1
        row = {f"mAP@{name}": reference_exact_ap(ranked, top) for name, top in tops.items()}
        row |= {f"P@{k}": sum(ranked[:k]) / min(k, size) for k in ks}
        row |= {f"mAP@{k} (sem-pcyc)": reference_sem_pcyc_ap(ranked, min(k, size)) for k in ks}
        row |= {f"mAP@{name} (voc, per order)": reference_voc_ap(ranked, top) for name, top in tops.items()}
        for name, value in row.items():
            totals[name] = totals.get(name, 0.0) + value
        hit_ranks = [rank for rank, is_relevant in enumerate(ranked, start=1) if is_relevant]
        for name, top in tops.items():
            for m, rank in enumerate(hit_ranks):
                hit_totals[name][m] += (m + 1) / rank if rank <= top else 0.0
    expected = {name: total / orders for name, total in totals.items()}
    block_of_hit = [value for value in sorted(set(similarities), reverse=True)  # the m-th hit's block, any order
                    for j in range(size) if similarities[j] == value and relevance[j]]
    for name, top in tops.items():
        per_hit = [total / orders for total in hit_totals[name]]
        averaged = [np.mean([per_hit[i] for i in range(n_relevant) if block_of_hit[i] == block])
                    for block in block_of_hit]
        envelope = [max(averaged[m:]) for m in range(n_relevant)]
        expected[f"mAP@{name} (voc)"] = sum(envelope) / min(top, n_relevant) if n_relevant else 0.0
    return expected


def expected_metrics_over_random_orders(similarities: np.ndarray, relevance: np.ndarray, ks, orders: int, seed: int):
    """Mean and standard error over ``orders`` random orders of the tied blocks (numpy, all orders at once) of the
    exact APs, P@K and SEM-PCYC's AP@K."""
    levels = np.unique(-similarities, return_inverse=True)[1].reshape(-1)  # 0 for the highest similarity
    keys = levels[None, :] + np.random.default_rng(seed).random((orders, len(levels)))  # ties in random order
    ranked = relevance[np.argsort(keys, axis=1)]
    size, n_relevant = len(relevance), int(relevance.sum())
    hits = np.cumsum(ranked, axis=1)
    precision = np.where(ranked, hits / np.arange(1, size + 1), 0.0)
    samples = {}
    for name, top in ({"all": size} | {str(k): min(k, size) for k in ks}).items():
        samples[f"mAP@{name}"] = precision[:, :top].sum(axis=1) / max(min(top, n_relevant), 1)
    for k in ks:
        top = min(k, size)
        samples[f"P@{k}"] = hits[:, top - 1] / top
        samples[f"mAP@{k} (sem-pcyc)"] = precision[:, :top].sum(axis=1) / np.maximum(hits[:, top - 1], 1)
    return {name: (values.mean(), values.std() / math.sqrt(orders)) for name, values in samples.items()}


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


@pytest.fixture(scope="module")
def untied_problem():
    """Like ``tied_problem`` but with random unit vectors: no two similarities of a query are equal."""
    generator = torch.Generator().manual_seed(4)
    queries = torch.nn.functional.normalize(torch.randn(30, 6, generator=generator, dtype=torch.float64), dim=1)
    gallery = torch.nn.functional.normalize(torch.randn(150, 6, generator=generator, dtype=torch.float64), dim=1)
    assert all(len(torch.unique(row)) == len(row) for row in queries @ gallery.T)  # the premise: no ties
    return queries, torch.arange(6).repeat(5), gallery, imbalanced_labels(generator)


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


def test_all_metrics_equal_plain_python_reference_without_ties(untied_problem):
    result = evaluate_all(untied_problem, chunk_size=7)
    expected = reference_metrics(*untied_problem, KS)
    pd.testing.assert_frame_equal(result.per_query, expected[result.per_query.columns], check_exact=False,
                                  rtol=0, atol=1e-12)
    # the references differ where the envelope matters, so the comparison above tells the variants apart
    assert (expected["mAP@all (voc)"] > expected["mAP@all"] + 1e-6).any()


def small_tied_problem(seed: int):
    """8 gallery items drawn from 4 quantised unit vectors (blocks of tied similarities, at most 8! orders)."""
    generator = torch.Generator().manual_seed(seed)
    pool = tied_unit_vectors(4, generator)
    gallery = pool[torch.randint(0, 4, (8,), generator=generator)]
    queries = tied_unit_vectors(6, generator)
    return queries, torch.arange(6) % 3, gallery, torch.randint(0, 3, (8,), generator=generator)


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_ties_score_the_mean_over_all_their_orders(seed):
    """Every metric equals its value averaged over all orders of the tied blocks (itertools.permutations); the
    interpolated AP its definition under ties, between the exact AP and SAKE's interpolated AP averaged over the
    orders; "mAP@all (sklearn ties)" scikit-learn's average_precision_score."""
    ks = (1, 2, 3, 5, 20)  # cuts inside tied blocks, and beyond the gallery
    problem = small_tied_problem(seed)
    result = evaluate_retrieval(*problem, precision_ks=ks, map_ks=ks, ap_variants=(*AP_VARIANTS, SKLEARN_TIES),
                                chunk_size=4).per_query
    similarity = (problem[0] @ problem[2].T).tolist()
    split = 0
    for q, row in enumerate(similarity):
        relevance = [int(label) == int(problem[1][q]) for label in problem[3]]
        expected = expected_metrics_over_all_orders(row, relevance, ks)
        for name in result.columns.drop(["label", "mAP@all (sklearn ties)"]):
            assert result.loc[q, name] == pytest.approx(expected[name], abs=1e-12), (q, name)
        for name in ["mAP@all"] + [f"mAP@{k}" for k in ks]:
            voc = result.loc[q, f"{name} (voc)"]
            assert expected[name] - 1e-12 <= voc <= expected[f"{name} (voc, per order)"] + 1e-12, (q, name)
        sklearn = average_precision_score(relevance, row) if any(relevance) else 0.0
        assert result.loc[q, "mAP@all (sklearn ties)"] == pytest.approx(sklearn, abs=1e-12)
        ranked = sorted(row, reverse=True)
        split += any(ranked[k - 1] == ranked[k] for k in (1, 2, 3, 5))
    assert split  # the premise: some cut splits a tied block


def test_ties_score_the_mean_over_random_orders(tied_problem):
    """On the larger tied problem (blocks of dozens of items, too many orders to list): the exact APs, P@K and
    SEM-PCYC's AP@K lie within 5 standard errors of their mean over 4,000 random tie orders."""
    result = evaluate_retrieval(*tied_problem, precision_ks=KS, map_ks=KS, ap_variants=AP_VARIANTS).per_query
    similarity = (tied_problem[0] @ tied_problem[2].T).numpy()
    gallery_labels = tied_problem[3].numpy()
    worst = 0.0
    for q, label in enumerate(tied_problem[1].tolist()):
        expected = expected_metrics_over_random_orders(similarity[q], gallery_labels == label, KS, 4000, seed=q)
        for name, (mean, standard_error) in expected.items():
            assert abs(result.loc[q, name] - mean) <= 5 * standard_error + 1e-12, (q, name)
            worst = max(worst, standard_error)
    assert worst > 0  # the premise: tie orders differ, so the comparison is a real one


def test_shuffling_the_gallery_changes_no_value():
    """6 distinct gallery embeddings shared by 5 classes (heavy ties): every per-query value of every metric is the
    same, bit for bit, whatever the gallery order."""
    generator = torch.Generator().manual_seed(5)
    pool = tied_unit_vectors(6, generator)
    gallery = pool[torch.randint(0, 6, (300,), generator=generator)]
    gallery_labels = torch.randint(0, 5, (300,), generator=generator)
    queries, query_labels = pool[torch.randint(0, 6, (40,), generator=generator)], torch.arange(40) % 5
    options = {"precision_ks": (10, 100), "map_ks": (10, 50, 200), "ap_variants": (*AP_VARIANTS, SKLEARN_TIES)}
    reference = evaluate_retrieval(queries, query_labels, gallery, gallery_labels, **options).per_query
    moved = 0.0
    for _ in range(5):
        order = torch.randperm(300, generator=generator)
        shuffled = evaluate_retrieval(queries, query_labels, gallery[order], gallery_labels[order], **options)
        pd.testing.assert_frame_equal(shuffled.per_query, reference, check_exact=True)
        by_index = [reference_exact_ap([gallery_labels[j] == query_labels[q] for j in
                                        reference_ranking((queries[q] @ gallery[order].T).tolist())], 300)
                    for q in range(len(queries))]
        moved = max(moved, float(np.max(np.abs(np.array(by_index) - reference["mAP@all"].to_numpy()))))
    assert moved > 0.01  # the premise: breaking ties by gallery index would move APs


def test_a_tied_block_scores_its_expectation():
    """All similarities equal, relevance [0, 1, 1]: the hits' places {1, 2}, {1, 3} and {2, 3} are equally likely,
    with AP 1, 5/6 and 7/12, so AP = 29/36; P@1 = mAP@1 = 2/3; within the top 2 their precision sums are 2, 1 and
    1/2 over 2, 1 and 1 hits there; scikit-learn's AP, one threshold at recall 1 and precision 2/3, is 2/3."""
    result = evaluate_retrieval(torch.ones(1, 3), [7], torch.ones(3, 3), [2, 7, 7], precision_ks=(1,), map_ks=(1, 2),
                                ap_variants=(*AP_VARIANTS, SKLEARN_TIES))
    row = result.per_query.loc[0]
    assert row["mAP@all"] == pytest.approx(29 / 36) and row["mAP@all (voc)"] == pytest.approx(29 / 36)
    assert row["P@1"] == pytest.approx(2 / 3) and row["mAP@1"] == pytest.approx(2 / 3)
    assert row["mAP@2"] == pytest.approx((2 + 1 + 1 / 2) / 3 / 2)
    assert row["mAP@2 (sem-pcyc)"] == pytest.approx((2 / 2 + 1 / 1 + (1 / 2) / 1) / 3)
    assert row["mAP@all (sklearn ties)"] == pytest.approx(2 / 3)


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


def test_sem_pcyc_map_at_k_equals_a_plain_loop(untied_problem):
    """SEM-PCYC's mAP@K: precision at each hit within the top K, averaged over those hits (0 without one)."""
    queries, query_labels, gallery, gallery_labels = untied_problem
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


def test_metric_header_names_every_variant():
    assert [metric_header(name) for name in ("mAP@all", "mAP@200 (voc)", "mAP@200 (sem-pcyc)", "mAP@all (sklearn ties)",
                                             "mAP@all (sklearn ties) sd", "P@100")] == [
        "mAP@all (exact)", "mAP@200 (VOC)", "mAP@200 (SEM-PCYC)", "mAP@all (sklearn ties)",
        "mAP@all (sklearn ties) sd", "P@100"]


def test_a_tied_block_far_down_the_ranking_scores_its_expectation():
    """A block of 6 tied items (3 relevant) after 70 items of distinct similarity, with cuts inside it: every metric
    equals its mean over the block's 720 orders (the harmonic sums there start past 64, where zsb uses their
    asymptotic expansion)."""
    rng = np.random.default_rng(7)
    x = np.concatenate([np.linspace(5.0, 1.0, 70), np.full(6, 0.5), np.linspace(0.4, -3.0, 24)])
    gallery = torch.tensor(np.stack([x, np.ones_like(x)], axis=1))  # similarity to (1, 0): x / sqrt(x^2 + 1)
    labels = torch.tensor(np.concatenate([rng.integers(0, 2, 70), [0, 1, 0, 1, 1, 0], rng.integers(0, 2, 24)]))
    ks = (72, 74, 76, 90)
    result = evaluate_retrieval(torch.tensor([[1.0, 0.0]], dtype=torch.float64), [1], gallery, labels,
                                precision_ks=ks, map_ks=ks, ap_variants=(*AP_VARIANTS, SKLEARN_TIES)).per_query
    similarity = torch.nn.functional.normalize(gallery, dim=1)[:, 0].tolist()
    assert len(set(similarity)) == 95  # the premise: one block of 6, the rest alone
    relevance = (labels == 1).tolist()
    expected = expected_metrics_over_all_orders(similarity, relevance, ks)
    for name in result.columns.drop(["label", "mAP@all (sklearn ties)"]):
        assert result.loc[0, name] == pytest.approx(expected[name], abs=1e-12), name
    assert result.loc[0, "mAP@all (sklearn ties)"] == pytest.approx(average_precision_score(relevance, similarity),
                                                                     abs=1e-12)


def test_harmonic_sums_equal_math_fsum():
    cases = [(s, t) for s in (0, 1, 63, 64, 65, 1000, 17100, 54150) for t in (0, 1, 2, 63, 64, 500, 3000)]
    start, places = (torch.tensor(column, dtype=torch.float64) for column in zip(*cases))
    for (s, t), value in zip(cases, harmonic_between(start, places).tolist()):
        assert value == pytest.approx(math.fsum(1 / (s + j) for j in range(1, t + 1)), rel=1e-13, abs=0)
