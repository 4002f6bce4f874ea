"""Deficient grain maps on purpose: known truth for testing what an estimator does with a wrong map."""

from __future__ import annotations

import numpy as np


def merge_random_boundaries(labels: np.ndarray, fraction: float, *, seed: int) -> np.ndarray:
    """``labels`` with the grains across a random ``fraction`` of the grain pairs merged.

    Parameters
    ----------
    labels : ndarray of int
        A grain label map (any integers >= 0; different labels meet at a boundary).
    fraction : float
        Share of the neighbouring grain pairs whose boundary is deleted, in [0, 1].
    seed : int
        Seed of the random choice.

    Returns
    -------
    ndarray of int32
        Labels 1..n of the merged grains (chains of deleted boundaries merge transitively).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    labels = np.asarray(labels)
    pairs = set()
    for axis in range(labels.ndim):
        a = np.moveaxis(labels, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        m = lo != hi
        pairs |= set(zip(np.minimum(lo, hi)[m].tolist(), np.maximum(lo, hi)[m].tolist()))
    pairs = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    pick = pairs[np.random.default_rng(seed).choice(len(pairs), int(round(fraction * len(pairs))), replace=False)]
    n = int(labels.max()) + 1
    _, comp = connected_components(coo_matrix((np.ones(len(pick)), (pick[:, 0], pick[:, 1])), shape=(n, n)),
                                   directed=False)
    return (comp[labels] + 1).astype(np.int32)
