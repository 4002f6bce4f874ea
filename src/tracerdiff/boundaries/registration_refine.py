"""Sub-pixel refinement of a micrograph registration by fitting the C map with the micrograph's grains.

The correlation search of :mod:`.registration` matches the micrograph's boundary map with the
C map's edge strength. At ~3000 counts/px the steps are only ~1 noise sd of that edge strength
(less far from the exchanged edge), and a gradient magnitude squares the noise, so that search
leaves the field's corners 0.2-0.6 px off (``benchmarks/bench_segmentation.py --registration``);
its optimum correlates better than the true placement does, so a finer optimiser cannot help.

Here the C map itself is fitted (least squares weighted by its counting error, Huber beyond 3
sd): every grain of the segmented micrograph carries a smooth C surface (a polynomial in the
field's coordinates, fitted on its interior pixels), the surfaces are blurred on the micrograph
grid and sampled at the transformed field pixels, and the four similarity parameters minimise
the misfit of the pixels within 3 px of a boundary. The surfaces are written in the field's
own coordinates, so that moving the transform moves the boundaries and not the bulk profile.
They are refitted for the new placement and the fit repeated until it stops moving. Left out:
a 5 px band along the field's edge (the blur reaches grains with no C data there) and the
surroundings of grains with a small interior (segmentation fragments: their level rests on a
few noisy pixels).

The standard error of the placement comes from the fit's curvature with a cluster-robust
("sandwich") estimate over tiles of about one grain, because model errors along one boundary
are correlated. That covers the counting noise, not the segmentation's own misplacements: over
81 placements (exchange seeds 8-10 x micrograph seeds 0-2 x 9 scales and rotations) the worst
corner's error was within 2 of these errors 51 times, and the median ratio was 1.76. The
reported error is therefore 1.5x the sandwich error (77 of those 81 within 2 of it); checked
on fresh seeds in docs/validation.rst.

Units: pixels (SIMS field pixels for the reported errors), degrees.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.boundaries.registration import OpticalRegistration, _rotation
from tracerdiff.errors import InputError

#: Field pixels this close to the field's edge are left out: the blur reaches grains beyond the
#: field that have no C data, and a SIMS image's border rows are often distorted.
_EDGE_PX = 5
#: Residuals this far (in counting-error units) from the model count linearly (Huber): a grain
#: the segmentation merged or split leaves a misfit that should not steer the fit.
_HUBER = 3.0
#: Side of the tiles over which residuals are taken as correlated (about one grain).
_TILE_PX = 16
#: The sandwich error times this is reported (it leaves out the segmentation's misplacements;
#: calibrated on 81 placements, see the module docstring).
_STDERR_FACTOR = 1.5
#: Grains with fewer interior pixels (those that get no plane) are left out of the fit.
_MIN_INTERIOR = 12
#: (terms, least interior pixels, least interior spread in px) of the grain surfaces.
_ORDERS = ((1, 1, 0.0), (3, 12, 1.5), (6, 40, 3.0))


def _field_labels(labels: np.ndarray, reg: OpticalRegistration, shape) -> np.ndarray:
    """Micrograph label at every field pixel (nearest; 0 outside the micrograph)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    m = reg.micrograph_coords(np.stack([yy, xx], axis=-1))
    r, c = np.rint(m[..., 0]).astype(int), np.rint(m[..., 1]).astype(int)
    inside = (r >= 0) & (r < labels.shape[0]) & (c >= 0) & (c < labels.shape[1])
    out = np.zeros(shape, np.int64)
    out[inside] = labels[r[inside], c[inside]]
    return out


def _basis(y, x) -> list:
    """The grain surfaces' terms: 1, y, x, y², xy, x² (normalised field coordinates)."""
    return [np.ones_like(y), y, x, y * y, x * y, x * x]


def grain_surfaces(lab_f: np.ndarray, c: np.ndarray, weight: np.ndarray, n: int, centre, span: float) -> np.ndarray:
    """Per-grain weighted least-squares surface of C, shape (n + 1, 6) (coefficients of :func:`_basis`).

    Fitted on each grain's interior (2 px from its boundaries and from the field's edge, where
    blur mixes grains): a quadratic when the interior spreads >= 3 px both ways over >= 40 px,
    a plane at >= 1.5 px over >= 12 px, else a constant (a thin interior leaves a plane's tilt
    undetermined). Grains without interior pixels get the weighted mean of C.
    """
    interior = (ndi.minimum_filter(lab_f, 5, mode="constant", cval=-1)
                == ndi.maximum_filter(lab_f, 5, mode="constant", cval=-1)) & (weight > 0) & (lab_f > 0)
    yy, xx = np.mgrid[0:c.shape[0], 0:c.shape[1]]
    lab = lab_f[interior]
    w2 = weight[interior] ** 2
    y, x, v = (yy[interior] - centre[0]) / span, (xx[interior] - centre[1]) / span, c[interior]
    count = np.bincount(lab, minlength=n + 1)
    coef = np.zeros((n + 1, 6))
    coef[:, 0] = np.sum(w2 * v) / np.sum(w2) if w2.size else float(np.mean(c[weight > 0]))
    if not lab.size:
        return coef, count
    ny = np.maximum(count, 1)
    spread = span * np.minimum(
        np.sqrt(np.maximum(np.bincount(lab, y * y, n + 1) / ny - (np.bincount(lab, y, n + 1) / ny) ** 2, 0)),
        np.sqrt(np.maximum(np.bincount(lab, x * x, n + 1) / ny - (np.bincount(lab, x, n + 1) / ny) ** 2, 0)))
    terms = _basis(y, x)
    a = np.empty((n + 1, 6, 6))
    b = np.empty((n + 1, 6))
    for i in range(6):
        b[:, i] = np.bincount(lab, w2 * terms[i] * v, n + 1)
        for j in range(i, 6):
            a[:, i, j] = a[:, j, i] = np.bincount(lab, w2 * terms[i] * terms[j], n + 1)
    for k, need, min_spread in _ORDERS:
        ok = (count >= need) & (spread >= min_spread)
        if not ok.any():
            continue
        ak = a[ok][:, :k, :k]
        # A vanishing ridge only guards against exact singularity (the spread test does the rest).
        ridge = 1e-10 * np.trace(ak, axis1=1, axis2=2)[:, None, None] * np.eye(k)
        coef[ok] = 0.0
        coef[ok, :k] = np.linalg.solve(ak + ridge, b[ok][:, :k, None])[..., 0]
    return coef, count


def refine_on_c_map(labels: np.ndarray, c: np.ndarray, sigma_c: np.ndarray, valid: np.ndarray,
                    start: OpticalRegistration, *, blur_px: float = 0.8, free_scale: bool = True,
                    free_rotation: bool = True, max_iterations: int = 3) -> OpticalRegistration:
    """Refine ``start`` by fitting the C map with the micrograph's grains (see the module docstring).

    Parameters
    ----------
    labels : numpy.ndarray
        Grain labels of the micrograph on its own grid (0 = no grain).
    c, sigma_c, valid : numpy.ndarray
        C map, its counting error and the pixels with counts.
    start : OpticalRegistration
        The placement to refine (within ~1 px at the field's corners).
    blur_px : float
        Gaussian sigma (SIMS pixels) applied to the grain surfaces: the beam and the pixel
        (0.6 um beam on 1 um pixels: ~0.7 px). The placement depends little on it.
    free_scale, free_rotation : bool
        Whether scale and rotation are refined (the shift always is).

    Returns
    -------
    OpticalRegistration
        The refined transform with ``corner_stderr_px`` set, or ``start`` unchanged if the C map
        carries no usable step or the fit leaves the start's capture range (3 px at a corner).
    """
    from scipy.optimize import least_squares

    if not (np.isfinite(blur_px) and blur_px > 0):
        raise InputError(f"must be > 0, got {blur_px!r}", source="blur_px")
    labels = np.asarray(labels)
    h, w = c.shape
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    radius = float(np.hypot(*centre))
    ok = valid & np.isfinite(c) & np.isfinite(sigma_c) & (sigma_c > 0)
    weight = np.where(ok, 1.0 / np.where(ok, sigma_c, 1.0), 0.0)
    cz = np.where(ok, c, 0.0)
    n = int(labels.max()) if labels.size else 0
    free = [i for i, on in enumerate((free_scale, free_rotation, True, True)) if on]
    s0, th0 = start.scale, start.rotation_deg
    u = np.r_[0.0, 0.0, start.micrograph_coords(centre)]
    yy, xx = np.mgrid[0:h, 0:w]

    def placement(uu) -> OpticalRegistration:
        # u = (R dlog(scale), R dtheta[rad], centre row, centre col): each moves a corner ~1 px.
        s = s0 * np.exp(uu[0] / radius)
        th = th0 + np.rad2deg(uu[1] / radius)
        off = uu[2:] - s * _rotation(th) @ centre
        return replace(start, scale=float(s), rotation_deg=float(th) + 0.0,
                       offset_px=(float(off[0]), float(off[1])))

    fit = None
    for _ in range(max_iterations):
        reg = placement(u)
        lab_f = _field_labels(labels, reg, (h, w))
        coef, count = grain_surfaces(lab_f, cz, weight, n, centre, radius)
        # Only pixels within 3 px of a boundary carry information on the placement.
        edge = ndi.minimum_filter(lab_f, 3) != ndi.maximum_filter(lab_f, 3)
        near = (ndi.distance_transform_edt(~edge) <= 3.0) & ok & (lab_f > 0)
        # Not beside grains with a small interior (fragments of the segmentation, slivers at the
        # field's edge): their level rests on a few noisy pixels, and the fit would move the
        # boundaries to suit it (on one test image this alone left the corners 0.8 px off).
        weak = (count < _MIN_INTERIOR)[lab_f]
        near &= ndi.distance_transform_edt(~weak) > 3.0
        near[:_EDGE_PX] = near[-_EDGE_PX:] = False
        near[:, :_EDGE_PX] = near[:, -_EDGE_PX:] = False
        if near.sum() < 10 * len(free):
            return start
        fit = _fit_once(labels, coef, reg, (s0, th0), yy[near].astype(float), xx[near].astype(float), cz[near], weight[near],
                        u, free, centre, radius, blur_px, least_squares)
        step = float(np.max(np.abs(fit["u"] - u)))
        u = fit["u"]
        if step < 0.03:  # corner moves under 0.03 px (an order below the placement's error)
            break
    # Outside the start's capture range the fit has found another optimum, not refined this one.
    if fit is None or fit["cov"] is None or np.max(np.abs(u[:2])) > 3.0 \
            or np.hypot(*(u[2:] - start.micrograph_coords(centre))) > 3.0 * s0:
        return start
    cov = fit["cov"]
    # Worst corner: d(position)/du for the free parameters, in micrograph px; / scale for SIMS px.
    corners = np.array([[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1]], float)
    final = placement(u)
    sd = []
    for f in corners:
        d = (final.micrograph_coords(f) - u[2:]) / radius
        g = np.stack([d, np.array([-d[1], d[0]]), [1.0, 0.0], [0.0, 1.0]], axis=1)[:, free]
        sd.append(np.sqrt(max(np.trace(g @ cov @ g.T), 0.0)) / final.scale)
    return replace(final, corner_stderr_px=_STDERR_FACTOR * float(max(sd)))


def _fit_once(labels, coef, reg, base, py, px, cv, wv, u, free, centre, radius, blur_px, least_squares) -> dict:
    """One least-squares fit of the placement with the grain surfaces held fixed (``reg``: the
    current placement; ``base``: the (scale, rotation) that ``u`` is relative to)."""
    # Work on the part of the micrograph the field covers (plus the blur's reach).
    foot = reg.micrograph_coords(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float) * (2 * centre))
    pad = int(np.ceil(4 * blur_px * reg.scale)) + 8
    r0 = max(int(np.floor(foot[:, 0].min())) - pad, 0)
    c0 = max(int(np.floor(foot[:, 1].min())) - pad, 0)
    r1 = min(int(np.ceil(foot[:, 0].max())) + pad + 1, labels.shape[0])
    c1 = min(int(np.ceil(foot[:, 1].max())) + pad + 1, labels.shape[1])
    crop = coef[labels[r0:r1, c0:c1]]
    sig = blur_px * reg.scale
    # The prediction at field pixel f is sum_k S_k(T f) * basis_k(f): the surfaces' coefficients
    # move with the grains, their coordinates stay the field's.
    # The 6 terms' maps (values), and their d/drow, d/dcol, pixel-major so that one gather reads
    # every channel.
    values = np.stack([ndi.gaussian_filter(crop[..., k], sig, mode="nearest") for k in range(6)], axis=-1)[:, :, None]
    slopes = np.stack([np.stack([ndi.gaussian_filter(crop[..., k], sig, order=order, mode="nearest") for k in range(6)],
                                axis=-1) for order in ((1, 0), (0, 1))], axis=2)
    terms = np.stack(_basis((py - centre[0]) / radius, (px - centre[1]) / radius), axis=1)
    s0, th0 = base
    u_ref = u.copy()

    def full(uf):
        uu = u_ref.copy()
        uu[free] = uf
        return uu

    def position(uu):
        a = s0 * np.exp(uu[0] / radius) * _rotation(th0 + np.rad2deg(uu[1] / radius))
        return (a[0, 0] * (py - centre[0]) + a[0, 1] * (px - centre[1]) + uu[2] - r0,
                a[1, 0] * (py - centre[0]) + a[1, 1] * (px - centre[1]) + uu[3] - c0)


    tile = (py // _TILE_PX).astype(np.int64) * 10 ** 6 + (px // _TILE_PX).astype(np.int64)
    _, idx = np.unique(tile, return_inverse=True)
    n_tiles = int(idx.max()) + 1

    def residual(uf):
        ty, tx = position(full(uf))
        return wv * (cv - _bilinear_sums(values, ty, tx, terms)[0])

    def jacobian(uf):
        uu = full(uf)
        ty, tx = position(uu)
        gy, gx = _bilinear_sums(slopes, ty, tx, terms)
        ry, rx = (ty + r0 - uu[2]) / radius, (tx + c0 - uu[3]) / radius
        cols = (gy * ry + gx * rx, -gy * rx + gx * ry, gy, gx)
        return -wv[:, None] * np.stack([cols[i] for i in free], axis=1)

    def tile_sums(a, b):
        return np.stack([np.bincount(idx, a[:, k] * b, n_tiles) for k in range(a.shape[1])], axis=1)

    x = least_squares(residual, u_ref[free], jac=jacobian, loss="huber", f_scale=_HUBER, xtol=1e-6).x
    # Cluster-robust covariance: Huber scores summed over tiles, bread from the inliers.
    r = residual(x)
    j = jacobian(x)
    inlier = np.abs(r) <= _HUBER
    psi = np.clip(r, -_HUBER, _HUBER)
    info = j[inlier].T @ j[inlier]
    # u is in pixels at the field's corners, and the residuals in noise units, so 1 / eigenvalue
    # is a variance in px^2: a direction the C map fixes no better than +-3 px is not constrained.
    eig = np.linalg.eigvalsh(info) if info.size else np.zeros(1)
    if not eig.min() > 1.0 / 9.0:
        return {"u": full(x), "cov": None}
    bread = np.linalg.inv(info)
    scores = tile_sums(j, psi)
    meat = scores.T @ scores
    return {"u": full(x), "cov": bread @ meat @ bread}


def _bilinear_sums(stack: np.ndarray, ty: np.ndarray, tx: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """sum_k terms[:, k] * stack[..., b, k] interpolated bilinearly at (ty, tx), for every block b
    of ``stack`` (H, W, nb, k); shape (nb, n). Points beyond the edge take the edge value (as
    ``map_coordinates(order=1, mode="nearest")``, which would need one call per channel)."""
    h, w = stack.shape[:2]
    y = np.clip(ty, 0.0, h - 1.0)
    x = np.clip(tx, 0.0, w - 1.0)
    i = np.minimum(y.astype(np.intp), max(h - 2, 0))
    j = np.minimum(x.astype(np.intp), max(w - 2, 0))
    fy, fx = y - i, x - j
    i1, j1 = np.minimum(i + 1, h - 1), np.minimum(j + 1, w - 1)
    out = 0.0
    for ii, jj, wgt in ((i, j, (1 - fy) * (1 - fx)), (i, j1, (1 - fy) * fx), (i1, j, fy * (1 - fx)), (i1, j1, fy * fx)):
        out = out + wgt * np.einsum("nbk,nk->bn", stack[ii, jj], terms)
    return out
