"""The packed symmetric storage of a window fit's information matrix (tracerdiff.inversion.symmetric)."""

from __future__ import annotations

import numpy as np
import pytest

from tracerdiff.inversion.symmetric import PackedSymmetric


def _gram_with_rounding(k: int, seed: int) -> np.ndarray:
    """A Gram matrix whose two triangles differ by rounding (as a gemm product's can), made so on purpose."""
    a = np.random.default_rng(seed).standard_normal((40, k))
    g = a.T @ a
    g[np.triu_indices(k, 1)] *= 1.0 + 1e-15  # upper triangle off by an ulp or so
    return g


def test_unpacked_is_the_lower_triangle_mirrored():
    g = _gram_with_rounding(5, 0)
    full = np.asarray(PackedSymmetric.of(g))
    lower = np.tril(g)
    assert np.array_equal(full, lower + np.tril(g, -1).T)
    assert np.array_equal(full, full.T)


def test_eigh_is_bit_identical_to_the_original():
    # numpy's eigh reads the lower triangle only: packing it loses nothing eigh sees.
    for k, seed in [(1, 1), (7, 2), (30, 3)]:
        g = _gram_with_rounding(k, seed)
        lam0, vec0 = np.linalg.eigh(g)
        lam1, vec1 = np.linalg.eigh(np.asarray(PackedSymmetric.of(g)))
        assert np.array_equal(lam0, lam1) and np.array_equal(vec0, vec1)


def test_entries_and_diagonal_without_unpacking():
    g = _gram_with_rounding(6, 4)
    p = PackedSymmetric.of(g)
    for i in range(6):
        for j in range(6):
            assert p[i, j] == g[max(i, j), min(i, j)]
    assert p[-1, 0] == g[5, 0]
    assert np.array_equal(p.diagonal(), np.diagonal(g))
    assert np.array_equal(p[1:3], np.asarray(p)[1:3])  # other keys go through the full matrix
    assert p.shape == (6, 6)


def test_half_the_memory():
    k = 143  # a typical window's boundary count
    p = PackedSymmetric.of(np.eye(k))
    assert p.lower.nbytes == k * (k + 1) // 2 * 8 < 0.51 * k * k * 8


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="square"):
        PackedSymmetric.of(np.zeros((2, 3)))
    with pytest.raises(IndexError):
        PackedSymmetric.of(np.eye(3))[3, 0]
