"""Polishing scratches in a micrograph: found as long straight dark lines, then divided out.

A scratch is dark like a groove but straight and far longer than any grain boundary, and it
crosses grains. Candidates are the strong peaks of the straight-line Hough transform of the
groove skeleton (scikit-image ``hough_line``); each is refined to sub-pixel position and angle
by maximising the mean darkening along it, and kept when a run of at least ``length_px`` lies
on the groove skeleton and other grooves cross it (a straight boundary of a bicrystal or a
layered sample ends at its junctions instead). The scratch's own darkening profile across the line (median over its
length, which ignores the grooves it crosses) is then divided out of the reflectance, so the
grooves under and beside it remain.

Units: micrograph pixels; (row, col) coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi


@dataclass(frozen=True)
class Scratch:
    """A straight scratch: points ``centre + s * along`` for ``s`` in [s0, s1]."""

    centre: tuple[float, float]
    along: tuple[float, float]
    s0: float
    s1: float

    @property
    def normal(self) -> np.ndarray:
        return np.array([-self.along[1], self.along[0]])


def _line_samples(centre, along, t, offset=0.0) -> tuple[np.ndarray, np.ndarray]:
    normal = np.array([-along[1], along[0]])
    return (centre[0] + t * along[0] + offset * normal[0], centre[1] + t * along[1] + offset * normal[1])


def _refine(dark: np.ndarray, centre: np.ndarray, along: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angle (+-1 deg) and offset (+-2 px) maximising the mean darkening along the line."""
    normal = np.array([-along[1], along[0]])
    da = np.deg2rad(np.linspace(-1.0, 1.0, 21))[:, None, None]
    off = np.linspace(-2.0, 2.0, 17)[None, :, None]
    ay = np.cos(da) * along[0] - np.sin(da) * along[1]
    ax = np.sin(da) * along[0] + np.cos(da) * along[1]
    y = centre[0] + off * normal[0] + t * ay
    x = centre[1] + off * normal[1] + t * ax
    vals = ndi.map_coordinates(dark, [y.ravel(), x.ravel()], order=1, mode="constant", cval=np.nan)
    vals = vals.reshape(y.shape)
    ok = np.isfinite(vals)
    means = np.where(ok, vals, 0.0).sum(axis=2) / np.maximum(ok.sum(axis=2), 1)
    i, k = np.unravel_index(int(np.argmax(means)), means.shape)
    a = np.array([ay[i, 0, 0], ax[i, 0, 0]])
    return centre + off[0, k, 0] * normal, a / np.hypot(*a)


def _peaks(h: np.ndarray, threshold: float, max_lines: int) -> list[tuple[int, int]]:
    """(distance bin, angle bin) of the accumulator's local maxima above ``threshold``, strongest
    first (a 9 x 9 neighbourhood: 4 px and 2 deg apart at least)."""
    local = (h == ndi.maximum_filter(h, size=9, mode="constant")) & (h >= threshold)
    ii, jj = np.nonzero(local)
    order = np.argsort(-h[ii, jj], kind="stable")[:max_lines]
    return list(zip(ii[order], jj[order]))


def find_scratches(grooves: np.ndarray, dark: np.ndarray, *, length_px: int, max_gap_px: int = 4,
                   min_cover: float = 0.8, max_lines: int = 30, min_crossings: int = 2) -> list[Scratch]:
    """Straight groove stretches at least ``length_px`` long that cross at least
    ``min_crossings`` other grooves (see the module docstring).

    A run along a candidate line counts when at least ``min_cover`` of it lies within 1 px of the
    groove skeleton with no gap over ``max_gap_px``: a line through a grain network meets
    grooves only now and then, and a grain boundary is far shorter than a scratch.
    """
    from skimage import morphology
    from skimage.transform import hough_line

    skel = morphology.skeletonize(grooves)
    if skel.sum() < length_px:
        return []
    near = ndi.binary_dilation(skel, iterations=1)
    wide = ndi.binary_dilation(near, iterations=2)
    h, theta, dist = hough_line(skel, theta=np.linspace(-np.pi / 2, np.pi / 2, 360, endpoint=False))
    peaks = _peaks(h, 0.5 * min_cover * length_px, max_lines)
    angles, dists = [theta[j] for _, j in peaks], [dist[i] for i, _ in peaks]
    rows, cols = grooves.shape
    half = np.hypot(rows, cols)
    t = np.arange(-half, half, 0.5)
    found: list[Scratch] = []
    for angle, d in zip(angles, dists):
        # Hough line x cos(a) + y sin(a) = d through the point nearest the image centre.
        normal = np.array([np.sin(angle), np.cos(angle)])
        mid = np.array([rows / 2, cols / 2])
        centre = mid + (d - mid @ normal) * normal
        along = np.array([-normal[1], normal[0]])
        # Cheap test first (the Hough bins are 0.5 deg wide, 2.6 px over 600 px: a wider band),
        # then refine the survivors and test again within 1 px.
        if not _runs(wide, centre, along, t, 2 * length_px, 2 * max_gap_px, min_cover):
            continue
        centre, along = _refine(dark, centre, along, t[::4])
        runs = _runs(near, centre, along, t, 2 * length_px, 2 * max_gap_px, min_cover)
        if not runs:
            continue
        s0, s1 = t[min(a for a, _ in runs)], t[max(b for _, b in runs)]
        if any(_same_line(sc, centre, along) for sc in found):
            continue
        # A scratch crosses grains: other grooves cross it. A straight boundary (a bicrystal, a
        # layered sample) ends at its junctions and is kept.
        if _crossings(grooves, centre, along, t[(t >= s0) & (t <= s1)]) < min_crossings:
            continue
        s0, s1 = _extent(dark, centre, along, s0, s1)
        found.append(Scratch((float(centre[0]), float(centre[1])), (float(along[0]), float(along[1])), s0, s1))
    return found


def _runs(mask, centre, along, t, length, max_gap, min_cover) -> list[tuple[int, int]]:
    """(first, last) sample indices of the runs along the line that lie on ``mask`` for at least
    ``length`` samples, with ``min_cover`` of them on it and no gap over ``max_gap`` samples."""
    rows, cols = mask.shape
    y, x = _line_samples(centre, along, t)
    r, c = np.rint(y).astype(int), np.rint(x).astype(int)
    inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
    on = np.zeros(t.size, bool)
    on[inside] = mask[r[inside], c[inside]]
    idx = np.flatnonzero(on)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > max_gap)
    return [(a, b) for a, b in zip(np.r_[idx[0], idx[breaks + 1]], np.r_[idx[breaks], idx[-1]])
            if b - a + 1 >= length and on[a:b + 1].mean() >= min_cover]


def _crossings(grooves, centre, along, t, side_px: float = 4.0) -> int:
    """Number of grooves crossing the line at the samples ``t``: places where there is groove on
    both sides of it (``side_px`` away) within 2 px along it."""
    rows, cols = grooves.shape
    both = np.ones(t.size, bool)
    for off in (side_px, -side_px):
        y, x = _line_samples(centre, along, t, off)
        r, c = np.rint(y).astype(int), np.rint(x).astype(int)
        inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
        on = np.zeros(t.size, bool)
        on[inside] = grooves[r[inside], c[inside]]
        both &= ndi.binary_dilation(on, iterations=4) if on.any() else on
    return int(ndi.label(both)[1])


def _same_line(sc: Scratch, centre, along) -> bool:
    """True when the line (centre, along) is within 1 deg and 2 px of the scratch ``sc``."""
    cosang = abs(float(np.dot(sc.along, along)))
    return cosang > np.cos(np.deg2rad(1.0)) and abs(float((np.asarray(centre) - sc.centre) @ sc.normal)) < 2.0


def _extent(dark, centre, along, s0: float, s1: float) -> tuple[float, float]:
    """How far the scratch found between ``s0`` and ``s1`` really goes: extended while the line
    stays darker than its sides (median over 21 px windows above half of its median contrast on
    the run), so grooves it crosses cannot stop it and a faint stretch does not cut it short."""
    rows, cols = dark.shape
    t = np.arange(-np.hypot(rows, cols), np.hypot(rows, cols), 1.0)

    def sample(off):
        y, x = _line_samples(centre, along, t, off)
        return ndi.map_coordinates(dark, [y, x], order=1, mode="constant", cval=np.nan)

    contrast = sample(0.0) - 0.5 * (sample(3.0) + sample(-3.0))
    inside = np.isfinite(contrast)
    level = np.median(contrast[(t >= s0) & (t <= s1) & inside])
    smooth = ndi.median_filter(np.where(inside, contrast, -np.inf), size=21, mode="nearest")
    present = inside & (smooth > 0.5 * level)
    k0, k1 = np.searchsorted(t, s0), min(np.searchsorted(t, s1), t.size - 1)
    while k0 > 0 and present[k0 - 1]:
        k0 -= 1
    while k1 < t.size - 1 and present[k1 + 1]:
        k1 += 1
    return float(min(t[k0], s0)), float(max(t[k1], s1))


def remove_scratches(dark: np.ndarray, scratches: list[Scratch], *,
                     half_width_px: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(darkening with the scratches divided out, mask of the scratches' cores).

    Dark features combine like absorbers, so each scratch is removed by dividing the
    reflectance ``1 - darkening`` by ``1 - profile``, the profile across the line being the
    median darkening over the scratch's length in 0.25 px bins (zero at its rim).
    """
    out = dark.copy()
    core = np.zeros(dark.shape, bool)
    yy, xx = np.mgrid[0:dark.shape[0], 0:dark.shape[1]]
    for sc in scratches:
        c, a, n = np.asarray(sc.centre), np.asarray(sc.along), sc.normal
        u = (yy - c[0]) * n[0] + (xx - c[1]) * n[1]
        v = (yy - c[0]) * a[0] + (xx - c[1]) * a[1]
        band = (np.abs(u) <= half_width_px) & (v >= sc.s0 - 2) & (v <= sc.s1 + 2)
        bins = np.rint(u[band] / 0.25).astype(int)
        values = out[band]
        order = np.argsort(bins, kind="stable")
        b_sorted, v_sorted = bins[order], values[order]
        edges = np.flatnonzero(np.diff(b_sorted)) + 1
        keys = b_sorted[np.r_[0, edges]]
        med = np.array([np.median(chunk) for chunk in np.split(v_sorted, edges)])
        rim = np.abs(keys) * 0.25 >= half_width_px - 1
        med = np.clip(med - (np.median(med[rim]) if rim.any() else 0.0), 0.0, 0.95)
        profile = np.interp(u[band], keys * 0.25, med)
        out[band] = 1.0 - (1.0 - out[band]) / (1.0 - profile)
        core[band] |= profile > 0.5 * med.max() if med.max() > 0 else False
    return out, core
