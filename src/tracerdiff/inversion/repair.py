"""Repairing the grain map with the C map: a boundary missing from the map leaves a step the model cannot explain.

A grain of the map that hides a boundary carries a step in C that its fast bulk cannot
produce: the fitted model runs between the two plateaus, and the residual (model - data) is
of one sign on each side of the missing boundary. :func:`propose_split` cuts such a grain
along the strongest edge-strength ridge between those two residual lobes (a two-marker
watershed, scikit-image); :func:`split_gain` says whether the refit with the cut explains the
grain better than the extra conductances could by chance (a BIC rule on chi^2).

Units: pixels; residuals in units of each pixel's counting error.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi


@dataclass(frozen=True)
class GrainChi2:
    """chi^2 and pixel count of every grain label (index = label) over the fitted pixels."""

    chi2: np.ndarray
    n: np.ndarray

    def misfit(self, *, n_sigma: float, min_pixels: int = 20) -> np.ndarray:
        """Labels whose chi^2 exceeds n by more than ``n_sigma`` of its sampling sd sqrt(2 n)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (self.chi2 - self.n) / np.sqrt(2.0 * self.n)
        return np.flatnonzero((self.n >= min_pixels) & (z > n_sigma))

    def excess(self, labels) -> float:
        """sum of (chi^2 - n) over the given labels, clipped at 0 per grain (the unexplained chi^2)."""
        labels = np.asarray(labels, dtype=int)
        return float(np.sum(np.clip(self.chi2[labels] - self.n[labels], 0.0, None))) if labels.size else 0.0


def grain_chi2(z: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> GrainChi2:
    """Per-label chi^2 of the normalised residual ``z`` over ``mask`` pixels."""
    size = int(labels.max()) + 1
    m = mask & np.isfinite(z)
    lab = labels[m]
    return GrainChi2(np.bincount(lab, z[m] ** 2, minlength=size), np.bincount(lab, minlength=size).astype(float))


def propose_split(parent: np.ndarray, z: np.ndarray, mask: np.ndarray, edge: np.ndarray, *,
                  smoothing_px: float = 2.0, marker_z: float = 3.0, min_pixels: int = 25,
                  interior: np.ndarray | None = None, min_interior: int = 8) -> np.ndarray | None:
    """Pixels to cut from the grain ``parent`` (bool image), or None when the residual shows no two-sided step.

    Parameters
    ----------
    parent : numpy.ndarray of bool
        The grain's pixels.
    z, mask : numpy.ndarray
        Normalised residual (model - data) / stderr, and the pixels where it was fitted.
    edge : numpy.ndarray
        Edge evidence (e.g. the noise-normalised gradient of C, plus micrograph ridges): the cut
        follows its strongest ridge between the two residual lobes.
    smoothing_px, marker_z : float
        The residual is smoothed (normalised convolution) and its lobes are where the smoothed
        value exceeds ``marker_z`` of its own noise sd, with opposite signs.
    min_pixels, interior, min_interior : int, numpy.ndarray of bool or None, int
        Each side must have ``min_pixels``, and ``min_interior`` of the ``interior`` pixels (those
        the refit will use), or there is nothing to fit it with.
    """
    rows, cols = np.nonzero(parent)
    if rows.size < 2 * min_pixels:
        return None
    pad = int(math.ceil(3 * smoothing_px)) + 1
    y0, y1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, parent.shape[0])
    x0, x1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, parent.shape[1])
    sl = (slice(y0, y1), slice(x0, x1))
    inside = parent[sl]
    m = (inside & mask[sl] & np.isfinite(z[sl])).astype(float)
    if m.sum() < 2 * min_pixels:
        return None
    zz = np.where(m > 0, z[sl], 0.0)
    # Normalised convolution: the local mean residual, and its sd for unit-variance noise.
    w1 = ndi.gaussian_filter(m, smoothing_px, mode="constant")
    k2 = _gauss2(smoothing_px)
    w2 = ndi.convolve(m, k2, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = ndi.gaussian_filter(zz, smoothing_px, mode="constant") / w1
        zs = smooth * w1 / np.sqrt(w2)
    zs = np.where(inside & (w1 > 0.2), zs, 0.0)
    lobes = []
    for sign in (1.0, -1.0):
        comp, n = ndi.label(sign * zs > marker_z)
        if n == 0:
            return None
        sizes = np.bincount(comp.ravel())[1:]
        lobes.append(comp == 1 + int(np.argmax(sizes)))
    from skimage.segmentation import watershed

    markers = np.zeros(inside.shape, np.int32)
    markers[lobes[0]] = 1
    markers[lobes[1]] = 2
    region = watershed(edge[sl], markers, mask=inside)
    # The side that holds the smaller lobe's connected piece is cut off; stray pieces stay.
    comp, _ = ndi.label(region == 2)
    hit = np.bincount(comp[lobes[1]].ravel())
    hit[0] = 0
    child = comp == int(np.argmax(hit))
    rest = inside & ~child
    if child.sum() < min_pixels or rest.sum() < min_pixels:
        return None
    if interior is not None:
        core = interior[sl]
        if (child & core).sum() < min_interior or (rest & core).sum() < min_interior:
            return None
    out = np.zeros(parent.shape, bool)
    out[sl] = child
    return out


def _gauss2(sigma: float) -> np.ndarray:
    """The squared Gaussian kernel (for the variance of a Gaussian-weighted sum)."""
    r = int(math.ceil(4 * sigma))
    x = np.arange(-r, r + 1)
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    g /= g.sum()
    return np.outer(g, g) ** 2


def plane_residual(c: np.ndarray, err: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(plane - C) / stderr with one weighted plane per grain fitted to its ``mask`` pixels (NaN elsewhere).

    The model of a grain that hides a step runs a ramp through it (a steeper bulk gradient
    means more flux, which the shared dC/dt then supplies), so the model's chi^2 hardly sees
    the step. A plane does the same, but its residual still shows the step's two lobes, and it
    needs no model: every grain can be checked.
    """
    size = int(labels.max()) + 1
    yy, xx = np.nonzero(mask)
    lab = labels[yy, xx]
    w = 1.0 / err[yy, xx] ** 2
    cnt = np.bincount(lab, minlength=size).astype(float)
    cy = np.bincount(lab, yy, minlength=size) / np.maximum(cnt, 1)
    cx = np.bincount(lab, xx, minlength=size) / np.maximum(cnt, 1)
    dy, dx = yy - cy[lab], xx - cx[lab]
    cols = (np.ones_like(dy), dy, dx)
    a = np.empty((size, 3, 3))
    b = np.empty((size, 3))
    for i in range(3):
        b[:, i] = np.bincount(lab, w * cols[i] * c[yy, xx], minlength=size)
        for j in range(3):
            a[:, i, j] = np.bincount(lab, w * cols[i] * cols[j], minlength=size)
    a += np.eye(3) * 1e-12 * np.maximum(a[:, :1, :1], 1.0)
    coef = np.linalg.solve(a, b[..., None])[..., 0]
    plane = coef[lab, 0] + coef[lab, 1] * dy + coef[lab, 2] * dx
    out = np.full(c.shape, np.nan)
    out[yy, xx] = (plane - c[yy, xx]) / err[yy, xx]
    return out


def step_gain(c: np.ndarray, err: np.ndarray, parent: np.ndarray, child: np.ndarray, mask: np.ndarray, *,
              origin: tuple[int, int] = (0, 0)) -> tuple[float, int]:
    """chi^2 drop when the plane over ``parent`` gets a different offset on ``child`` (shared slope), and pixels.

    ``origin``: where the arrays start in the whole image (a crop gives the same plane
    coordinates, hence the same rounding, as the whole image).
    """
    rows, cols = np.nonzero(parent & mask)
    if rows.size < 8:
        return 0.0, int(rows.size)
    w = 1.0 / err[rows, cols] ** 2
    y = c[rows, cols]
    side = child[rows, cols].astype(float)
    rows, cols = rows + origin[0], cols + origin[1]
    design = np.column_stack([np.ones(rows.size), rows - rows.mean(), cols - cols.mean()])
    chi = []
    for x in (design, np.column_stack([design, side])):
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)
        chi.append(float(np.sum(w * (y - x @ coef) ** 2)))
    return chi[0] - chi[1], int(rows.size)


def split_gain(z_before: np.ndarray, z_after: np.ndarray, region: np.ndarray) -> tuple[float, int]:
    """(chi^2 before - chi^2 after, pixels) over ``region`` pixels fitted in both maps."""
    m = region & np.isfinite(z_before) & np.isfinite(z_after)
    return float(np.sum(z_before[m] ** 2) - np.sum(z_after[m] ** 2)), int(m.sum())


def accept_split(gain: float, n: int, k_new: int) -> bool:
    """BIC rule: the chi^2 drop must exceed ln(n) per new conductance (and 25, a 5-sigma step, at least).

    k_new counts the boundaries the cut adds to the network model (the cut itself and any
    neighbour now shared by two grains); ln(n) is what each free parameter buys on n pixels by
    chance under BIC. The floor of 25 covers the cut being placed where the data look most
    like a step (a chosen, not a fixed, cut)."""
    return n > 0 and gain > max(k_new * math.log(n), 25.0)


@dataclass(frozen=True)
class Repair:
    """The repaired grain map and what was done."""

    labels: np.ndarray
    proposed: int
    accepted: int


def repair_map(c, err, valid, labels, *, edge, margin: int, rounds: int, z=None, candidates=None) -> Repair:
    """Cut grains that hide a step in C, along its edge ridge, while each cut pays (BIC).

    Every grain (or only ``candidates``) is offered a :func:`propose_split` from its plane
    residual (:func:`plane_residual`), or from the model residual ``z`` when given; a cut is
    kept when :func:`step_gain` (an offset on one side of the cut, the plane's slope shared)
    passes :func:`accept_split`. A cut grain's pieces are offered further cuts, up to ``rounds``
    cuts deep. On the true grains of the test images no grain was offered a cut at all (two
    residual lobes of 3 sd are rare without a step); with 10 % of the boundaries deleted,
    70-75 of ~420 grains were, and 68-73 cuts passed.

    Each grain is handled in its bounding box with a margin that covers everything the cut
    looks at (the smoothing of :func:`propose_split`, the ``margin`` band of :func:`step_gain`):
    the same arithmetic on the same pixels as on the whole image, at a cost that grows with the
    grain, not with grains x image (a 4096^2 px map has ~10^5 grains).
    """
    from tracerdiff.inversion.labels import near_boundary

    labels = labels.copy()
    fit_px = valid & ~near_boundary(labels, margin)
    todo = [int(g) for g in (np.unique(labels[fit_px]) if candidates is None else candidates) if g > 0]
    # The plane residual of the grains offered a cut only: a grain's plane is fitted to its own
    # pixels (in the same order, so to the same bits as over the whole map), and only the
    # offered grains and their pieces read it. Over the whole map it took ~90 bytes per fitted
    # pixel at once (1.2 GB at 4096^2 px, the inversion's memory peak, for a few hundred misfit grains).
    flat = plane_residual(c, err, labels, fit_px if candidates is None else fit_px & np.isin(labels, todo))
    queue = deque((g, 0) for g in todo)
    boxes = {g + 1: (s[0].start, s[0].stop, s[1].start, s[1].stop)
             for g, s in enumerate(ndi.find_objects(labels)) if s is not None}
    # propose_split pads the grain by 3 smoothing sds + 1; step_gain's band reaches ``margin`` px.
    reach = max(int(math.ceil(3 * 2.0)) + 1, margin + 1)
    next_label = int(labels.max()) + 1
    proposed = accepted = 0
    while queue:
        g, depth = queue.popleft()
        r0, r1, c0, c1 = boxes[g]
        box = (slice(max(r0 - reach, 0), min(r1 + reach, labels.shape[0])),
               slice(max(c0 - reach, 0), min(c1 + reach, labels.shape[1])))
        origin = (box[0].start, box[1].start)
        parent = labels[box] == g
        child = None
        for residual in ((flat,) if z is None or depth > 0 else (z, flat)):
            child = propose_split(parent, residual[box], fit_px[box], edge[box], interior=fit_px[box])
            if child is not None:
                break
        if child is None:
            continue
        proposed += 1
        # The grain's bounding box plus one pixel, in the crop's coordinates.
        sl = (slice(max(r0 - 1, 0) - origin[0], r1 + 1 - origin[0]), slice(max(c0 - 1, 0) - origin[1], c1 + 1 - origin[1]))
        crop = labels[box]
        new = crop[sl].copy()
        new[child[sl]] = next_label
        gain, n = step_gain(c[box], err[box], parent, child, fit_px[box] & ~near_boundary_of(child, margin),
                            origin=origin)
        if not accept_split(gain, n, _added_pairs(crop[sl], new, g, next_label)):
            continue
        accepted += 1
        crop[sl] = new  # a view: writes into labels
        whole = (slice(sl[0].start + origin[0], sl[0].stop + origin[0]),
                 slice(sl[1].start + origin[1], sl[1].stop + origin[1]))
        fit_px[whole] = valid[whole] & ~near_boundary(new, margin)
        for h in (g, next_label):
            rows, cols = np.nonzero(new == h)
            boxes[h] = (whole[0].start + rows.min(), whole[0].start + rows.max() + 1,
                        whole[1].start + cols.min(), whole[1].start + cols.max() + 1)
        if depth + 1 < rounds:
            pieces = labels[whole]
            flat[whole] = np.where(np.isin(pieces, (g, next_label)),
                                   plane_residual(c[whole], err[whole], pieces, fit_px[whole]), flat[whole])
            queue += [(g, depth + 1), (next_label, depth + 1)]
        next_label += 1
    return Repair(labels, proposed, accepted)


def near_boundary_of(region: np.ndarray, margin: int) -> np.ndarray:
    """Pixels within ``margin`` steps of the edge of ``region`` (both sides)."""
    if margin == 0:
        return np.zeros(region.shape, bool)
    return ndi.binary_dilation(region, iterations=margin) & ~ndi.binary_erosion(region, iterations=margin)


def _pairs_with(labels, members) -> set:
    """Grain pairs (a < b) of ``labels`` that involve any of ``members``."""
    out = set()
    for axis in (0, 1):
        a = np.moveaxis(labels, axis, 0)
        lo, hi = a[:-1], a[1:]
        m = (lo != hi) & (np.isin(lo, members) | np.isin(hi, members))
        out |= set(zip(np.minimum(lo, hi)[m].tolist(), np.maximum(lo, hi)[m].tolist()))
    return out


def _added_pairs(old, new, parent, child) -> int:
    """How many boundaries (conductances) a cut adds around ``parent`` (at least the cut itself)."""
    return max(len(_pairs_with(new, [parent, child])) - len(_pairs_with(old, [parent])), 1)


def inherit_starts(theta: dict, old, new, parent: int) -> None:
    """Start values of a cut grain's new boundaries: the parent's boundary with the same neighbour."""
    children = [int(h) for h in np.unique(new[old == parent]) if h != parent]
    for a, b in _pairs_with(new, children):
        other = a if b in children else b
        key = (min(parent, other), max(parent, other))
        if key in theta and (a, b) not in theta:
            theta[(a, b)] = theta[key]


#: Detection threshold of :func:`steep_grains` (normal-equivalent sd of its chi^2(2) statistic). Why 3,
#: not the former 4: the statistic follows its chi^2 tail on true grains (true maps of seeds 204-206,
#: ~585 grains: 0-2, 1-4, 5-10, 15-30 grains flagged at 4, 3, 2.5, 2 sd, where the tail expects 0.04,
#: 1.6, 7, 27), so at 3 sd a correct map loses ~0.3 % of its grains' data (a flagged grain still
#: conducts), while 4 sd let half the merged grains through (true grains minus the pairs a C map
#: misses, seed 204 uniform: 25 of 78 merged grains flagged at 4 sd, 40 at 3, every flag a merge), and
#: each one missed pushes its window's conductances up (issue 12: docs/validation.rst).
STEEP_SIGMAS = 3.0


def steep_grains(c: np.ndarray, err: np.ndarray, labels: np.ndarray, mask: np.ndarray, *,
                 n_sigma: float = STEEP_SIGMAS,
                 min_pixels: int = 30, neighbours: int = 30) -> np.ndarray:
    """Labels of grains whose mean C gradient is steeper than their peers' by more than ``n_sigma``.

    Why: the flux the model assigns to every boundary of a window is set by the bulk gradients
    D*bulk grad C inside its grains. A grain that hides a boundary too gradual to cut still
    carries that boundary's step as a steep ramp, and the window's flux -- and every G = flux /
    step in it -- comes out high (10 % of the boundaries deleted and the visible ones cut: 1.7x).
    Such grains are found by their plane slope (weighted fit over ``mask``) against the median
    slope of the ``neighbours`` grains nearest in depth (row 0 = source edge), in units of the
    slope's own standard error (chi^2 with 2 degrees of freedom, both components).
    """
    size = int(labels.max()) + 1
    yy, xx = np.nonzero(mask & (labels > 0))
    lab = labels[yy, xx]
    w = 1.0 / err[yy, xx] ** 2
    cnt = np.bincount(lab, minlength=size).astype(float)
    sw = np.bincount(lab, w, minlength=size)
    ok = cnt >= min_pixels
    my = np.bincount(lab, w * yy, minlength=size) / np.where(ok, sw, 1.0)
    mx = np.bincount(lab, w * xx, minlength=size) / np.where(ok, sw, 1.0)
    dy, dx = yy - my[lab], xx - mx[lab]
    v = c[yy, xx]
    a = np.empty((size, 2, 2))
    b = np.empty((size, 2))
    for i, p in enumerate((dy, dx)):
        b[:, i] = np.bincount(lab, w * p * v, minlength=size)
        for j, q in enumerate((dy, dx)):
            a[:, i, j] = np.bincount(lab, w * p * q, minlength=size)
    good = np.flatnonzero(ok & (np.linalg.det(a) > 0))
    if good.size < 5:
        return np.zeros(0, int)
    cov = np.linalg.inv(a[good])
    slope = (cov @ b[good][..., None])[..., 0]
    depth = my[good]
    order = np.argsort(depth)
    k = min(neighbours, good.size)
    typical = np.empty_like(slope)
    for rank, i in enumerate(order):
        lo = min(max(rank - k // 2, 0), good.size - k)
        typical[i] = np.median(slope[order[lo:lo + k]], axis=0)
    d = slope - typical
    chi2 = np.einsum("ni,nij,nj->n", d, np.linalg.inv(cov), d)
    # chi^2(2) tail at n_sigma: exp(-x/2) = two-sided normal tail probability.
    limit = -2.0 * math.log(math.erfc(n_sigma / math.sqrt(2.0)))
    return good[chi2 > limit]
