"""Forward model of the inversion: the quasi-steady grain network on one window of the image.

Units: SI inside (m, s, m/s); C is the measured isotope fraction (dimensionless); the pixel
size ``h`` is in metres; ``theta`` is ln(D*gb/delta / (m/s)) per boundary.

Why quasi-steady: a 16 um grain relaxes in L^2/D*bulk ~ 100 s, and through its boundaries
in L/(D*gb/delta) ~ 20 min, while the exchange lasts days. On the scale of a window C
therefore satisfies ``div(D grad C) = dC/dt`` with dC/dt a smooth function of depth, which is
fitted as a polynomial, like the values outside the window's edges (piecewise linear along
each grain's stretch of edge) and the exchanged surface's value. All of these enter C
linearly, so for given conductances they are solved for exactly (variable projection).
Face conductances follow the simulator: 1/K = h/D + 1/(G |n.e|), |n.e| from the boundary
normal, so staircased boundaries are not counted ~4/pi too long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import ndimage as ndi
from scipy.linalg import lapack

from tracerdiff.inversion import _gridsolve
from tracerdiff.inversion._basis import orthonormal_basis
from tracerdiff.inversion._gridsolve import GridCholesky
from tracerdiff.inversion._psf import SeparableBlur, separable_psf

#: True: the SuperLU + Householder-QR + ndimage numerics of tracerdiff <= 0.x (issue 16), kept as
#: the baseline of ``benchmarks/bench_inversion.py`` and of the equivalence test. Same algebra.
_REFERENCE = False

#: Largest relative error (on one random combination of the columns) of the float32 sensitivities.
#: Measured on the benchmark's windows: 1e-7 to 6e-7. Perturbing the information matrix by 1e-3
#: (relative, random) at every iteration moved the benchmark's values by at most 1.3e-3.
SINGLE_TOL = 1e-4
SINGLE_NUISANCE = True
NUISANCE_TOL = 1e-5


@dataclass(frozen=True)
class WindowState:
    """The model at one set of conductances: factorised operator, field and residuals."""

    lu: object  # factorisation of the operator: ``lu.solve(b)`` = A^-1 b
    trans: np.ndarray  # face conductance / cell volume, 1/s
    basis_q: np.ndarray  # orthonormal basis of the weighted nuisance solutions at observed pixels, (n_obs, m)
    c_model: np.ndarray  # fitted field, flat (n_cells,)
    residual: np.ndarray  # (model - data) at observed pixels
    chi2: float
    single: bool = False  # float32 solves with ``lu`` were checked accurate (see WindowModel._nuisance_fields)


class WindowModel:
    """Quasi-steady network model of one image window (row 0 next to the source when ``at_source``).

    Parameters
    ----------
    c, sigma, valid
        Isotope fraction, its standard error and the mask of observed pixels, (ny, nx).
    labels
        Grain labels of the window (any integers; different labels = a boundary).
    face_weights
        ``(w_rows, w_cols)``: |n.e| of the faces between rows (ny-1, nx) and columns (ny, nx-1);
        1 where no boundary.
    h, d_bulk, psf_px
        Pixel size (m), bulk diffusivity (m^2/s), Gaussian PSF sigma in pixels (0: none).
    at_source
        Row 0 borders the exchanged surface (one fitted Dirichlet value) instead of an open edge.
    """

    def __init__(self, c, sigma, valid, labels, face_weights, *, h: float, d_bulk: float, psf_px: float,
                 at_source: bool):
        ny, nx = c.shape
        self.shape = (ny, nx)
        self.h, self.d = float(h), float(d_bulk)
        self.psf_px = float(psf_px)
        n = ny * nx
        index = np.arange(n).reshape(ny, nx)
        lo = np.concatenate([index[:-1, :].ravel(), index[:, :-1].ravel()])
        hi = np.concatenate([index[1:, :].ravel(), index[:, 1:].ravel()])
        weight = np.concatenate([np.asarray(face_weights[0], float).ravel(), np.asarray(face_weights[1], float).ravel()])
        lab = np.asarray(labels).ravel()
        on = lab[lo] != lab[hi]
        a, b = np.minimum(lab[lo], lab[hi])[on], np.maximum(lab[lo], lab[hi])[on]
        pairs, face_pair = np.unique(np.stack([a, b], axis=1), axis=0, return_inverse=True)
        self.pairs = pairs.reshape(-1, 2)
        self.n_params = len(self.pairs)
        self.lo, self.hi = lo, hi
        self.gb = np.flatnonzero(on)
        self.face_pair = np.asarray(face_pair).ravel()
        self.face_weight = np.clip(weight[on], 1e-3, None)
        # Outer faces: half a cell to a fixed value outside (as the simulator's wetted edge).
        edge_g = 2.0 * self.d / self.h ** 2
        self.dirichlet = np.zeros(n)
        columns = []
        sides = [(index[-1], lab.reshape(ny, nx)[-1]), (index[:, 0], lab.reshape(ny, nx)[:, 0]),
                 (index[:, -1], lab.reshape(ny, nx)[:, -1])]
        if at_source:
            v = np.zeros(n)
            v[index[0]] = edge_g
            columns.append(v)
            self.dirichlet[index[0]] += edge_g
        else:
            sides.insert(0, (index[0], lab.reshape(ny, nx)[0]))
        for cells, line in sides:
            self.dirichlet[cells] += edge_g
            for run in np.split(np.arange(len(line)), np.flatnonzero(np.diff(line) != 0) + 1):
                u = (run - run.mean()) / len(run)
                for power in ((0, 1) if len(run) > 2 else (0,)):
                    v = np.zeros(n)
                    v[cells[run]] = edge_g * u ** power
                    columns.append(v)
        depth = (index // nx).ravel() / ny
        scale = self.d / self.h ** 2 * 1e-3  # keeps the source-term coefficients O(1)
        columns += [-scale * np.ones(n), -scale * depth]
        basis = np.stack(columns, axis=1)
        # A corner cell that is a one-cell run on both of its sides gets two identical columns
        # (only the sum of the two outside values acts). The span is the same with one of them,
        # and without it the nuisance fit has an exact null direction, which a QR fills with
        # rounding noise: chi^2 then jumped by ~3 between evaluations 1e-13 apart and one
        # early-stopped fit ended on another path (seed 0 of bench_inversion: a boundary 1.7 % off).
        self.basis = basis[:, _distinct_columns(basis)]
        self.obs = np.asarray(valid, bool).ravel() & np.isfinite(np.asarray(c, float).ravel())
        self.obs_labels = lab[self.obs]
        self.data = np.asarray(c, float).ravel()[self.obs]
        self.sqrt_w = 1.0 / np.asarray(sigma, float).ravel()[self.obs]
        self._psf_w = None  # weighted PSF at the observed pixels, built on first use
        self._psf_w32 = None

    def _weighted_psf(self) -> SeparableBlur:
        """diag(1/sigma) PSF, from flat fields to the observed pixels (two sparse 1-D passes, built once)."""
        if getattr(self, "_psf_w", None) is None:
            self._psf_w = separable_psf(self.shape, self.psf_px, np.flatnonzero(self.obs)).weighted(self.sqrt_w)
        return self._psf_w

    def _weighted_psf_single(self) -> SeparableBlur:
        """:meth:`_weighted_psf` in float32 (built once)."""
        if getattr(self, "_psf_w32", None) is None:
            self._psf_w32 = self._weighted_psf().astype(np.float32)
        return self._psf_w32

    # ------------------------------------------------------------------ pieces
    def grain_misfit(self, state: WindowState) -> dict[int, tuple[float, int]]:
        """Per grain label: (chi^2 / n, n) of the fitted pixels; ~1 where the model explains the grain."""
        grains, index = np.unique(self.obs_labels, return_inverse=True)
        n = np.bincount(index)
        chi2 = np.bincount(index, (state.residual * self.sqrt_w) ** 2)
        return {int(g): (float(c / k), int(k)) for g, c, k in zip(grains, chi2, n)}

    def _blur(self, x: np.ndarray) -> np.ndarray:
        """PSF applied to flat fields (n,) or (n, k), returned at the observed pixels."""
        if not _REFERENCE:
            return (self._weighted_psf() @ x) / (self.sqrt_w if x.ndim == 1 else self.sqrt_w[:, None])
        field = x.reshape(self.shape + x.shape[1:])
        if self.psf_px > 0:
            sigma = (self.psf_px, self.psf_px) + (0.0,) * (x.ndim - 1)
            field = ndi.gaussian_filter(field, sigma, mode="nearest")
        return field.reshape((-1,) + x.shape[1:])[self.obs]

    def face_conductances(self, theta: np.ndarray) -> np.ndarray:
        """Conductance / cell volume (1/s) of every face: bulk D/h^2, boundaries in series with G|n.e|."""
        t = np.full(self.lo.shape, self.d / self.h ** 2)
        g = np.exp(theta)[self.face_pair] * self.face_weight
        t[self.gb] = 1.0 / (self.h * (self.h / self.d + 1.0 / g))
        return t

    def solve(self, theta: np.ndarray) -> WindowState:
        """Field for conductances ``exp(theta)``, with the linear nuisance fitted by weighted least squares."""
        if not _REFERENCE:
            return self._solve_fast(theta)
        t = self.face_conductances(theta)
        n = self.dirichlet.size
        lo, hi = self.lo, self.hi
        a = sp.coo_matrix((np.concatenate([-t, -t, t, t]), (np.concatenate([lo, hi, lo, hi]),
                                                            np.concatenate([hi, lo, lo, hi]))), shape=(n, n))
        lu = spla.splu((a + sp.diags(self.dirichlet)).tocsc())
        u = lu.solve(self.basis)
        q, rr = np.linalg.qr(self._blur(u) * self.sqrt_w[:, None])
        y = self.data * self.sqrt_w
        coef = q.T @ y
        beta = np.linalg.lstsq(rr, coef, rcond=None)[0]
        fitted_w = q @ coef  # the weighted least-squares fit: projection of the data on the nuisance span
        r = fitted_w / self.sqrt_w - self.data
        return WindowState(lu, t, q, u @ beta, r, float(np.sum((fitted_w - y) ** 2)))

    def _solve_fast(self, theta: np.ndarray) -> WindowState:
        """:meth:`solve` with the nested-dissection Cholesky, the sparse PSF and Cholesky QR (same algebra)."""
        t = self.face_conductances(theta)
        try:
            factor = GridCholesky(self.shape, t, self.dirichlet)
        except np.linalg.LinAlgError:  # not numerically positive definite: pivoting LU as before
            n, lo, hi = self.dirichlet.size, self.lo, self.hi
            a = sp.coo_matrix((np.concatenate([-t, -t, t, t]), (np.concatenate([lo, hi, lo, hi]),
                                                                np.concatenate([hi, lo, lo, hi]))), shape=(n, n))
            factor = spla.splu((a + sp.diags(self.dirichlet)).tocsc())
        u, single = self._nuisance_fields(factor)
        v = self._weighted_psf() @ u
        qr = orthonormal_basis(v)
        q, rr = qr if qr is not None else np.linalg.qr(v)
        y = self.data * self.sqrt_w
        coef = q.T @ y
        if qr is not None:  # rr is then a product of well-conditioned triangular factors (rcond > 1e-6)
            beta = lapack.dtrtrs(rr, coef, lower=0)[0]  # a triangular solve, not lstsq's SVD (~3 % of solve)
        else:
            beta = np.linalg.lstsq(rr, coef, rcond=None)[0]
        # The fit from the coefficients (not q q^T y): with a one-pass Cholesky QR, q is orthonormal
        # only to ~1e-10 and that error would enter chi^2 at first order; here only at second.
        fitted_w = v @ beta
        r = fitted_w / self.sqrt_w - self.data
        return WindowState(factor, t, q, u @ beta, r, float(np.sum((fitted_w - y) ** 2)), single)

    def _nuisance_fields(self, factor) -> tuple[np.ndarray, bool]:
        """``A^-1 basis``, and whether float32 solves with ``factor`` are accurate.

        With SINGLE_NUISANCE the fields are solved in float32 and checked against a float64 solve
        of one fixed random combination of the columns; above NUISANCE_TOL (an ill-conditioned
        operator), or above 1e-3 / max(C / sigma) (nearly noise-free data), they are solved again
        in float64.
        """
        if not isinstance(factor, _gridsolve.GridCholesky):
            return factor.solve(self.basis), False
        pattern, values = self._basis_pattern()
        if not SINGLE_NUISANCE:
            return factor.solve_pattern(pattern, values), False
        u = factor.solve_pattern(pattern, values, single=True).astype(float)
        probe = np.random.default_rng(0).standard_normal(self.basis.shape[1])
        exact = factor.solve(self.basis @ probe)
        # The fitted field's rounding must stay far below the noise: relative 1e-5 is 1e-3 sd at
        # C/sigma = 100 (3000 counts); nearly noise-free data get a tighter bound (float64).
        tol = min(NUISANCE_TOL, 1e-3 / max(float(np.max(np.abs(self.data) * self.sqrt_w)), 1e-300)) \
            if self.data.size else NUISANCE_TOL
        if np.linalg.norm(u @ probe - exact) <= tol * np.linalg.norm(exact):
            return u, True
        return factor.solve_pattern(pattern, values), False

    def _basis_pattern(self) -> tuple[_gridsolve.RhsPattern, np.ndarray]:
        """The nuisance basis as a sparse right-hand side (edge columns live on the edges; built once)."""
        if getattr(self, "_basis_rhs", None) is None:
            cells, cols = np.nonzero(self.basis)
            self._basis_rhs = (_gridsolve.RhsPattern(self.shape, cells, cols, self.basis.shape[1]),
                               self.basis[cells, cols])
        return self._basis_rhs

    def _sensitivity_pattern(self) -> _gridsolve.RhsPattern:
        """Where the sensitivities' right-hand sides live: both cells of every boundary face (built once)."""
        if getattr(self, "_sens_rhs", None) is None:
            gb = self.gb
            self._sens_rhs = _gridsolve.RhsPattern(self.shape, np.concatenate([self.lo[gb], self.hi[gb]]),
                                                   np.concatenate([self.face_pair, self.face_pair]), self.n_params)
        return self._sens_rhs

    def _boundary_sum(self) -> sp.csr_matrix:
        """(K, boundary faces) indicator: sums face rows per boundary (built once)."""
        if getattr(self, "_face_sum", None) is None:
            n = self.gb.size
            self._face_sum = sp.csr_matrix((np.ones(n), (self.face_pair, np.arange(n))), shape=(self.n_params, n))
        return self._face_sum

    def chi2(self, theta: np.ndarray) -> float:
        """``solve(theta).chi2`` without the rest of the state (for scans over theta).

        The nuisance fit by normal equations on column-scaled fields: the residual is computed
        directly, so the coefficients' error (~cond^2 eps) enters chi^2 only at second order.
        """
        if _REFERENCE:
            return self.solve(theta).chi2
        t = self.face_conductances(theta)
        try:
            factor = GridCholesky(self.shape, t, self.dirichlet)
        except np.linalg.LinAlgError:
            return self.solve(theta).chi2
        # float32 fields, checked against float64 as in solve(): the scan only ranks values e apart.
        v = self._weighted_psf() @ self._nuisance_fields(factor)[0]
        y = self.data * self.sqrt_w
        norms = np.linalg.norm(v, axis=0)
        if not np.all(norms > 0):
            return self.solve(theta).chi2
        v /= norms
        chol, info = lapack.dpotrf(v.T @ v, lower=1, clean=1)
        if info != 0:
            return self.solve(theta).chi2
        beta = lapack.dpotrs(chol, v.T @ y, lower=1)[0]
        return float(np.sum((v @ beta - y) ** 2))

    def field_sensitivity(self, theta: np.ndarray, state: WindowState) -> np.ndarray:
        """dC/dtheta_k for every cell and boundary, (n_cells, K), at fixed nuisance."""
        gb = self.gb
        lo, hi = self.lo[gb], self.hi[gb]
        g = np.exp(theta)[self.face_pair] * self.face_weight
        dt = state.trans[gb] ** 2 * self.h / g  # d(trans)/d(ln G)
        flux = dt * (state.c_model[lo] - state.c_model[hi])
        if not _REFERENCE and isinstance(state.lu, _gridsolve.GridCholesky):
            return self._sensitivity_cholesky(state, np.concatenate([flux, -flux]))
        rhs = sp.coo_matrix((np.concatenate([flux, -flux]), (np.concatenate([lo, hi]),
                                                              np.concatenate([self.face_pair, self.face_pair]))),
                            shape=(self.dirichlet.size, self.n_params)).toarray()
        return -state.lu.solve(rhs)

    def _sensitivity_cholesky(self, state: WindowState, values: np.ndarray) -> np.ndarray:
        """:meth:`field_sensitivity` with the grid Cholesky: right-hand side ``values`` on the faces' cells."""
        pattern = self._sensitivity_pattern()
        values = -values  # dC/dtheta = -A^-1 (dA/dtheta) C: the sign on the right-hand side (exact) saves a copy
        if state.single:  # float32 already checked on this factor
            return state.lu.solve_pattern(pattern, values, single=True)
        # float32 at half the cost: the sensitivities only build the information and the step.
        # Checked on one fixed random combination of the columns against float64: the float32
        # error grows with the operator's condition (grains walled in by nearly closed boundaries).
        sens = state.lu.solve_pattern(pattern, values, single=True)
        probe = np.random.default_rng(0).standard_normal(self.n_params)
        gb = self.gb
        b = np.bincount(np.concatenate([self.lo[gb], self.hi[gb]]),
                        values * np.concatenate([probe[self.face_pair], probe[self.face_pair]]),
                        minlength=self.dirichlet.size)
        exact = state.lu.solve(b)
        if np.linalg.norm(sens @ probe.astype(np.float32) - exact) <= SINGLE_TOL * np.linalg.norm(exact):
            return sens
        return state.lu.solve_pattern(pattern, values)

    def reduced_jacobian(self, sensitivity: np.ndarray, state: WindowState) -> np.ndarray:
        """Weighted Jacobian of the residuals with the nuisance directions projected out (Kaufman)."""
        jw = self._blur(sensitivity) * self.sqrt_w[:, None] if _REFERENCE else self._weighted_psf() @ sensitivity
        q = state.basis_q
        return jw - q @ (q.T @ jw)

    def _gauss_newton(self, sensitivity: np.ndarray, state: WindowState, *,
                      precise: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(J^T J, J^T r)`` of the reduced Jacobian J and the weighted residual r.

        Without forming J: J = P jw with P the projector off the nuisance span, so J^T J =
        jw^T jw - (Q^T jw)^T (Q^T jw), and J^T r = jw^T r since r is already orthogonal to Q.
        The subtraction loses ~eps ||jw||^2, far below the prior's 1/sigma^2.

        ``precise``: with float32 sensitivities, the Gram product J^T J in float64. A float32 Gram
        errs by ~eps32 sqrt(n) ||J||^2, which for a strongly measured boundary (||J||^2 ~ 1e6)
        exceeds the prior's 1/sigma^2: its weakly measured directions can get negative
        eigenvalues, and a posterior built on it diverged (a 2048^2 px mosaic: ln G of 1e3,
        exp overflow). The Gram of the float32 J in float64 is positive semi-definite to ~1e-16.
        Used for the information a fit reports; the Levenberg-Marquardt steps are damped.
        """
        rw = state.residual * self.sqrt_w
        if _REFERENCE:
            jac = self.reduced_jacobian(sensitivity, state)
            return jac.T @ jac, jac.T @ rw
        if sensitivity.dtype == np.float32:
            # Products in float32 too. The projection is applied before the Gram product, which in
            # float32 would lose ~eps32 ||jw||^2 to the subtraction.
            q = state.basis_q.astype(np.float32)
            jw = self._weighted_psf_single() @ sensitivity
            jac = jw - q @ (q.T @ jw)
            grad = (jw.T @ rw.astype(np.float32)).astype(float)
            if precise:
                jac = jac.astype(float)
                return jac.T @ jac, grad
            return (jac.T @ jac).astype(float), grad
        jw = self._weighted_psf() @ sensitivity
        c = state.basis_q.T @ jw
        return jw.T @ jw - c.T @ c, jw.T @ rw

    def steps(self, theta: np.ndarray, state: WindowState, sensitivity: np.ndarray | None = None):
        """Per boundary: the model's step dC_gb across the boundary itself, averaged over its faces (weights |n.e|), and d/dtheta.

        A face's cell-to-cell difference includes two half cells of bulk; the boundary's share
        of it is (1/(G|n.e|)) / (h/D + 1/(G|n.e|)). The magnitude is used because a face's index
        order says nothing about the flux direction (within one boundary it does not change).
        """
        gb = self.gb
        w = self.face_weight
        total = np.bincount(self.face_pair, w, minlength=self.n_params)
        diff = state.c_model[self.lo[gb]] - state.c_model[self.hi[gb]]
        t = state.trans[gb]
        share = 1.0 - t * self.h ** 2 / self.d
        step = np.bincount(self.face_pair, w * np.abs(diff) * share, minlength=self.n_params) / total
        if sensitivity is None:
            return step, None
        d = (sensitivity[self.lo[gb]] - sensitivity[self.hi[gb]]) * (w * np.sign(diff) * share)[:, None]
        # Summed per boundary by a sparse product (np.add.at over the rows took 2.7 ms per window).
        k = self.n_params
        ds = np.asarray(self._boundary_sum() @ d, dtype=float)
        g = np.exp(theta)[self.face_pair] * w
        d_share = -(self.h ** 2 / self.d) * t ** 2 * self.h / g  # d share / d ln G of the face's own boundary
        ds[np.diag_indices(k)] += np.bincount(self.face_pair, w * np.abs(diff) * d_share, minlength=k)
        return step, ds / total[:, None]


def _distinct_columns(a: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of every distinct column of ``a``, in order.

    Columns are compared by a random projection first (O(size); np.unique(axis=1) sorts the
    whole matrix and took 0.14 s per 96 x 96 window), then candidates exactly. The projections
    of equal columns may differ by rounding (BLAS sums columns in different orders).
    """
    keys = np.random.default_rng(0).standard_normal(a.shape[0]) @ a
    scale = np.linalg.norm(a, axis=0)
    # close[i, j]: column i < j projects like column j. An earlier equal column that is itself a
    # repeat has its first occurrence equal to j too, so "no earlier equal column" is the test.
    close = np.triu(np.abs(keys[:, None] - keys[None, :])
                    <= 1e-9 * (scale[:, None] + scale[None, :]) * math.sqrt(a.shape[0]), 1)
    keep = [j for j in range(a.shape[1])
            if not any(np.array_equal(a[:, i], a[:, j]) for i in np.flatnonzero(close[:j, j]))]
    return np.array(keep, dtype=np.int64)
