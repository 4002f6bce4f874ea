"""Polishing scratches in a micrograph: found as long straight dark lines, then divided out.

A scratch is dark like a groove but straight and far longer than any grain boundary, and it
crosses grains. Candidates are the strong peaks of the straight-line Hough transform of the
groove skeleton (scikit-image ``hough_line``); each is refined to sub-pixel position and angle
by maximising the mean darkening along it, and kept when a run of at least ``length_px`` lies
on the groove skeleton. The scratch's own darkening profile across the line (median over its
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
    best, best_val = (centre, along), -np.inf
    normal = np.array([-along[1], along[0]])
    for da in np.deg2rad(np.linspace(-1.0, 1.0, 21)):
        a = np.array([np.cos(da) * along[0] - np.sin(da) * along[1], np.sin(da) * along[0] + np.cos(da) * along[1]])
        offsets = np.linspace(-2.0, 2.0, 17)
        ys = [_line_samples(centre + o * normal, a, t)[0] for o in offsets]
        xs = [_line_samples(centre + o * normal, a, t)[1] for o in offsets]
        vals = ndi.map_coordinates(dark, [np.ravel(ys), np.ravel(xs)], order=1, mode="constant", cval=np.nan)
        vals = vals.reshape(len(offsets), -1)
        means = np.nanmean(np.where(np.isfinite(vals), vals, np.nan), axis=1)
        k = int(np.nanargmax(means))
        if means[k] > best_val:
            best, best_val = (centre + offsets[k] * normal, a), means[k]
    return best


def find_scratches(grooves: np.ndarray, dark: np.ndarray, *, length_px: int, max_gap_px: int = 4,
                   min_cover: float = 0.8, max_lines: int = 30) -> list[Scratch]:
    """Straight groove stretches at least ``length_px`` long (see the module docstring).

    A run along a candidate line counts when at least ``min_cover`` of it lies within 1 px of the
    groove skeleton with no gap over ``max_gap_px``: a line through a grain network meets
    grooves only now and then, and a grain boundary is far shorter than a scratch.
    """
    from skimage import morphology
    from skimage.transform import hough_line, hough_line_peaks

    skel = morphology.skeletonize(grooves)
    if skel.sum() < length_px:
        return []
    near = ndi.binary_dilation(skel, iterations=1)
    h, theta, dist = hough_line(skel, theta=np.linspace(-np.pi / 2, np.pi / 2, 360, endpoint=False))
    _, angles, dists = hough_line_peaks(h, theta, dist, min_distance=4, min_angle=4,
                                        threshold=0.5 * min_cover * length_px, num_peaks=max_lines)
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
        centre, along = _refine(dark, centre, along, t[::4])
        y, x = _line_samples(centre, along, t)
        r, c = np.rint(y).astype(int), np.rint(x).astype(int)
        inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
        on = np.zeros(t.size, bool)
        on[inside] = near[r[inside], c[inside]]
        idx = np.flatnonzero(on)
        if idx.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(idx) > 2 * max_gap_px)
        runs = [(a, b) for a, b in zip(np.r_[idx[0], idx[breaks + 1]], np.r_[idx[breaks], idx[-1]])
                if b - a + 1 >= 2 * length_px and on[a:b + 1].mean() >= min_cover]
        if not runs:
            continue
        s0, s1 = t[min(a for a, _ in runs)], t[max(b for _, b in runs)]
        if any(_same_line(sc, centre, along) for sc in found):
            continue
        s0, s1 = _extent(dark, centre, along, s0, s1)
        found.append(Scratch((float(centre[0]), float(centre[1])), (float(along[0]), float(along[1])), s0, s1))
    return found


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
