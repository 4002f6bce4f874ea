"""A symmetric matrix kept as its lower triangle: how a window fit stores its information matrix.

Why: every window fit keeps its (K, K) information matrix until the result is built. At 4096^2 px
(4096 windows, K ~ 143) the full matrices took 0.67 GB at the run's memory peak; the lower
triangle is half of that. The lower triangle is the one ``numpy.linalg.eigh`` reads (its default
``UPLO="L"``), so the eigendecompositions of the unpacked matrix are those of the original to the
bit, also where a Gram product left the original asymmetric by rounding.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@functools.lru_cache(maxsize=64)
def _lower_indices(k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tril_indices(k)


@dataclass(frozen=True)
class PackedSymmetric:
    """A symmetric (K, K) float matrix stored as its lower triangle, row by row.

    ``numpy.asarray(p)`` gives the full matrix (a new array); ``p[i, j]`` one entry without it.
    """

    k: int
    lower: np.ndarray  # (K (K + 1) / 2,): row i holds columns 0..i

    @classmethod
    def of(cls, matrix: np.ndarray) -> "PackedSymmetric":
        """The lower triangle of the square ``matrix`` (its upper triangle is not read)."""
        m = np.asarray(matrix, dtype=float)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"a square matrix is needed, got shape {m.shape}")
        return cls(m.shape[0], m[_lower_indices(m.shape[0])])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.k, self.k)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        full = np.empty((self.k, self.k), dtype=self.lower.dtype if dtype is None else dtype)
        rows, cols = _lower_indices(self.k)
        full[rows, cols] = self.lower
        full[cols, rows] = self.lower
        return full

    def __getitem__(self, key):
        if isinstance(key, tuple) and len(key) == 2 and all(isinstance(i, (int, np.integer)) for i in key):
            i, j = (int(v) + self.k if int(v) < 0 else int(v) for v in key)
            if not (0 <= i < self.k and 0 <= j < self.k):
                raise IndexError(f"index {key} out of range for a {self.k} x {self.k} matrix")
            i, j = max(i, j), min(i, j)
            return self.lower[i * (i + 1) // 2 + j]
        return np.asarray(self)[key]

    def diagonal(self) -> np.ndarray:
        """The diagonal (a new array)."""
        i = np.arange(self.k)
        return self.lower[i * (i + 1) // 2 + i]
