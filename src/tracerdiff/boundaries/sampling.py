"""Samples of C across one boundary: pixel strips along the normal, or user-drawn lines.

Both paths return samples in the fit coordinates of :mod:`tracerdiff.boundaries.step`:
``s`` along the boundary normal (pixels, downstream grain < 0 < upstream grain, i.e.
pointing towards the tracer source) and ``t`` along the boundary.

Using the boundary NORMAL matters: the flux law relates ΔC to the normal gradient. For
an oblique boundary dC/dy of the image is the normal gradient times 1/cos(angle) plus a
tangential part, which biases D*gb/delta upwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.boundaries.segmentation import BoundarySegment
from tracerdiff.boundaries.step import StepFit, fit_step_auto
from tracerdiff.errors import InputError


@dataclass(frozen=True)
class Samples:
    """Samples across one boundary (pixel units) and the grains they belong to."""

    s: np.ndarray
    t: np.ndarray
    c: np.ndarray
    sigma: np.ndarray
    normal_cos: float
    downstream: int = 0
    upstream: int = 0


def oriented_normal(tangent: tuple[float, float], source_dir: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Unit normal pointing towards the source, and |cos| of its angle to the transport direction."""
    n = np.array([-tangent[1], tangent[0]])
    cos = float(n @ np.asarray(source_dir))
    if cos < 0:
        n = -n
    return n, abs(cos)


def strip_samples(c: np.ndarray, sigma: np.ndarray, labels: np.ndarray, distance: np.ndarray,
                  segment: BoundarySegment, source_dir: tuple[float, float], *, depth_px: float,
                  exclude_px: float) -> Samples:
    """Pixels of the two grains of ``segment`` in a strip along its normal.

    Keeps pixels of grain a or b within ``depth_px`` of the boundary line along the normal,
    within the segment's extent along it, and at least ``exclude_px`` from ANY boundary
    (the PSF blurs every step over a few pixels; blurred pixels would bias both fits).
    """
    n, cos = oriented_normal(segment.tangent, source_dir)
    u = np.asarray(segment.tangent)
    cx, cy = segment.center
    half = segment.length / 2.0
    r = int(np.ceil(half + depth_px)) + 1
    y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 1, c.shape[0])
    x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 1, c.shape[1])
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dx, dy = xx - cx, yy - cy
    s = dx * n[0] + dy * n[1]
    t = dx * u[0] + dy * u[1]
    lab = labels[y0:y1, x0:x1]
    a, b = segment.grains
    near = (np.abs(t) <= half) & (np.abs(s) <= depth_px) & (distance[y0:y1, x0:x1] >= exclude_px)
    in_a, in_b = near & (lab == a), near & (lab == b)
    # The grain whose pixels lie mostly on the negative side is the downstream one.
    mean_a = s[in_a].mean() if in_a.any() else 0.0
    mean_b = s[in_b].mean() if in_b.any() else 0.0
    down, up = (a, b) if mean_a <= mean_b else (b, a)
    keep = near & (((lab == down) & (s < 0)) | ((lab == up) & (s > 0)))
    return Samples(s[keep], t[keep], c[y0:y1, x0:x1][keep], sigma[y0:y1, x0:x1][keep], cos, down, up)


def line_samples(c: np.ndarray, sigma: np.ndarray, line_px: tuple[float, ...], source_dir: tuple[float, float],
                 *, width_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Width-averaged profile of C along a user line (pixel coordinates), oriented towards the source.

    Returns
    -------
    pos, c, sigma, cos
        Positions along the line (pixels, increasing towards the source), the averaged C,
        its standard error, and |cos| between the line and the transport direction.
    """
    x0, y0, x1, y1 = line_px
    vec = np.array([x1 - x0, y1 - y0], dtype=float)
    length = float(np.hypot(*vec))
    if not length >= 4:
        raise InputError(f"line ({x0:g},{y0:g})-({x1:g},{y1:g}) is shorter than 4 pixels", source="line")
    e = vec / length
    cos = float(e @ np.asarray(source_dir))
    if cos < 0:  # walk from downstream to upstream
        x0, y0, x1, y1, e, cos = x1, y1, x0, y0, -e, -cos
    perp = np.array([-e[1], e[0]])
    h, w = c.shape
    # The sampling grid is length x width points: check the line's corners before allocating it
    # (a line at 1e9 um asked for 52.7 GiB instead of saying it is outside the image).
    half = 0.5 * max(round(width_px) - 1, 0)
    corners = [(x + s * half * perp[0], y + s * half * perp[1]) for x, y in ((x0, y0), (x1, y1)) for s in (-1, 1)]
    if any(not (-0.5 <= cx <= w - 0.5 and -0.5 <= cy <= h - 0.5) for cx, cy in corners):
        raise InputError(f"line ({x0:g},{y0:g})-({x1:g},{y1:g}) with width {width_px:g} px leaves the "
                         f"image ({w} x {h} px)", source="line")
    n_along = int(np.floor(length)) + 1
    pos = np.arange(n_along, dtype=float)
    offsets = np.arange(max(int(round(width_px)), 1), dtype=float)
    offsets -= offsets.mean()
    px = x0 + pos[:, None] * e[0] + offsets[None, :] * perp[0]
    py = y0 + pos[:, None] * e[1] + offsets[None, :] * perp[1]
    if px.min() < -0.5 or py.min() < -0.5 or px.max() > w - 0.5 or py.max() > h - 0.5:
        raise InputError(f"line ({x0:g},{y0:g})-({x1:g},{y1:g}) with width {width_px:g} px leaves the "
                         f"image ({w} x {h} px)", source="line")
    coords = np.stack([py.ravel(), px.ravel()])
    cv = ndi.map_coordinates(c, coords, order=1, mode="nearest").reshape(px.shape)
    sv = ndi.map_coordinates(sigma, coords, order=1, mode="nearest").reshape(px.shape)
    k = offsets.size
    return pos, cv.mean(axis=1), np.sqrt((sv ** 2).mean(axis=1) / k), abs(cos)


def locate_step(pos: np.ndarray, c: np.ndarray, sigma: np.ndarray, *, exclude_px: float, degree,
                shared_gradient: bool, min_depth_px: float) -> tuple[float, StepFit]:
    """Find the boundary on a profile as the split point that best fits two polynomials.

    Every half-pixel position leaving enough samples on both sides is tried (a
    change-point search); the one with the smallest chi-square wins.
    """
    candidates = []
    lo = pos[0] + exclude_px + min_depth_px
    hi = pos[-1] - exclude_px - min_depth_px
    for x_b in np.arange(np.ceil(lo * 2) / 2, hi + 1e-9, 0.5):
        s = pos - x_b
        keep = np.abs(s) >= exclude_px
        fit = fit_step_auto(s[keep], c[keep], sigma[keep], degree=degree, shared_gradient=shared_gradient,
                       min_depth_px=min_depth_px)
        if not fit.reason:
            candidates.append((float(x_b), fit))
    if not candidates:
        raise InputError("the line is too short to fit C on both sides of a boundary "
                         f"(needs > {2 * (exclude_px + min_depth_px):g} px)", source="line")
    chi2 = np.array([f.chi2_red for _, f in candidates])
    # Noise-free profiles fit perfectly wherever the excluded window covers the step: take the
    # middle of the tied positions, which centres the window on the step.
    tied = np.flatnonzero(chi2 <= chi2.min() * (1 + 1e-6) + 1e-12)
    x_b, fit = candidates[int(tied[len(tied) // 2])]
    # Any split whose excluded window covers the step fits about equally well, so refine the
    # position to the steepest rise of the profile inside that window and refit there.
    mids = pos[:-1] + 0.5
    rise = np.convolve(np.diff(c), [0.25, 0.5, 0.25], mode="same")
    window = np.abs(mids - x_b) <= exclude_px
    if window.any():
        x_new = float(mids[window][np.argmax(rise[window])])
        s = pos - x_new
        keep = np.abs(s) >= exclude_px
        refit = fit_step_auto(s[keep], c[keep], sigma[keep], degree=degree, shared_gradient=shared_gradient,
                              min_depth_px=min_depth_px)
        if not refit.reason:
            x_b, fit = x_new, refit
    return x_b, fit
