"""Finding grains and boundary segments: from the C map itself or an optical micrograph.

In a slow-boundary tracer image C is nearly flat inside each grain (fast bulk) and jumps at
every boundary that carries flux. Edges are therefore found on the gradient magnitude of a
lightly smoothed, noise-normalised C map, and grains by marker-based watershed on it
(scikit-image). Boundaries parallel to the flux carry no step and stay invisible; the
grains on their two sides merge, which is harmless because such boundaries are not
measurable by the step method anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.errors import InputError

#: Unit vectors (x, y) pointing from the image interior towards each edge; y grows downwards (row 0 = top).
EDGE_DIRECTIONS = {"top": (0.0, -1.0), "bottom": (0.0, 1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}


@dataclass(frozen=True)
class BoundarySegment:
    """A straight piece of the boundary between two grains, in pixel coordinates.

    Attributes
    ----------
    grains
        (a, b) labels of the two grains, a < b.
    center
        (x, y) of the segment centre, pixels (pixel centres at integers).
    tangent
        Unit vector (x, y) along the boundary.
    length
        Extent along the tangent, pixels.
    n_pixels
        Number of boundary pixel pairs behind the segment.
    """

    grains: tuple[int, int]
    center: tuple[float, float]
    tangent: tuple[float, float]
    length: float
    n_pixels: int

    @property
    def normal(self) -> tuple[float, float]:
        return (-self.tangent[1], self.tangent[0])

    @property
    def orientation_deg(self) -> float:
        """Angle of the boundary line from the image x axis, degrees in [0, 180)."""
        return float(np.degrees(np.arctan2(-self.tangent[1], self.tangent[0])) % 180.0)

    def to_dict(self, pixel_size_um: float = 1.0) -> dict:
        return {"grains": list(self.grains), "x_um": self.center[0] * pixel_size_um,
                "y_um": self.center[1] * pixel_size_um, "length_um": self.length * pixel_size_um,
                "orientation_deg": self.orientation_deg, "n_pixels": self.n_pixels}


def fill_invalid(c: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """C with masked pixels replaced by their nearest valid neighbour (for filtering only)."""
    if valid.all():
        return c
    idx = ndi.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return c[tuple(idx)]


def detect_source_edge(c: np.ndarray, valid: np.ndarray) -> str:
    """The image edge the tracer comes from: the one the large-scale C gradient points to.

    Raises
    ------
    InputError
        If C has no resolvable large-scale trend (no tracer gradient in the image).
    """
    yy, xx = np.nonzero(valid)
    if yy.size < 10:
        raise InputError("too few pixels with counts to find the tracer source edge")
    x, y = xx - xx.mean(), yy - yy.mean()
    design = np.column_stack([np.ones(yy.size), x, y])
    coef, *_ = np.linalg.lstsq(design, c[valid], rcond=None)
    gx, gy = coef[1], coef[2]
    resid = c[valid] - design @ coef
    sigma2 = float(resid @ resid) / max(yy.size - 3, 1)
    z = np.hypot(gx / np.sqrt(sigma2 / (x @ x) + 1e-300), gy / np.sqrt(sigma2 / (y @ y) + 1e-300))
    change = np.hypot(gx * np.ptp(xx), gy * np.ptp(yy))
    # A trend must be both statistically clear and more than rounding noise of C.
    if not (z > 5 and change > 1e-6):
        raise InputError("C has no large-scale gradient: cannot tell which edge the tracer came from "
                         "(give the source edge explicitly)")
    return max(EDGE_DIRECTIONS, key=lambda k: EDGE_DIRECTIONS[k][0] * gx + EDGE_DIRECTIONS[k][1] * gy)


def edge_strength(c: np.ndarray, sigma_c: np.ndarray, *, smoothing_px: float = 1.0) -> np.ndarray:
    """Gradient magnitude of the smoothed C map in units of its own counting noise."""
    from skimage import filters

    smooth = ndi.gaussian_filter(c, smoothing_px, mode="nearest")
    grad = np.hypot(filters.sobel_h(smooth), filters.sobel_v(smooth))
    # Noise of the Sobel-of-Gaussian output for white noise of unit variance (numerical, exact for the kernel).
    impulse = np.zeros((33, 33))
    impulse[16, 16] = 1.0
    k = ndi.gaussian_filter(impulse, smoothing_px)
    unit_noise = np.sqrt(np.sum(filters.sobel_h(k) ** 2))
    noise = ndi.gaussian_filter(sigma_c, 4 * smoothing_px, mode="nearest") * unit_noise
    return grad / np.maximum(noise, np.finfo(float).tiny)


def segment_grains(c: np.ndarray, sigma_c: np.ndarray, valid: np.ndarray, *, smoothing_px: float = 1.0,
                   edge_threshold: float = 3.0, min_grain_px: int = 12) -> np.ndarray:
    """Grain label image (1..n, 0 = no counts) by marker watershed on the C edge strength.

    Parameters
    ----------
    c, sigma_c, valid
        Isotope fraction, its counting error and the mask of pixels with counts.
    edge_threshold
        Edge strength (in noise units) above which a pixel is not a grain-interior seed.
    min_grain_px
        Seeds smaller than this are dropped (their pixels join neighbouring grains).
    """
    from skimage import measure, morphology, segmentation

    cf = fill_invalid(c, valid)
    sf = fill_invalid(sigma_c, valid)
    strength = edge_strength(cf, sf, smoothing_px=smoothing_px)
    # Interior seeds: well below the edge threshold after a small erosion, so seeds never bridge a boundary.
    strength = ndi.gaussian_filter(strength, 1.0)
    # In very clean images the bulk gradient itself exceeds a noise-based threshold: then the
    # threshold follows the edges (a quarter of the strongest 2 % of edge strengths).
    threshold = max(edge_threshold, 0.25 * float(np.percentile(strength[valid], 98)))
    calm = strength < threshold
    calm = ndi.binary_erosion(calm, structure=np.ones((3, 3)), border_value=1) & valid
    calm = morphology.remove_small_objects(calm, max_size=min_grain_px)
    seeds = measure.label(calm, connectivity=1)
    if seeds.max() == 0:
        return np.where(valid, 1, 0).astype(np.int32)
    labels = segmentation.watershed(strength, seeds, mask=valid)
    labels, _, _ = segmentation.relabel_sequential(labels)
    return labels.astype(np.int32)


def labels_from_optical(optical: np.ndarray, *, dark_boundaries: bool = True, min_grain_px: int = 12) -> np.ndarray:
    """Grain labels from an etched-surface micrograph where boundaries are thin grooves.

    A ridge filter (Sato) enhances the grooves; pixels away from ridges seed a watershed.
    """
    from skimage import filters, measure, morphology, segmentation

    img = np.asarray(optical, dtype=float)
    span = np.ptp(img)
    if not span > 0:
        raise InputError("the optical image is uniform: no grain boundaries to find", source="optical")
    img = (img - img.min()) / span
    ridges = filters.sato(img, sigmas=(1.0, 2.0), black_ridges=dark_boundaries)
    threshold = filters.threshold_otsu(ridges)
    interior = ndi.binary_erosion(ridges < threshold, structure=np.ones((3, 3)), border_value=1)
    seeds = measure.label(morphology.remove_small_objects(interior, max_size=min_grain_px), connectivity=1)
    if seeds.max() == 0:
        raise InputError("no grains found in the optical image", source="optical")
    labels = segmentation.watershed(ridges, seeds)
    labels, _, _ = segmentation.relabel_sequential(labels)
    return labels.astype(np.int32)


def register_optical(optical: np.ndarray, c: np.ndarray, sigma_c: np.ndarray, valid: np.ndarray, *,
                     dark_boundaries: bool = True) -> tuple[np.ndarray, tuple[float, float]]:
    """Translate the optical image onto the SIMS field of view by phase correlation.

    The reference is the C edge-strength map (boundaries = bright lines); the optical
    image is compared through its ridge filter (grooves = bright lines). The optical
    image must have the SIMS pixel size; it is cropped/padded to the SIMS shape.

    Returns
    -------
    shifted, (dy, dx)
        The optical image moved onto the SIMS grid, and the shift applied (pixels).
    """
    from skimage import filters
    from skimage.registration import phase_cross_correlation

    img = np.asarray(optical, dtype=float)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=-1)
    if img.ndim != 2:
        raise InputError(f"the optical image must be 2D (grey) or RGB, got shape {np.shape(optical)}",
                         source="optical")
    fitted = np.full(c.shape, float(np.median(img)))
    h, w = min(img.shape[0], c.shape[0]), min(img.shape[1], c.shape[1])
    fitted[:h, :w] = img[:h, :w]
    ridges = filters.sato(fitted, sigmas=(1.0, 2.0), black_ridges=dark_boundaries)
    strength = edge_strength(fill_invalid(c, valid), fill_invalid(sigma_c, valid))
    shift, _, _ = phase_cross_correlation(strength, ridges, upsample_factor=10, normalization=None)
    shifted = ndi.shift(fitted, shift, order=1, mode="nearest")
    return shifted, (float(shift[0]), float(shift[1]))


def boundary_segments(labels: np.ndarray, *, min_length_px: float = 3.0,
                      max_length_px: float = 40.0) -> list[BoundarySegment]:
    """Straight boundary segments between every pair of touching grains.

    Boundary points are the midpoints between 4-connected neighbour pixels of different
    (non-zero) labels. The points of one grain pair are split into chunks of at most
    ``max_length_px`` along their principal axis, and each chunk gives one segment
    (centre, principal direction, extent).
    """
    pts, keys = [], []
    for axis in (0, 1):
        a = labels[:-1, :] if axis == 0 else labels[:, :-1]
        b = labels[1:, :] if axis == 0 else labels[:, 1:]
        diff = (a != b) & (a > 0) & (b > 0)
        r, col = np.nonzero(diff)
        y = r + (0.5 if axis == 0 else 0.0)
        x = col + (0.5 if axis == 1 else 0.0)
        lo, hi = np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])
        pts.append(np.column_stack([x, y]))
        keys.append(lo.astype(np.int64) * (int(labels.max()) + 1) + hi)
    pts = np.concatenate(pts)
    keys = np.concatenate(keys)
    if keys.size == 0:
        return []
    order = np.argsort(keys, kind="stable")
    pts, keys = pts[order], keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], keys.size]
    base = int(labels.max()) + 1
    segments = []
    for i0, i1 in zip(starts, ends):
        p = pts[i0:i1]
        pair = (int(keys[i0] // base), int(keys[i0] % base))
        for chunk in _split(p, max_length_px):
            seg = _line_fit(chunk, pair)
            if seg is not None and seg.length >= min_length_px:
                segments.append(seg)
    return segments


def _principal(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    center = p.mean(axis=0)
    q = p - center
    _, vecs = np.linalg.eigh(q.T @ q)
    direction = vecs[:, -1]
    if direction[0] < 0 or (direction[0] == 0 and direction[1] < 0):
        direction = -direction
    return center, direction


def _split(p: np.ndarray, max_length: float) -> list[np.ndarray]:
    if len(p) < 2:
        return [p]
    center, direction = _principal(p)
    u = (p - center) @ direction
    n_chunks = max(1, int(np.ceil(np.ptp(u) / max_length)))
    if n_chunks == 1:
        return [p]
    edges = np.linspace(u.min(), u.max(), n_chunks + 1)
    idx = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, n_chunks - 1)
    return [p[idx == k] for k in range(n_chunks) if np.any(idx == k)]


def _line_fit(p: np.ndarray, pair: tuple[int, int]) -> BoundarySegment | None:
    if len(p) < 2:
        return None
    center, direction = _principal(p)
    u = (p - center) @ direction
    length = float(np.ptp(u) + 1.0)
    return BoundarySegment(pair, (float(center[0]), float(center[1])),
                           (float(direction[0]), float(direction[1])), length, int(len(p)))
