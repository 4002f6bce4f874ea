"""Closing gaps in micrograph grooves along the groove's own direction.

A groove with a faint or missing stretch leaves two dead ends (skeleton end points) that point
at each other or at the groove they should meet. From every end point this casts short rays in
a narrow cone around the groove's direction and draws the straight segment to the first groove
pixel a ray reaches, choosing among the rays the one with the most ridge response on the way.
Bridges across a grain's interior (from a noise spur) are undone later by the region merge,
which asks for groove evidence along the whole boundary.

Units: micrograph pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _walk_back(skel: np.ndarray, start: tuple[int, int], steps: int) -> tuple[int, int] | None:
    """The skeleton pixel up to ``steps`` pixels back from the end point ``start`` along its
    branch (stopping at a fork), or None when fewer than 3 steps are possible (a spur too short to
    give a direction)."""
    prev, cur = None, start
    rows, cols = skel.shape
    for k in range(steps):
        nxt = [(cur[0] + dy, cur[1] + dx) for dy, dx in _NEIGHBOURS
               if 0 <= cur[0] + dy < rows and 0 <= cur[1] + dx < cols and skel[cur[0] + dy, cur[1] + dx]
               and (cur[0] + dy, cur[1] + dx) != prev]
        if prev is not None:
            # Skip pixels adjacent to the previous one (8-connected staircases touch twice).
            nxt = [p for p in nxt if max(abs(p[0] - prev[0]), abs(p[1] - prev[1])) > 1]
        if len(nxt) != 1:
            return cur if k >= 3 else None
        prev, cur = cur, nxt[0]
    return cur


def close_gaps(grooves: np.ndarray, ridge: np.ndarray, *, max_gap_px: float = 14.0, cone_deg: float = 30.0,
               min_ridge: float = 0.2, direction_px: int = 5) -> np.ndarray:
    """``grooves`` with the bridges drawn in (1 px wide lines).

    Parameters
    ----------
    max_gap_px : float
        Longest bridge.
    cone_deg : float
        Half-angle of the cone of rays around the end's direction.
    min_ridge : float
        Least mean ridge response (noise units) along a bridge: a gap in a real groove keeps
        some darkening, the interior of a grain has none.
    direction_px : int
        Length of the branch used to estimate the end's direction.
    """
    from skimage import morphology
    from skimage.draw import line

    out = grooves.copy()
    skel = morphology.skeletonize(grooves)
    n_neigh = ndi.convolve(skel.astype(np.int8), np.ones((3, 3), np.int8), mode="constant") - 1
    ends = np.argwhere(skel & (n_neigh == 1))
    rows, cols = grooves.shape
    angles = np.deg2rad(np.linspace(-cone_deg, cone_deg, 7))
    steps = np.arange(1.0, max_gap_px + 0.5, 0.5)
    for r0, c0 in ends:
        back = _walk_back(skel, (int(r0), int(c0)), direction_px)
        if back is None:
            continue
        d = np.array([r0 - back[0], c0 - back[1]], float)
        d /= np.hypot(*d)
        best, best_score = None, min_ridge
        for a in angles:
            ca, sa = np.cos(a), np.sin(a)
            v = np.array([ca * d[0] - sa * d[1], sa * d[0] + ca * d[1]])
            rr = np.rint(r0 + steps * v[0]).astype(int)
            cc = np.rint(c0 + steps * v[1]).astype(int)
            ok = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
            if not ok.all():
                rr, cc = rr[:np.argmin(ok)], cc[:np.argmin(ok)]
            # Leave the end's own groove first (the ray starts inside its width).
            outside = ~grooves[rr, cc]
            if not outside.any():
                continue
            first_out = np.argmax(outside)
            hit = np.flatnonzero(grooves[rr[first_out:], cc[first_out:]])
            if hit.size == 0:
                continue
            k = first_out + hit[0]
            score = float(np.mean(ridge[rr[first_out:k], cc[first_out:k]])) if k > first_out else np.inf
            # Shorter bridges win ties: divide by a mild length penalty.
            score /= 1.0 + 0.02 * k
            if score > best_score:
                best, best_score = (rr[k], cc[k]), score
        if best is not None:
            lr, lc = line(int(r0), int(c0), int(best[0]), int(best[1]))
            out[lr, lc] = True
    return out
