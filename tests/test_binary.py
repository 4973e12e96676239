"""ITQ binary codes against a plain NumPy reference, Hamming ranking against brute-force loops, and the fit on
the seen classes' training embeddings only."""

import numpy as np
import pytest

from zsb.binary import ITQ, as_signed, fit_itq, hamming_distances, pack
from zsb.errors import DataError
from zsb.metrics import evaluate_retrieval


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
    rng = np.random.default_rng(5)
    queries, gallery = rng.random((7, 16)) < 0.5, rng.random((40, 16)) < 0.5
    gallery[10] = gallery[3]  # an exact tie: the lower gallery index ranks first
    q_labels, g_labels = rng.integers(0, 3, 7), rng.integers(0, 3, 40)
    result = evaluate_retrieval(as_signed(queries), q_labels, as_signed(gallery), g_labels, precision_ks=(5,),
                                map_ks=())
    for i in range(7):
        distance = [sum(int(a != b) for a, b in zip(queries[i], gallery[j])) for j in range(40)]
        order = sorted(range(40), key=lambda j: (distance[j], j))
        hits, precisions = 0, []
        for rank, j in enumerate(order, start=1):
            if g_labels[j] == q_labels[i]:
                hits += 1
                precisions.append(hits / rank)
        assert result.per_query.loc[i, "mAP@all"] == pytest.approx(sum(precisions) / len(precisions))
        assert result.per_query.loc[i, "P@5"] == pytest.approx(sum(g_labels[j] == q_labels[i] for j in order[:5]) / 5)
    packed = hamming_distances(pack(queries), pack(gallery))
    loop = [[sum(int(a != b) for a, b in zip(qc, gc)) for gc in gallery] for qc in queries]
    assert (packed == np.array(loop)).all() and pack(gallery).shape == (40, 2)


def test_bad_input_is_refused():
    with pytest.raises(DataError, match="bits"):
        fit_itq(np.random.default_rng(0).random((10, 4)), bits=8)
    itq = fit_itq(np.random.default_rng(0).random((50, 8)), bits=4)
    with pytest.raises(DataError, match="dimension"):
        itq.encode(np.zeros((2, 5)))
    with pytest.raises(DataError, match="finite"):
        fit_itq(np.full((50, 8), np.nan), bits=4)
