"""ITQ binary codes against a plain NumPy reference, Hamming ranking against brute-force loops and random orders of
its ties, and the fit on the seen classes' training embeddings only."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score
from test_metrics import expected_metrics_over_random_orders

from zsb.binary import ITQ, as_signed, fit_itq, hamming_distances, pack
from zsb.errors import DataError
from zsb.metrics import AP_VARIANTS, SKLEARN_TIES, evaluate_retrieval


def reference_itq(x, bits, iterations, seed):
    """Gong and Lazebnik's procedure written out: PCA by SVD of the centred data (signs fixed like zsb's: the
    largest component of each direction positive), random orthogonal start, then alternate B = sign(V R) and the
    Procrustes step R = W U^T from svd(B^T V) = U S W^T."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    directions = vt[:bits].T.copy()
    for j in range(bits):
        if directions[np.abs(directions[:, j]).argmax(), j] < 0:
            directions[:, j] *= -1
    v = (x - mean) @ directions
    rotation, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((bits, bits)))
    for _ in range(iterations):
        z = v @ rotation
        b = np.empty_like(z)
        for i in range(z.shape[0]):
            for j in range(z.shape[1]):
                b[i, j] = 1.0 if z[i, j] >= 0 else -1.0
        u, _, wt = np.linalg.svd(b.T @ v)
        rotation = wt.T @ u.T
    return mean, directions, rotation


def clustered(n, dim, classes, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)) * 2
    labels = rng.integers(0, classes, n)
    return centres[labels] + rng.standard_normal((n, dim)), labels


def test_itq_matches_the_reference_procedure():
    x, _ = clustered(120, 12, 5, seed=1)
    itq = fit_itq(x, bits=8, iterations=20, seed=3)
    mean, directions, rotation = reference_itq(x, 8, 20, 3)
    assert np.allclose(itq.mean, mean) and np.allclose(itq.projection, directions, atol=1e-8)
    assert np.allclose(itq.rotation, rotation, atol=1e-6)
    reference_codes = (x - mean) @ directions @ rotation >= 0
    assert (itq.encode(x) == reference_codes).all()
    assert np.allclose(itq.rotation @ itq.rotation.T, np.eye(8), atol=1e-10)  # orthogonal


def test_the_rotation_lowers_the_quantisation_error():
    x, _ = clustered(300, 16, 6, seed=2)
    start = fit_itq(x, bits=8, iterations=0, seed=0)
    fitted = fit_itq(x, bits=8, iterations=50, seed=0)

    def error(itq: ITQ) -> float:
        v = (x - itq.mean) @ itq.projection @ itq.rotation
        return float(np.sum((np.where(v >= 0, 1.0, -1.0) - v) ** 2))

    assert error(fitted) < 0.95 * error(start)


def test_hamming_ranking_matches_a_brute_force_loop():
    """Hamming distances by plain loops; the ranking metrics are their mean over random orders of the tied
    distances (within 5 standard errors), and "mAP@all (sklearn ties)" is SEM-PCYC's: scikit-learn's
    average_precision_score on exp(-Hamming distance / bits)."""
    rng = np.random.default_rng(5)
    queries, gallery = rng.random((7, 16)) < 0.5, rng.random((40, 16)) < 0.5
    gallery[10] = gallery[3]  # an exact tie
    q_labels, g_labels = rng.integers(0, 3, 7), rng.integers(0, 3, 40)
    result = evaluate_retrieval(as_signed(queries), q_labels, as_signed(gallery), g_labels, precision_ks=(5,),
                                map_ks=(10,), ap_variants=(*AP_VARIANTS, SKLEARN_TIES)).per_query
    loop = np.array([[sum(int(a != b) for a, b in zip(qc, gc)) for gc in gallery] for qc in queries])
    for i in range(7):
        relevant = g_labels == q_labels[i]
        expected = expected_metrics_over_random_orders(-loop[i].astype(float), relevant, (5, 10), 4000, seed=i)
        for name in ("mAP@all", "P@5", "mAP@10", "mAP@10 (sem-pcyc)"):
            mean, standard_error = expected[name]
            assert abs(result.loc[i, name] - mean) <= 5 * standard_error + 1e-12, (i, name)
        sem_pcyc = average_precision_score(relevant, np.exp(-loop[i] / 16))
        assert result.loc[i, "mAP@all (sklearn ties)"] == pytest.approx(sem_pcyc, abs=1e-12)
    assert (result["mAP@all (sklearn ties)"] != result["mAP@all"]).all()  # ties make the two differ
    packed = hamming_distances(pack(queries), pack(gallery))
    assert (packed == loop).all() and pack(gallery).shape == (40, 2)


def test_shuffling_the_gallery_changes_no_binary_value():
    """64-bit codes tie in blocks of Hamming distance: every per-query value is the same, bit for bit, whatever the
    gallery order."""
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 8, 600)
    bits = (rng.random((8, 64)) < 0.5)[labels] ^ (rng.random((600, 64)) < 0.2)  # class codes, 20% of bits flipped
    codes = as_signed(bits)
    queries, gallery, q_labels, g_labels = codes[:100], codes[100:], labels[:100], labels[100:]
    options = {"precision_ks": (10, 100), "map_ks": (10, 200), "ap_variants": (*AP_VARIANTS, SKLEARN_TIES)}
    reference = evaluate_retrieval(queries, q_labels, gallery, g_labels, **options).per_query
    distances = hamming_distances(pack(queries > 0), pack(gallery > 0))
    assert max(np.bincount(row).max() for row in distances) >= 5  # the premise: blocks of tied distances
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(gallery))
        shuffled = evaluate_retrieval(queries, q_labels, gallery[order], g_labels[order], **options).per_query
        pd.testing.assert_frame_equal(shuffled, reference, check_exact=True)


def test_bad_input_is_refused():
    with pytest.raises(DataError, match="bits"):
        fit_itq(np.random.default_rng(0).random((10, 4)), bits=8)
    itq = fit_itq(np.random.default_rng(0).random((50, 8)), bits=4)
    with pytest.raises(DataError, match="dimension"):
        itq.encode(np.zeros((2, 5)))
    with pytest.raises(DataError, match="finite"):
        fit_itq(np.full((50, 8), np.nan), bits=4)


@pytest.mark.parametrize("bits", [8, 32, 48, 64])
def test_signed_codes_give_exact_hamming_similarities(bits):
    """Normalised in float32 as evaluate_retrieval does, the cosine similarity of two codes is exactly 1 - 2 d / L
    (L: bits padded to a power of 4), so codes at equal Hamming distance tie exactly."""
    codes = np.random.default_rng(bits).random((120, bits)) < 0.5
    signed = torch.nn.functional.normalize(torch.from_numpy(as_signed(codes)), dim=1)
    length = signed.shape[1]
    assert length in (16, 64) and length >= bits
    distances = hamming_distances(pack(codes), pack(codes))
    assert np.array_equal((signed @ signed.T).numpy().astype(np.float64), 1 - 2 * distances / length)
