"""Binary codes by iterative quantisation (ITQ), and Hamming ranking.

SEM-PCYC, TCN and MATHM also report retrieval with 64-bit binary codes learned by ITQ (Gong and Lazebnik, CVPR
2011): the embeddings are centred and projected on their top ``bits`` principal components, then rotated by the
orthogonal matrix R that minimises the quantisation error ``||B - V R||`` between the projected data V and its
binary codes B = sign(V R), found by alternating the two (B given R; R given B by an orthogonal Procrustes step:
with ``B^T V = U S W^T``, ``R = W U^T``). The fit uses the **seen classes' training embeddings only**
(:func:`fit_itq`); queries and gallery are then encoded (:meth:`ITQ.encode`) and ranked by Hamming distance.

Hamming ranking reuses :func:`zsb.metrics.evaluate_retrieval`: a code as a ±1 vector (:func:`as_signed`), normalised,
has cosine similarity ``1 - 2 d / L`` with another (d = Hamming distance, L = bits padded to a power of 4), exact in
float32 and monotone in d. Many gallery items share a distance to a query; every metric is then the expectation
over the orders of each tied block, so it does not depend on the gallery's order (see :mod:`zsb.metrics`), and
SEM-PCYC's own binary mAP@all, scikit-learn's AP on exp(-Hamming) scores, is computed too, as
"mAP@all (sklearn ties)". :func:`hamming_distances` computes d itself from bit-packed codes (what a deployed index
stores: ``bits / 8`` bytes per item).

Choices the papers do not state, made here and documented: principal directions get a fixed sign (the largest
component of each positive), so the fit does not depend on the LAPACK build; the initial rotation comes from a fixed
seed; 50 iterations, as in the authors' reference code; a code bit is 1 where ``V R >= 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zsb.errors import DataError

DEFAULT_BITS = 64
DEFAULT_ITERATIONS = 50


@dataclass(frozen=True)
class ITQ:
    """A fitted ITQ encoder: ``mean`` (D,), the PCA ``projection`` (D, bits) and the ``rotation`` (bits, bits)."""

    mean: np.ndarray
    projection: np.ndarray
    rotation: np.ndarray

    @property
    def bits(self) -> int:
        return self.rotation.shape[0]

    def encode(self, embeddings) -> np.ndarray:
        """(N, bits) bool codes of ``embeddings`` (N, D): bit = (centred x projected x rotated) >= 0."""
        x = _as_matrix(embeddings, "embeddings")
        if x.shape[1] != self.mean.shape[0]:
            raise DataError(f"embeddings have dimension {x.shape[1]}, but the ITQ encoder was fitted on "
                            f"{self.mean.shape[0]}: encode with the model whose embeddings it was fitted on")
        return (x - self.mean) @ self.projection @ self.rotation >= 0


def fit_itq(embeddings, bits: int = DEFAULT_BITS, iterations: int = DEFAULT_ITERATIONS, seed: int = 0) -> ITQ:
    """Fit ITQ on ``embeddings`` (N, D), which must be the seen classes' training embeddings only.

    Args:
        embeddings: (N, D) training embeddings, N > bits and D >= bits.
        bits: code length (default 64).
        iterations: alternations of the code and rotation updates (default 50, the reference code's).
        seed: seed of the random orthogonal initial rotation.
    """
    x = _as_matrix(embeddings, "embeddings")
    n, dim = x.shape
    if bits < 1 or bits > dim or bits >= n:
        raise DataError(f"ITQ with {bits} bits needs at most {dim} bits (the embedding size) and more than {bits} "
                        f"training embeddings (got {n})")
    mean = x.mean(axis=0)
    centred = x - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)
    projection = eigenvectors[:, np.argsort(eigenvalues)[::-1][:bits]]
    projection = projection * canonical_signs(projection)
    v = centred @ projection
    rotation = random_rotation(bits, seed)
    for _ in range(iterations):
        codes = np.where(v @ rotation >= 0, 1.0, -1.0)
        u, _, wt = np.linalg.svd(codes.T @ v)
        rotation = wt.T @ u.T
    return ITQ(mean, projection, rotation)


def canonical_signs(vectors: np.ndarray) -> np.ndarray:
    """(k,) signs that make the largest-magnitude component of each column of ``vectors`` positive."""
    largest = vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])]
    return np.where(largest < 0, -1.0, 1.0)


def random_rotation(size: int, seed: int) -> np.ndarray:
    """A random orthogonal matrix (QR of a Gaussian matrix from ``seed``)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((size, size)))
    return q


def as_signed(codes: np.ndarray) -> np.ndarray:
    """(N, bits) bool codes as float32 ±1 vectors of length L, the smallest power of 4 >= bits, the L - bits
    entries past the code all +1: the cosine similarity of two is ``1 - 2 * hamming / L``, computed exactly (after
    normalisation every entry is ±2^-k, every product ±1/L), so equal Hamming distances tie exactly."""
    signed = np.where(np.asarray(codes, dtype=bool), 1.0, -1.0).astype(np.float32)
    length = 1
    while length < signed.shape[1]:
        length *= 4
    return np.pad(signed, ((0, 0), (0, length - signed.shape[1])), constant_values=1.0)


def pack(codes: np.ndarray) -> np.ndarray:
    """(N, bits) bool codes as (N, bits / 8) uint8: the bytes a binary index stores per item."""
    return np.packbits(np.asarray(codes, dtype=bool), axis=1)


def hamming_distances(query_packed: np.ndarray, gallery_packed: np.ndarray) -> np.ndarray:
    """(Q, N) Hamming distances between packed codes (:func:`pack`), by XOR and bit count."""
    q = np.ascontiguousarray(query_packed).view(np.uint64) if query_packed.shape[1] % 8 == 0 else query_packed
    g = np.ascontiguousarray(gallery_packed).view(np.uint64) if gallery_packed.shape[1] % 8 == 0 else gallery_packed
    return np.bitwise_count(q[:, None, :] ^ g[None, :, :]).sum(axis=2, dtype=np.int64)


def _as_matrix(values, what: str) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise DataError(f"{what} must be a finite (N, D) matrix, got shape {x.shape}")
    return x
