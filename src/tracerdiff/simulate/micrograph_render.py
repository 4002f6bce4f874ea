"""Drawing the imperfections of a real etched-surface micrograph (used by :mod:`.micrograph`).

Every function here is pure: labels (on the micrograph's own grid) and a random generator in,
an array out. Units: micrograph pixels; grey levels are fractions of the bright surface level.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def boundary_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the pixels next to a boundary, index of their grain pair, -1 elsewhere).

    Both pixels of every 4-neighbour pair across a boundary are marked: the groove is centred on
    the boundary line between them. The pair index numbers the distinct (a, b) label pairs in
    sorted order, so per-boundary properties can be drawn once per boundary.
    """
    lab = np.asarray(labels, dtype=np.int64)
    base = int(lab.max()) + 1
    key = np.full(lab.shape, -1, dtype=np.int64)
    for axis in (0, 1):
        a = np.moveaxis(lab, axis, 0)
        k = np.moveaxis(key, axis, 0)
        cut = a[:-1] != a[1:]
        pair = np.minimum(a[:-1], a[1:]) * base + np.maximum(a[:-1], a[1:])
        k[:-1][cut] = pair[cut]
        k[1:][cut] = pair[cut]
    mask = key >= 0
    index = np.full(lab.shape, -1, dtype=np.int64)
    _, inverse = np.unique(key[mask], return_inverse=True)
    index[mask] = inverse
    return mask, index


def faint_stretches(mask: np.ndarray, fraction: float, length_px: float, rng,
                    pair: np.ndarray | None = None) -> np.ndarray:
    """Mask of the groove pixels in faint stretches: about ``fraction`` of ``mask``, as stretches
    ``length_px`` long centred on random groove pixels, each along one boundary (``pair``: the
    boundary index of every groove pixel; None: round patches that may span junctions)."""
    faint = np.zeros(mask.shape, bool)
    if fraction <= 0 or not mask.any():
        return faint
    pixels = np.argwhere(mask)
    order = rng.permutation(len(pixels))
    target = fraction * len(pixels)

    def cover(n):
        centres = np.ones(mask.shape, bool)
        centres[tuple(pixels[order[:n]].T)] = False
        dist, (iy, ix) = ndi.distance_transform_edt(centres, return_indices=True)
        same = True if pair is None else pair[iy, ix] == pair
        return mask & (dist <= length_px / 2) & same

    # Bisect the number of patches for the asked fraction (coverage grows with n).
    lo, hi = 0, len(pixels)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if cover(mid).sum() < target:
            lo = mid
        else:
            hi = mid
    return cover(hi)


def groove_darkening(labels: np.ndarray, *, depth: tuple[float, float], width_px: tuple[float, float],
                     faint_fraction: float, faint_level: float, faint_length_px: float,
                     rng) -> tuple[np.ndarray, np.ndarray]:
    """(darkening in [0, 1), faint-stretch mask): a Gaussian groove on every boundary with its own
    depth and full width at half maximum, drawn uniformly from the given ranges; in the faint
    stretches the depth is multiplied by ``faint_level`` (0 = interrupted groove)."""
    mask, index = boundary_pairs(labels)
    if not mask.any():
        return np.zeros(labels.shape), mask
    n_pairs = int(index.max()) + 1
    pair_depth = rng.uniform(depth[0], depth[1], n_pairs)
    pair_sigma = rng.uniform(width_px[0], width_px[1], n_pairs) / _FWHM_PER_SIGMA
    faint = faint_stretches(mask, faint_fraction, faint_length_px, rng, pair=index)
    # Every pixel takes the groove of its nearest boundary pixel; that pixel's centre lies half a
    # pixel from the boundary line, hence the + 0.5.
    dist, (iy, ix) = ndi.distance_transform_edt(~mask, return_indices=True)
    near = index[iy, ix]
    d = dist + 0.5
    level = pair_depth[near] * np.where(faint[iy, ix], faint_level, 1.0)
    return level * np.exp(-0.5 * (d / pair_sigma[near]) ** 2), faint


def grain_tone(labels: np.ndarray, sd: float, rng) -> np.ndarray:
    """Per-grain brightness factor 1 + sd * N(0, 1) (orientation contrast), clipped to [0.5, 1.5]."""
    lab = np.asarray(labels, dtype=np.int64)
    uniq, inverse = np.unique(lab, return_inverse=True)
    tone = np.clip(1.0 + sd * rng.standard_normal(uniq.size), 0.5, 1.5)
    return tone[inverse].reshape(lab.shape)


def illumination(shape: tuple[int, int], amplitude: float, rng) -> np.ndarray:
    """Smooth illumination factor with peak-to-peak variation ``amplitude``: a random tilt plus a
    centred vignetting bump (brightest near a random point inside the image)."""
    if amplitude <= 0:
        return np.ones(shape)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    u, v = yy / max(shape[0] - 1, 1) - 0.5, xx / max(shape[1] - 1, 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    cy, cx = rng.uniform(-0.2, 0.2, 2)
    raw = 0.5 * (np.cos(angle) * u + np.sin(angle) * v) - ((u - cy) ** 2 + (v - cx) ** 2)
    raw = (raw - raw.min()) / np.ptp(raw)
    return 1.0 - amplitude * (1.0 - raw)


def pores(shape: tuple[int, int], *, per_10k_px: float, radius_px: tuple[float, float], depth: float,
          rng) -> np.ndarray:
    """Darkening by round pores (soft-edged dark disks) at random places, ``per_10k_px`` of them
    per 10^4 pixels on average."""
    out = np.zeros(shape)
    n = rng.poisson(per_10k_px * shape[0] * shape[1] / 1e4) if per_10k_px > 0 else 0
    if n == 0:
        return out
    cy = rng.uniform(0, shape[0], n)
    cx = rng.uniform(0, shape[1], n)
    r = rng.uniform(radius_px[0], radius_px[1], n)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    for y0, x0, r0 in zip(cy, cx, r):
        box = (slice(max(0, int(y0 - r0 - 3)), int(y0 + r0 + 4)), slice(max(0, int(x0 - r0 - 3)), int(x0 + r0 + 4)))
        d = np.hypot(yy[box] - y0, xx[box] - x0)
        # Soft edge (1 px logistic) so that a pore is a blob, not a pixel-perfect disk.
        out[box] = np.maximum(out[box], depth / (1.0 + np.exp((d - r0) / 0.5)))
    return out


def scratches(shape: tuple[int, int], *, count: int, depth: float, width_px: float,
              rng) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """(darkening, [(y0, x0, angle_rad), ...]) of ``count`` straight polishing scratches that
    run across the whole image at random places and angles (Gaussian profile of FWHM ``width_px``)."""
    out = np.zeros(shape)
    lines = []
    if count <= 0:
        return out, lines
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    sigma = width_px / _FWHM_PER_SIGMA
    for _ in range(int(count)):
        y0, x0 = rng.uniform(0.15, 0.85) * shape[0], rng.uniform(0.15, 0.85) * shape[1]
        angle = rng.uniform(0, np.pi)
        # Distance of every pixel from the line through (y0, x0) with direction (sin, cos).
        d = (yy - y0) * np.cos(angle) - (xx - x0) * np.sin(angle)
        out = np.maximum(out, depth * np.exp(-0.5 * (d / sigma) ** 2))
        lines.append((float(y0), float(x0), float(angle)))
    return out, lines
