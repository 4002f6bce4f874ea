"""Finding grains and boundary segments from the C map itself (micrographs: :mod:`.optical`).

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
        """Unit normal (x, y): the tangent turned by +90 degrees."""
        return (-self.tangent[1], self.tangent[0])

    @property
    def orientation_deg(self) -> float:
        """Angle of the boundary line from the image x axis, degrees in [0, 180)."""
        return float(np.degrees(np.arctan2(-self.tangent[1], self.tangent[0])) % 180.0)

    def to_dict(self, *, pixel_size_um: float = 1.0) -> dict:
        """Position and extent in micrometres (pixel centres at integer multiples of the pixel size)."""
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
                   h_minimum: float = 0.2, merge_z: float = 1.0) -> np.ndarray:
    """Grain label image (1..n, 0 = no counts): over-segment by watershed, then merge flat boundaries.

    Missing a boundary is far worse than inventing one: a grain that hides a step has a
    plane-fit gradient many times the true bulk gradient, while a spurious boundary inside a
    grain merely shows no step and is flagged. So the watershed starts from every h-minimum
    of the (noise-normalised) edge strength, and neighbouring regions are then merged
    when the mean C on the two sides of their common boundary differs by less than
    ``merge_z`` standard errors.

    Parameters
    ----------
    c, sigma_c, valid : numpy.ndarray
        Isotope fraction, its counting error and the mask of pixels with counts.
    smoothing_px : float
        Gaussian smoothing of C before the Sobel gradient, and of the strength map.
    h_minimum : float
        Depth (in noise units) of the edge-strength minima that seed regions.
    merge_z : float
        Steps less significant than this are not boundaries.
    """
    from skimage import measure, morphology, segmentation

    cf = fill_invalid(c, valid)
    sf = fill_invalid(sigma_c, valid)
    strength = ndi.gaussian_filter(edge_strength(cf, sf, smoothing_px=smoothing_px), smoothing_px)
    # Pure counting noise puts the lowest decile of the strength near 1; above that the bulk
    # gradient itself is resolved (clean images), minima are deeper, and so is h.
    h = h_minimum * max(1.0, float(np.percentile(strength[valid], 10)))
    seeds = measure.label(morphology.h_minima(strength, h) & valid, connectivity=1)
    if seeds.max() == 0:
        return np.where(valid, 1, 0).astype(np.int32)
    labels = segmentation.watershed(strength, seeds, mask=valid).astype(np.int32)
    labels = merge_flat_boundaries(labels, cf, sf, merge_z=merge_z)
    labels, _, _ = segmentation.relabel_sequential(labels)
    return labels.astype(np.int32)


def merge_flat_boundaries(labels: np.ndarray, c: np.ndarray, sigma_c: np.ndarray, *, merge_z: float = 1.0,
                          band: tuple[int, int] = (1, 5)) -> np.ndarray:
    """Merge neighbouring regions whose common boundary shows no significant step in C.

    For every pair of 4-neighbour pixels across a boundary, pixels ``band[0]..band[1]-1``
    further out on each side (same row or column, same region) are collected per region
    pair, and a two-level model with one shared slope, ``C = a_side + g s``, is fitted to
    them by weighted least squares (closed form from bincount sums): the step is
    ``a_b - a_a``. The slope matters in clean images, where the bulk gradient alone would
    make a spurious boundary look significant. Pairs with |step| < merge_z * stderr merge
    (connected components of the graph of flat boundaries).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = int(labels.max()) + 1
    w_img = 1.0 / sigma_c ** 2
    keys_all, sums_all = [], []
    for axis in (0, 1):
        lab = np.moveaxis(labels, axis, 0)
        cc, ww = np.moveaxis(c, axis, 0), np.moveaxis(w_img, axis, 0)
        i, j = np.nonzero((lab[:-1] != lab[1:]) & (lab[:-1] > 0) & (lab[1:] > 0))
        la, lb = lab[i, j], lab[i + 1, j]
        swap = la > lb  # orient every pair as (low label, high label): s > 0 on the high side
        sums = np.zeros((10, i.size))  # per side (low, high): W, Ws, Wss, Wc, Wsc
        for k in range(band[0], band[1]):
            for row, own, sign in ((i - k, la, -1.0), (i + 1 + k, lb, 1.0)):
                inside = (row >= 0) & (row < lab.shape[0])
                r = np.clip(row, 0, lab.shape[0] - 1)
                wk = np.where(inside & (lab[r, j] == own), ww[r, j], 0.0)
                s_pos = np.where(swap, -sign, sign) * (k + 0.5)
                high = s_pos > 0
                ck = cc[r, j]
                for q, v in enumerate((wk, wk * s_pos, wk * s_pos ** 2, wk * ck, wk * s_pos * ck)):
                    sums[q] += np.where(high, 0.0, v)
                    sums[5 + q] += np.where(high, v, 0.0)
        keys_all.append(np.minimum(la, lb).astype(np.int64) * n + np.maximum(la, lb))
        sums_all.append(sums)
    keys = np.concatenate(keys_all)
    if keys.size == 0:
        return labels
    uniq, inv = np.unique(keys, return_inverse=True)
    sums = np.concatenate(sums_all, axis=1)
    W0, S0, SS0, C0, SC0, W1, S1, SS1, C1, SC1 = (np.bincount(inv, v) for v in sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        sxx = (SS0 - S0 ** 2 / W0) + (SS1 - S1 ** 2 / W1)
        sxc = (SC0 - S0 * C0 / W0) + (SC1 - S1 * C1 / W1)
        g = np.where(sxx > 0, sxc / sxx, 0.0)
        step = (C1 - g * S1) / W1 - (C0 - g * S0) / W0
        lever = S1 / W1 - S0 / W0
        se = np.sqrt(1.0 / W0 + 1.0 / W1 + np.where(sxx > 0, lever ** 2 / sxx, 0.0))
        z = np.abs(step) / se
    flat = np.isfinite(z) & (z < merge_z)
    a, b = uniq[flat] // n, uniq[flat] % n
    graph = coo_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    merged = component[labels] + 1
    return np.where(labels > 0, merged, 0)


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
    base = int(labels.max()) + 1
    uniq, inv = np.unique(keys, return_inverse=True)
    # Principal axis of every pair's boundary points at once, from bincount moments.
    x, y = pts[:, 0], pts[:, 1]
    cnt = np.bincount(inv).astype(float)
    mx, my = np.bincount(inv, x) / cnt, np.bincount(inv, y) / cnt
    dx, dy = x - mx[inv], y - my[inv]
    sxx, sxy, syy = np.bincount(inv, dx * dx), np.bincount(inv, dx * dy), np.bincount(inv, dy * dy)
    angle = 0.5 * np.arctan2(2 * sxy, sxx - syy)
    tx, ty = np.cos(angle), np.sin(angle)
    u = dx * tx[inv] + dy * ty[inv]
    umin = np.full(uniq.size, np.inf)
    umax = np.full(uniq.size, -np.inf)
    np.minimum.at(umin, inv, u)
    np.maximum.at(umax, inv, u)
    extent = umax - umin
    segments = []
    long_pairs = set(np.flatnonzero(extent > max_length_px).tolist())
    for k in range(uniq.size):
        pair = (int(uniq[k] // base), int(uniq[k] % base))
        if k in long_pairs:
            for chunk in _split(pts[inv == k], max_length_px):
                seg = _line_fit(chunk, pair)
                if seg is not None and seg.length >= min_length_px:
                    segments.append(seg)
        elif cnt[k] >= 2 and extent[k] + 1.0 >= min_length_px:
            t = (float(tx[k]), float(ty[k])) if tx[k] > 0 or (tx[k] == 0 and ty[k] > 0) else \
                (float(-tx[k]), float(-ty[k]))
            segments.append(BoundarySegment(pair, (float(mx[k]), float(my[k])), t, float(extent[k] + 1.0),
                                            int(cnt[k])))
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
