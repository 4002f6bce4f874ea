"""Registering a micrograph onto the SIMS field: scale, rotation and shift (a similarity transform).

Real micrographs come at another magnification and slightly rotated. The transform maps SIMS
field pixels ``f`` (row, col) to micrograph pixels ``m = scale * R(theta) @ f + offset``, with
``R(theta) = [[cos, -sin], [sin, cos]]`` acting on (row, col) (the convention of
:class:`tracerdiff.simulate.MicrographTransform`).

The two images show the same boundaries differently: the micrograph as grooves (here the
boundary map of its segmentation, so scratches and pores are already gone), the C map as
steps (its gradient in units of its own counting noise). The transform maximises their
normalised cross-correlation:

1. a coarse search on images reduced 4x: every (scale, rotation) of a grid, the translation
   by FFT cross-correlation;
2. a refinement at full resolution of all four parameters (Nelder-Mead on the correlation of
   the micrograph map sampled at the transformed field pixels).

Step 2's optimum is limited by the edge strength's noise, not by the optimiser: with the true
boundary map in place of the C map's edge strength it lands within 0.03-0.04 px at the
corners, with the C map of a 3000 counts/px image 0.2-0.6 px. :func:`.optical.optical_grain_map`
therefore finishes with a fit of the C map itself (:mod:`.registration_refine`).

Units: pixels (SIMS field pixels for shifts and for the reported accuracy), degrees.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.boundaries.segmentation import edge_strength, fill_invalid
from tracerdiff.errors import InputError
from tracerdiff.results import Result


@dataclass(frozen=True, repr=False)
class OpticalRegistration(Result):
    """Where the SIMS field sits in the micrograph: ``m = scale * R(rotation) @ f + offset_px``.

    Attributes
    ----------
    scale
        Micrograph pixels per SIMS pixel (SIMS pixel size / micrograph pixel size).
    rotation_deg
        Rotation of the micrograph against the field.
    offset_px
        Micrograph (row, col) of the field's pixel (0, 0).
    correlation
        Normalised cross-correlation of the boundary maps (0 = unrelated, 1 = identical maps).
    corner_stderr_px
        Standard error (SIMS pixels) of the placement of the field's worst-placed corner, from
        the fit of the C map (:mod:`.registration_refine`); None when that fit was not made.
    """

    scale: float
    rotation_deg: float
    offset_px: tuple[float, float]
    correlation: float
    corner_stderr_px: float | None = None

    @property
    def shift_px(self) -> tuple[float, float]:
        """(dy, dx) moving the micrograph onto the field when scale is 1 and rotation 0
        (minus the offset), as the translation-only registration reported it."""
        return (-self.offset_px[0] + 0.0, -self.offset_px[1] + 0.0)

    def matrix(self) -> np.ndarray:
        t = np.deg2rad(self.rotation_deg)
        return self.scale * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])

    def micrograph_coords(self, field_coords) -> np.ndarray:
        """Micrograph (row, col) of field (row, col) points, shape (..., 2)."""
        f = np.asarray(field_coords, float)
        a = self.matrix()
        # Element-wise (a BLAS matmul of a large (n, 2) array is slow on a busy machine).
        return np.stack([a[0, 0] * f[..., 0] + a[0, 1] * f[..., 1] + self.offset_px[0],
                         a[1, 0] * f[..., 0] + a[1, 1] * f[..., 1] + self.offset_px[1]], axis=-1)

    def to_dict(self) -> dict:
        return {"scale": self.scale, "rotation_deg": self.rotation_deg,
                "offset_px": {"row": self.offset_px[0], "col": self.offset_px[1]},
                "correlation": self.correlation, "corner_stderr_px": self.corner_stderr_px}

    def _headline(self) -> tuple[str, str]:
        return "correlation", f"{self.correlation:.3f}"

    def _summary(self) -> list[tuple[str, str]]:
        rows = [self._headline(), ("scale", f"{self.scale:.4f}"), ("rotation", f"{self.rotation_deg:+.2f} deg"),
                ("field origin", f"micrograph ({self.offset_px[0]:.2f}, {self.offset_px[1]:.2f}) px")]
        if self.corner_stderr_px is not None:
            rows.append(("corner placement stderr", f"{self.corner_stderr_px:.2f} px"))
        return rows

    def _rows(self):
        return [{"scale": self.scale, "rotation_deg": self.rotation_deg, "offset_row_px": self.offset_px[0],
                 "offset_col_px": self.offset_px[1], "correlation": self.correlation,
                 "corner_stderr_px": self.corner_stderr_px}], \
            {"rotation_deg": "deg", "offset_row_px": "px", "offset_col_px": "px", "corner_stderr_px": "px"}

    def _plot(self, ax) -> None:
        """The SIMS field's outline in micrograph pixels (row down, column right)."""
        corners = self.micrograph_coords(np.array([[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]], float) * 100.0)
        ax.plot(corners[:, 1], corners[:, 0], "-o", ms=3, label="100×100 px of the field")
        ax.invert_yaxis()
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("micrograph column (px)")
        ax.set_ylabel("micrograph row (px)")
        ax.set_title(f"scale {self.scale:.3f}, rotation {self.rotation_deg:+.2f}°, correlation {self.correlation:.3f}",
                     fontsize=9)
        ax.legend(fontsize=7)


@dataclass(frozen=True)
class RegistrationOptions:
    """Search ranges and resolution of :func:`register_similarity`.

    Attributes
    ----------
    scale
        Micrograph pixels per SIMS pixel if known (e.g. from the two pixel sizes); searched
        around it by ``scale_range``.
    scale_range
        Relative range searched around ``scale`` (0.2: +-20 %; 0: the scale is taken as given).
    max_rotation_deg
        Rotations searched: +- this (0: none).
    coarse_factor
        Reduction of the coarse search.
    refine
        Finish with a fit of the C map itself (:func:`.registration_refine.refine_on_c_map`,
        used by :func:`.optical.optical_grain_map`), which also gives the placement's
        standard error.
    """

    scale: float = 1.0
    scale_range: float = 0.25
    max_rotation_deg: float = 6.0
    coarse_factor: int = 4
    refine: bool = True

    def __post_init__(self):
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise InputError(f"must be positive, got {self.scale!r}", source="scale")
        if not (0 <= self.scale_range < 1):
            raise InputError(f"must be in [0, 1), got {self.scale_range!r}", source="scale_range")
        if not (0 <= self.max_rotation_deg <= 45):
            raise InputError(f"must be in [0, 45], got {self.max_rotation_deg!r}", source="max_rotation_deg")
        if not (isinstance(self.coarse_factor, (int, np.integer)) and self.coarse_factor >= 1):
            raise InputError(f"must be an integer >= 1, got {self.coarse_factor!r}", source="coarse_factor")
        if not isinstance(self.refine, (bool, np.bool_)):
            raise InputError(f"must be True or False, got {self.refine!r}", source="refine")


def field_reference(c: np.ndarray, sigma_c: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The SIMS side: C's edge strength in noise units, capped at 10 (so that the strongest steps
    near the exchanged edge do not outweigh the many weaker ones), zero-mean on the valid pixels
    and 0 elsewhere."""
    # Smoothing 0.6 px rather than the segmentation's 1 px: the bulk gradient beside a step
    # skews the smoothed gradient's peak, and less smoothing skews it less (max corner error
    # over 4 test placements 0.11-0.49 px against 0.12-0.59 px).
    strength = np.minimum(edge_strength(fill_invalid(c, valid), fill_invalid(sigma_c, valid), smoothing_px=0.6), 10.0)
    ref = np.where(valid, strength - strength[valid].mean(), 0.0)
    return np.where(np.abs(ref) < 1e-12, 0.0, ref)  # no subnormal numbers (slow arithmetic)


_HIGH_PASS_PX = 8.0


def _rotation(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _coarse(moving: np.ndarray, ref: np.ndarray, opts: RegistrationOptions, *, rotation_deg: float = 0.0) -> tuple[float, float, np.ndarray, float]:
    """(scale, rotation_deg, offset, correlation) of the best grid point of the reduced search."""
    k = opts.coarse_factor
    h, w = ref.shape
    # Reduce the reference by block means; the moving map is sampled at the same spacing, after
    # a blur that removes what the reduction cannot hold.
    hc, wc = h // k, w // k
    # High-pass both maps (about half a grain): the C steps fade away from the exchanged edge
    # and the boundary density of the micrograph varies, and at this reduction those slow
    # variations would outweigh the network's geometry.
    ref = ref - ndi.gaussian_filter(ref, _HIGH_PASS_PX)
    moving = moving - ndi.gaussian_filter(moving, _HIGH_PASS_PX * opts.scale)
    ref_c = ref[:hc * k, :wc * k].reshape(hc, k, wc, k).mean(axis=(1, 3))
    ref_c = ref_c - ref_c.mean()
    ref_c = ndi.gaussian_filter(ref_c, 1.0)
    mov_blur = ndi.gaussian_filter(moving, 0.75 * k * opts.scale)
    mh, mw = moving.shape
    corners = np.array([[0, 0], [0, mw - 1], [mh - 1, 0], [mh - 1, mw - 1]], float)
    # Steps chosen so that half a step moves the field's corners by under a coarse pixel (the
    # blurred maps' correlation peak is wider than that).
    half_extent = 0.5 * np.hypot(h, w)
    step = 1.6 * k / half_extent
    n_rot = int(np.ceil(np.deg2rad(opts.max_rotation_deg) / step)) if opts.max_rotation_deg > 0 else 0
    rotations = rotation_deg + np.rad2deg(step * np.arange(-n_rot, n_rot + 1))
    n_sc = int(np.ceil(np.log1p(opts.scale_range) / step)) if opts.scale_range > 0 else 0
    scales = opts.scale * np.exp(step * np.arange(-n_sc, n_sc + 1))
    # One FFT size for every canvas (the largest), so the reference is transformed once.
    extents = []
    for sc in (scales.min(), scales.max()):
        for th in (rotations.min(), 0.0, rotations.max()):
            q = corners @ np.linalg.inv(sc * _rotation(th)).T
            extents.append(np.ptp(q, axis=0) / k + 3)
    size = tuple(int(v) for v in np.ceil(np.max(extents, axis=0) + [hc, wc]))
    ref_f = np.conj(np.fft.rfft2(ref_c, s=size))
    best = (-np.inf, opts.scale, 0.0, np.zeros(2))
    ref_norm = np.sqrt(np.sum(ref_c ** 2))
    for s in scales:
        for th in rotations:
            a = s * _rotation(th)
            # The micrograph in field-aligned coordinates q (m = a @ q): its bounding box.
            q = corners @ np.linalg.inv(a).T
            q0 = np.floor(q.min(axis=0) / k) * k
            q1 = np.ceil(q.max(axis=0) / k) * k
            gh, gw = int((q1[0] - q0[0]) / k) + 1, int((q1[1] - q0[1]) / k) + 1
            gy, gx = np.mgrid[0:gh, 0:gw]
            qy, qx = q0[0] + k * gy, q0[1] + k * gx
            my, mx = a[0, 0] * qy + a[0, 1] * qx, a[1, 0] * qy + a[1, 1] * qx
            canvas = ndi.map_coordinates(mov_blur, [my, mx], order=1, mode="constant", cval=np.nan)
            inside = np.isfinite(canvas)
            if not inside.any():
                continue
            canvas = np.where(inside, canvas - canvas[inside].mean(), 0.0)
            xc = np.fft.irfft2(np.fft.rfft2(canvas, s=size) * ref_f, s=size)
            # Only placements with the field inside the canvas: lag (i, j) puts field (0, 0) at canvas (i, j).
            ni, nj = max(gh - hc + 1, 1), max(gw - wc + 1, 1)
            xc = xc[:ni, :nj]
            # Normalised cross-correlation: the canvas's own variance under each placement (box
            # sums of integral images), and placements mostly inside the micrograph only.
            var = _box(canvas ** 2, hc, wc, ni, nj) - _box(canvas, hc, wc, ni, nj) ** 2 / (hc * wc)
            cover = _box(inside.astype(float), hc, wc, ni, nj) / (hc * wc)
            ncc = np.where(cover >= 0.9, xc / (ref_norm * np.sqrt(np.maximum(var, 1e-12))), -np.inf)
            i, j = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
            score = ncc[i, j]
            if score > best[0]:
                offset = a @ (q0 + k * np.array([i, j], float) + (k - 1) / 2.0)
                best = (score, float(s), float(th), offset)
    if not np.isfinite(best[0]):
        raise InputError("the micrograph and the SIMS field do not overlap at any searched scale and rotation",
                         source="optical")
    return best[1], best[2], best[3], best[0]


def _box(img: np.ndarray, hc: int, wc: int, ni: int, nj: int) -> np.ndarray:
    """Sums of ``img`` over every hc x wc window with its corner at (i, j), i < ni, j < nj."""
    integral = np.zeros((img.shape[0] + 1, img.shape[1] + 1))
    integral[1:, 1:] = img.cumsum(axis=0).cumsum(axis=1)
    i1, j1 = np.minimum(np.arange(ni) + hc, img.shape[0]), np.minimum(np.arange(nj) + wc, img.shape[1])
    i0, j0 = np.arange(ni), np.arange(nj)
    return (integral[np.ix_(i1, j1)] - integral[np.ix_(i0, j1)] - integral[np.ix_(i1, j0)]
            + integral[np.ix_(i0, j0)])


def _correlation(params, moving, ref_vals, field_pts, valid_norm) -> float:
    """Normalised correlation of the micrograph map at the transformed field pixels."""
    log_s, th, oy, ox = params
    a = np.exp(log_s) * _rotation(th)
    fy, fx = field_pts
    my = a[0, 0] * fy + a[0, 1] * fx + oy
    mx = a[1, 0] * fy + a[1, 1] * fx + ox
    vals = ndi.map_coordinates(moving, [my, mx], order=1, mode="constant", cval=np.nan)
    ok = np.isfinite(vals)
    if ok.mean() < 0.5:
        return 0.0
    v = np.where(ok, vals - vals[ok].mean(), 0.0)
    # Element-wise sums, not np.dot: OpenBLAS threads ddot above 10^4 elements, and on a busy
    # machine the threads' hand-off costs ~40 ms per call against 10 us.
    return float(np.sum(v * ref_vals) / (valid_norm * max(np.sqrt(np.sum(v * v)), 1e-12)))


def register_similarity(moving: np.ndarray, ref: np.ndarray, *,
                        options: RegistrationOptions | None = None) -> OpticalRegistration:
    """Similarity transform of the micrograph boundary map ``moving`` onto the field map ``ref``.

    Parameters
    ----------
    moving : numpy.ndarray
        Micrograph-grid map, bright on boundaries (e.g. a blurred boundary mask).
    ref : numpy.ndarray
        Field-grid map, bright on boundaries, zero-mean where valid and 0 elsewhere
        (:func:`field_reference`).
    """
    from scipy.optimize import minimize

    opts = options or RegistrationOptions()
    moving = np.asarray(moving, float)
    ref = np.asarray(ref, float)
    if not np.any(ref):
        raise InputError("the SIMS field shows no boundaries to register the micrograph to", source="optical")
    s0, th0, off0, _ = _coarse(moving, ref, opts)
    lo_s, hi_s = opts.scale / (1 + opts.scale_range), opts.scale * (1 + opts.scale_range)
    s0 = float(np.clip(s0, lo_s, hi_s))
    th0 = float(np.clip(th0, -opts.max_rotation_deg, opts.max_rotation_deg))
    if opts.coarse_factor > 1:
        # The reduced search places the field to about one reduced pixel; the refinement's capture
        # range is ~2 px, so fix the shift at full resolution first (one FFT correlation).
        _, _, off0, _ = _coarse(moving, ref, RegistrationOptions(scale=s0, scale_range=0.0, max_rotation_deg=0.0,
                                                                 coarse_factor=1), rotation_deg=th0)
    # Refine about the field's centre fc, in units that move the field's corners by ~1 px each:
    # u = (R dlog(scale), R dtheta[rad], centre row, centre col), R the centre-to-corner distance.
    h, w = ref.shape
    fc = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    radius = float(np.hypot(*fc))
    mc0 = s0 * _rotation(th0) @ fc + off0
    # Every 3rd pixel: the blurred maps need no more.
    yy, xx = np.mgrid[0:h:3, 0:w:3]
    pts = (yy.ravel().astype(float), xx.ravel().astype(float))
    ref_vals = ref[yy, xx].ravel()
    norm = np.sqrt(np.sum(ref_vals * ref_vals))
    free = [i for i, on in enumerate((opts.scale_range > 0, opts.max_rotation_deg > 0, True, True)) if on]

    def params(u_free):
        u = np.zeros(4)
        u[2:] = mc0
        u[free] = u_free
        log_s = np.log(s0) + u[0] / radius
        th = th0 + np.rad2deg(u[1] / radius)
        a = np.exp(log_s) * _rotation(th)
        off = u[2:] - a @ fc
        return log_s, th, off

    def cost(u_free):
        log_s, th, off = params(u_free)
        # The ranges asked for are hard limits (a flat penalty outside).
        if not (np.log(lo_s) - 1e-9 <= log_s <= np.log(hi_s) + 1e-9) or abs(th) > opts.max_rotation_deg + 1e-9:
            return 1.0
        return -_correlation((log_s, th, off[0], off[1]), moving, ref_vals, pts, norm)

    u0 = np.r_[0.0, 0.0, mc0][free]
    res = minimize(cost, u0, method="Nelder-Mead",
                   options={"initial_simplex": np.vstack([u0, u0 + np.eye(len(u0))]), "xatol": 0.02,
                            "fatol": 1e-7, "maxiter": 800})
    log_s, th, off = params(res.x)
    full = OpticalRegistration(scale=float(np.exp(log_s)), rotation_deg=float(th) + 0.0,
                               offset_px=(float(off[0]), float(off[1])), correlation=float(-res.fun))
    if opts.scale_range == 0 and opts.max_rotation_deg == 0:
        return full
    # Occam: if the given scale without rotation correlates as well (within 2 %), keep it. The
    # C map's step edges pull the free fit ~0.1 % in scale (0.2-0.4 px at a 206 x 128 field's
    # corners), enough to move label boundaries by a pixel where an exact shift would not;
    # a real 2 % scale or 0.5 deg rotation halves the correlation of the restricted fit.
    try:
        plain = register_similarity(moving, ref, options=replace(opts, scale_range=0.0, max_rotation_deg=0.0))
    except InputError:  # at the given scale the micrograph cannot hold the field
        return full
    return plain if plain.correlation >= full.correlation - max(0.005, 0.02 * abs(full.correlation)) else full


def boundary_map(labels: np.ndarray, *, blur_px: float = 1.0) -> np.ndarray:
    """Blurred boundary mask of a label image (both pixels of every label change), zero-mean."""
    lab = np.asarray(labels)
    b = np.zeros(lab.shape)
    for axis in (0, 1):
        a = np.moveaxis(lab, axis, 0)
        o = np.moveaxis(b, axis, 0)
        cut = (a[:-1] != a[1:]) & (a[:-1] > 0) & (a[1:] > 0)
        o[:-1] += cut
        o[1:] += cut
    b = np.minimum(b, 1.0)
    b = ndi.gaussian_filter(b, blur_px) if blur_px > 0 else b
    # Gaussian tails underflow to subnormal numbers, which make every later product ~50x slower.
    return np.where(b < 1e-9, 0.0, b)


def labels_on_field_similarity(labels: np.ndarray, reg: OpticalRegistration, shape: tuple[int, int]) -> np.ndarray:
    """Micrograph labels at every field pixel (nearest micrograph pixel; 0 outside the micrograph)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    m = reg.micrograph_coords(np.stack([yy, xx], axis=-1))
    r, c = np.rint(m[..., 0]).astype(int), np.rint(m[..., 1]).astype(int)
    inside = (r >= 0) & (r < labels.shape[0]) & (c >= 0) & (c < labels.shape[1])
    out = np.zeros(shape, np.int32)
    out[inside] = np.asarray(labels)[r[inside], c[inside]]
    return out
