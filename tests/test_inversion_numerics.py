"""The inversion's fast numerics (issue 16) against the reference ones and against dense algebra.

The fast path (nested-dissection Cholesky, sparse PSF matrix, Cholesky QR) computes the same
algebra as the reference path (SuperLU, ndimage, Householder QR), so per-step quantities agree
to rounding: tolerances 1e-8 relative leave ~4 orders of magnitude for the condition of the
window operator (~1e4 here). The sensitivities (and the information matrix built from them) and,
with ``network.SINGLE_NUISANCE``, the nuisance fields are solved in float32: tolerances 1e-5 for
single steps, float32's 6e-8 times a condition of ~30 and a margin (measured on this window:
fields 1.8e-7, chi^2 4.8e-7, residuals 1.6e-6, sensitivities 7.9e-7, Jacobian 1.0e-6).
"""

import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from tracerdiff.inversion import WindowModel, fit_window, network
from tracerdiff.inversion._basis import orthonormal_basis
from tracerdiff.inversion._gridsolve import GridCholesky, RhsPattern
from tracerdiff.inversion._psf import psf_matrix, separable_psf

D = 2.6e-12  # m^2/s
H = 1e-6  # m


def _dense(shape, t, dirichlet):
    ny, nx = shape
    index = np.arange(ny * nx).reshape(ny, nx)
    lo = np.concatenate([index[:-1, :].ravel(), index[:, :-1].ravel()])
    hi = np.concatenate([index[1:, :].ravel(), index[:, 1:].ravel()])
    a = np.diag(dirichlet.astype(float))
    np.add.at(a, (lo, lo), t)
    np.add.at(a, (hi, hi), t)
    np.add.at(a, (lo, hi), -t)
    np.add.at(a, (hi, lo), -t)
    return a


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (3, 2), (5, 17), (40, 24), (33, 31)])
def test_grid_cholesky_solves_like_dense_algebra(shape):
    rng = np.random.default_rng(sum(shape))
    ny, nx = shape
    n_faces = (ny - 1) * nx + ny * (nx - 1)
    t = np.exp(rng.uniform(-5, 1, n_faces))  # conductances over 6 e-folds, as bulk vs boundary faces
    dirichlet = np.zeros(ny * nx)
    dirichlet[np.arange(nx)] = 2.0  # one Dirichlet edge makes the operator positive definite
    b = rng.standard_normal((ny * nx, 3))
    x = GridCholesky(shape, t, dirichlet).solve(b)
    exact = np.linalg.solve(_dense(shape, t, dirichlet), b)
    assert np.allclose(x, exact, rtol=1e-8, atol=1e-10 * np.abs(exact).max())
    assert np.allclose(GridCholesky(shape, t, dirichlet).solve(b[:, 0]), exact[:, 0], rtol=1e-8,
                       atol=1e-10 * np.abs(exact).max())


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 17), (40, 24), (33, 31)])
def test_sparse_right_hand_sides_solve_like_dense_ones(shape):
    # solve_pattern applies the leaves to each leaf's non-zero columns only: the same elimination,
    # so equal to solve() to rounding (1e-12 relative; float32: the float32 bound of the test below).
    # Entries repeat (cell, column) pairs, as two faces of one boundary share a cell: they are summed.
    rng = np.random.default_rng(3 + sum(shape))
    ny, nx = shape
    n, k = ny * nx, 9
    n_faces = (ny - 1) * nx + ny * (nx - 1)
    t = np.exp(rng.uniform(-3, 1, n_faces))
    dirichlet = np.zeros(n)
    dirichlet[np.arange(nx)] = 2.0
    cells = np.concatenate([rng.integers(0, n, 3 * k), rng.integers(0, n, 4)])
    cols = np.concatenate([np.repeat(np.arange(k), 3), np.zeros(4, int)])  # column 0 on 7 cells
    values = rng.standard_normal(cells.size)
    dense = np.zeros((n, k))
    np.add.at(dense, (cells, cols), values)
    factor = GridCholesky(shape, t, dirichlet)
    pattern = RhsPattern(shape, cells, cols, k)
    exact = factor.solve(dense)
    assert np.allclose(factor.solve_pattern(pattern, values), exact, rtol=1e-12, atol=1e-12 * np.abs(exact).max())
    single = factor.solve_pattern(pattern, values, single=True)
    assert single.dtype == np.float32
    bound = 10 * np.linalg.cond(_dense(shape, t, dirichlet)) * np.finfo(np.float32).eps
    assert np.linalg.norm(single - exact) <= bound * np.linalg.norm(exact)
    with pytest.raises(ValueError, match="another grid"):
        GridCholesky((ny + 1, nx), np.ones(ny * nx + (ny + 1) * (nx - 1)), np.ones(n + nx)).solve_pattern(pattern, values)


@pytest.mark.parametrize("shape", [(5, 17), (40, 24), (33, 31)])
def test_leaf_blocks_are_the_dense_products(shape):
    # The leaves' W = C P^-1 is taken from rows of P^-1 (each ring cell couples to one box cell):
    # the dense product's own numbers, so equal bit for bit, and P^-1 is the inverse of the
    # operator's own block of the leaf (to rounding: 1e-12 relative; the blocks are 30 x 30 at most).
    rng = np.random.default_rng(11 + sum(shape))
    ny, nx = shape
    t = np.exp(rng.uniform(-5, 1, (ny - 1) * nx + ny * (nx - 1)))
    dirichlet = np.zeros(ny * nx)
    dirichlet[np.arange(nx)] = 2.0
    a = _dense(shape, t, dirichlet)
    factor = GridCholesky(shape, t, dirichlet)
    lev = factor._levels[0]
    cell_of = np.full(factor._n_rows + 1, -1)
    cell_of[factor._row_of] = np.arange(ny * nx)
    n_own = lev["n_own"]
    assert lev["nb"] > 1 and lev["leaf"] is not None
    for b in range(lev["nb"]):
        own = cell_of[b * n_own + np.arange(n_own)]
        own = own[own >= 0]
        ring = cell_of[lev["struct_idx"][b]]
        ring = ring[ring >= 0]
        pinv = factor._pinv[0][b, :own.size, :own.size]
        assert np.allclose(pinv @ a[np.ix_(own, own)], np.eye(own.size), atol=1e-12)
        assert np.array_equal(factor._w[0][b, :ring.size, :own.size], a[np.ix_(ring, own)] @ pinv)
        assert np.array_equal(factor._w_t[0][b], factor._w[0][b].T)
        assert not np.any(factor._w[0][b, ring.size:])  # padding couples to nothing


def test_grid_cholesky_refuses_an_indefinite_operator():
    t = np.ones(2 * 4 * 5 - 4 - 5)
    t[3] = -10.0
    with pytest.raises(np.linalg.LinAlgError):
        GridCholesky((4, 5), t, np.ones(20))


@pytest.mark.parametrize("sigma", [0.0, 0.6, 1.3])
def test_psf_matrix_is_ndimage_gaussian_with_nearest_edges(sigma):
    rng = np.random.default_rng(1)
    field = rng.standard_normal((13, 9))
    rows = np.flatnonzero(rng.random(field.size) < 0.7)
    expected = ndi.gaussian_filter(field, sigma, mode="nearest").ravel()[rows] if sigma else field.ravel()[rows]
    assert np.allclose(psf_matrix(field.shape, sigma, rows) @ field.ravel(), expected, rtol=1e-12, atol=1e-13)
    # The two 1-D passes: the same Gaussian (exactly separable), so equal to rounding, also on
    # many columns, weighted, and in float32 (to float32's rounding: 1e-6 of the largest value).
    blur = separable_psf(field.shape, sigma, rows)
    assert np.allclose(blur @ field.ravel(), expected, rtol=1e-12, atol=1e-13)
    many = rng.standard_normal((field.size, 4))
    w = rng.uniform(0.5, 2.0, rows.size)
    dense = w[:, None] * (psf_matrix(field.shape, sigma, rows) @ many)
    assert np.allclose(blur.weighted(w) @ many, dense, rtol=1e-12, atol=1e-13)
    single = blur.weighted(w).astype(np.float32) @ many.astype(np.float32)
    assert single.dtype == np.float32
    assert np.allclose(single, dense, rtol=0, atol=1e-6 * np.abs(dense).max())
    # The adjoint: <W x, y> = <x, W^T y> with W^T the dense matrix's transpose.
    back = rng.standard_normal((rows.size, 3))
    dense_t = (w[:, None] * psf_matrix(field.shape, sigma, rows).toarray()).T @ back
    assert np.allclose(blur.weighted(w).T @ back, dense_t, rtol=1e-12, atol=1e-13)


def test_cholesky_qr_is_orthonormal_and_refuses_rank_deficiency():
    rng = np.random.default_rng(2)
    v = rng.standard_normal((500, 12)) * np.logspace(0, 5, 12)  # column scales 1e5 apart
    q, r = orthonormal_basis(v)
    assert np.allclose(q.T @ q, np.eye(12), atol=1e-13)
    assert np.allclose(q @ r, v, rtol=1e-12, atol=1e-12 * np.abs(v).max())
    assert np.allclose(np.tril(r, -1), 0.0)
    v[:, 5] = v[:, 2] * 3.0  # dependent columns: Householder QR (the reference) must be used
    assert orthonormal_basis(v) is None


def test_cholesky_qr_takes_a_second_pass_when_ill_conditioned():
    # Column-scaled condition ~1e4 (two nearly parallel columns): one pass would leave q^T q off
    # by ~cond^2 eps = 2e-8, so the second pass is taken and q is orthonormal to rounding. Forcing
    # one pass (threshold 0) shows the loss that the threshold avoids.
    rng = np.random.default_rng(5)
    v = rng.standard_normal((400, 6))
    v[:, 4] = v[:, 3] + 1e-4 * rng.standard_normal(400)
    q, r = orthonormal_basis(v)
    assert np.allclose(q.T @ q, np.eye(6), atol=1e-13)
    assert np.allclose(q @ r, v, rtol=1e-12, atol=1e-12 * np.abs(v).max())
    q1, _ = orthonormal_basis(v, single_pass_rcond=0.0)
    assert np.abs(q1.T @ q1 - np.eye(6)).max() > 1e-12


def _window(psf):
    rng = np.random.default_rng(3)
    labels = (np.arange(30)[:, None] // 7 + 1) * np.ones((1, 20), dtype=np.int64)
    labels[:, 10:] += 10  # boundaries across and along the flux
    c = 0.5 - 0.004 * np.arange(30)[:, None] + 0.01 * rng.standard_normal(labels.shape)
    ones = (np.ones((29, 20)), np.ones((30, 19)))
    valid = rng.random(labels.shape) > 0.2
    return WindowModel(c, np.full(c.shape, 0.01), valid, labels, ones, h=H, d_bulk=D, psf_px=psf, at_source=True)


@pytest.fixture
def reference_numerics():
    network._REFERENCE = True
    yield
    network._REFERENCE = False


def _pieces(model, theta):
    state = model.solve(theta)
    sens = model.field_sensitivity(theta, state)
    jac = model.reduced_jacobian(sens, state)
    step, dstep = model.steps(theta, state, sens)
    return state, sens, jac, step, dstep


@pytest.mark.parametrize("single_nuisance", [True, False])
@pytest.mark.parametrize("psf", [0.0, 0.6])
def test_fast_window_numerics_equal_the_reference(psf, single_nuisance, reference_numerics, monkeypatch):
    model = _window(psf)
    theta = math.log(1.5e-8) + 0.4 * np.random.default_rng(4).standard_normal(model.n_params)
    ref = _pieces(model, theta)
    network._REFERENCE = False
    monkeypatch.setattr(network, "SINGLE_NUISANCE", single_nuisance)
    new = _pieces(model, theta)
    assert new[0].single == single_nuisance  # the float32 fields passed their check
    tol = 1e-5 if single_nuisance else 1e-8  # float64 fields: the same algebra to rounding
    assert new[0].chi2 == pytest.approx(ref[0].chi2, rel=tol)
    for a, b in [(new[0].c_model, ref[0].c_model), (new[0].residual, ref[0].residual)]:
        assert np.allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())
    assert new[1].dtype == np.float32  # the float32 sensitivities passed their check
    for a, b in [(new[1], ref[1]), (new[2], ref[2]), (new[3], ref[3]), (new[4], ref[4])]:
        assert np.allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
    # The projector onto the nuisance span is unique (the basis itself is not).
    q_new, q_ref = new[0].basis_q, ref[0].basis_q
    x = np.random.default_rng(5).standard_normal(q_ref.shape[0])
    assert np.allclose(q_new @ (q_new.T @ x), q_ref @ (q_ref.T @ x), atol=tol * 1e-2 * np.linalg.norm(x))


@pytest.mark.parametrize("single_nuisance", [True, False])
def test_fast_window_fit_equals_the_reference(single_nuisance, reference_numerics, monkeypatch):
    # A whole Levenberg-Marquardt fit: the same path (no accept/reject decision is near a tie on
    # this window), so the MAP, the information and the steps agree to the float32 rounding
    # amplified by four unconverged iterations. Measured: float32 sensitivities alone, theta
    # 4e-8 and information 6e-7 (tolerance 2e-5); with float32 fields too, theta 2.3e-4,
    # information 3.6e-4, info_vector 4.0e-4 (tolerance 2e-3, i.e. 0.2 % of a conductance).
    model = _window(0.6)
    kw = dict(mu=math.log(1.5e-8), sigma=0.5, theta0=np.full(model.n_params, math.log(1.5e-8)), max_iter=4)
    ref = fit_window(model, **kw)
    network._REFERENCE = False
    monkeypatch.setattr(network, "SINGLE_NUISANCE", single_nuisance)
    new = fit_window(model, **kw)
    tol = 2e-3 if single_nuisance else 2e-5
    assert new.n_iter == ref.n_iter
    assert np.allclose(new.theta, ref.theta, rtol=0, atol=tol)
    for a, b in [(new.information, ref.information), (new.info_vector, ref.info_vector), (new.step, ref.step),
                 (new.step_jacobian, ref.step_jacobian)]:
        assert np.allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())
    assert new.chi2 == pytest.approx(ref.chi2, rel=1e-5 if single_nuisance else 1e-9)
    # The kept field: float32 only where the fields were float32 (their check bounds the rounding
    # far above float32's 6e-8), float64 otherwise; the reference keeps float64.
    assert ref.c_model.dtype == np.float64
    assert new.c_model.dtype == (np.float32 if single_nuisance else np.float64)
    assert np.allclose(new.c_model, ref.c_model, rtol=0, atol=tol * np.abs(ref.c_model).max())


def test_solve_falls_back_to_pivoting_lu_when_cholesky_fails(monkeypatch, reference_numerics):
    # A window operator that the Cholesky refuses (not numerically positive definite) is still
    # solved, by SuperLU as before: the fit must not depend on the factorisation succeeding.
    model = _window(0.6)
    theta = np.full(model.n_params, math.log(1.5e-8))
    ref = model.solve(theta)
    network._REFERENCE = False

    def refuse(*args, **kwargs):
        raise np.linalg.LinAlgError("refused")

    monkeypatch.setattr(network, "GridCholesky", refuse)
    new = model.solve(theta)
    assert type(new.lu).__name__ == "SuperLU"
    assert new.chi2 == pytest.approx(ref.chi2, rel=1e-10)
    assert np.allclose(new.c_model, ref.c_model, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 17), (40, 24), (33, 31)])
def test_single_precision_grid_solve_against_dense_algebra(shape):
    # float32 application of the float64 factor is backward stable, so the relative error is
    # ~eps32 * cond(A) (conductances over 3 e-folds; cond computed below): tolerance 10x that bound.
    rng = np.random.default_rng(7 + sum(shape))
    ny, nx = shape
    n_faces = (ny - 1) * nx + ny * (nx - 1)
    t = np.exp(rng.uniform(-3, 0, n_faces))
    dirichlet = np.zeros(ny * nx)
    dirichlet[np.arange(nx)] = 2.0
    a = _dense(shape, t, dirichlet)
    b = rng.standard_normal((ny * nx, 6))
    exact = np.linalg.solve(a, b)
    x = GridCholesky(shape, t, dirichlet).solve(b, single=True)
    assert x.dtype == np.float32
    bound = 10 * np.linalg.cond(a) * np.finfo(np.float32).eps
    assert np.linalg.norm(x - exact) <= bound * np.linalg.norm(exact)
    assert np.linalg.norm(x - exact) > 0  # it really ran in float32


def test_float64_fallback_when_float32_is_not_accurate(monkeypatch, reference_numerics):
    # The float32 fields and sensitivities are checked on one combination against float64; when
    # the checks fail (forced here by zero tolerances) they are solved in float64 and equal the
    # reference to rounding.
    model = _window(0.6)
    theta = math.log(1.5e-8) + 0.4 * np.random.default_rng(4).standard_normal(model.n_params)
    ref = _pieces(model, theta)
    network._REFERENCE = False
    monkeypatch.setattr(network, "SINGLE_TOL", 0.0)
    monkeypatch.setattr(network, "NUISANCE_TOL", 0.0)
    new = _pieces(model, theta)
    assert not new[0].single
    assert new[1].dtype == np.float64
    for a, b in zip(new[1:], ref[1:]):
        assert np.allclose(a, b, rtol=1e-8, atol=1e-8 * np.abs(b).max())


def test_float32_information_equals_float64_products():
    # The information and gradient from float32 sensitivities and float32 products, against the
    # same sensitivities with float64 products: the projection before the Gram product keeps the
    # rounding at eps32 * ||jw|| / ||J|| (~1e-6 here; without it 1.4e-6 -> tolerance 1e-5 catches the
    # squared ratio on windows where the nuisance absorbs most of the sensitivity).
    model = _window(0.6)
    theta = math.log(1.5e-8) + 0.4 * np.random.default_rng(4).standard_normal(model.n_params)
    state = model.solve(theta)
    sens = model.field_sensitivity(theta, state)
    assert sens.dtype == np.float32
    info, grad = model._gauss_newton(sens, state)
    info64, grad64 = model._gauss_newton(sens.astype(float), state)
    assert np.allclose(info, info64, rtol=1e-5, atol=1e-5 * np.abs(info64).max())
    assert np.allclose(grad, grad64, rtol=1e-5, atol=1e-5 * np.abs(grad64).max())
    assert np.allclose(info, info.T)


def test_precise_information_is_positive_semidefinite_and_equal():
    # precise=True forms the Gram product of the same float32 J in float64: equal to the float32
    # product to its rounding (1e-5, as above), and positive semi-definite to float64 rounding (a
    # float32 Gram of strongly measured boundaries had eigenvalues below -1/sigma^2).
    model = _window(0.6)
    theta = math.log(1.5e-8) + 0.4 * np.random.default_rng(4).standard_normal(model.n_params)
    state = model.solve(theta)
    sens = model.field_sensitivity(theta, state)
    info32, grad32 = model._gauss_newton(sens, state)
    info, grad = model._gauss_newton(sens, state, precise=True)
    assert info.dtype == np.float64 and np.array_equal(grad, grad32)
    assert np.allclose(info, info32, rtol=1e-5, atol=1e-5 * np.abs(info).max())
    assert np.linalg.eigvalsh(info).min() >= -1e-12 * np.abs(info).max()


def test_posterior_of_a_slightly_indefinite_information_stays_bounded():
    # A data term strongly measuring one direction and, by rounding, "anti-measuring" the other
    # (eigenvalue -0.3 below the prior's 1/sigma^2 = 0.25): the plain inverse of the precision is
    # indefinite and its mean runs off by ~1/(0.25 - 0.3) x the vector. The data term's negative
    # eigenvalues are set to 0 (information vector included): the weak direction keeps the prior.
    from tracerdiff.inversion.windows import WindowFit, posterior

    rot = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    info = rot @ np.diag([1e6, -0.3]) @ rot.T
    theta_hat = np.array([-18.0, -25.0])
    fit = WindowFit(np.array([[1, 2], [2, 3]]), theta_hat, info, info @ theta_hat, np.zeros(2), np.zeros((2, 2)),
                    0.0, 10, 1, {})
    mean, cov = posterior(fit, -18.0, 2.0)
    clipped = rot @ np.diag([1e6, 0.0]) @ rot.T
    expected_cov = np.linalg.inv(clipped + np.eye(2) / 4.0)
    assert np.allclose(cov, expected_cov, rtol=1e-9, atol=1e-12)
    assert np.allclose(mean, expected_cov @ (clipped @ theta_hat + np.full(2, -18.0) / 4.0), rtol=1e-9)
    # The plain inverse gives a variance of -20 and a mean of (-8.1, -56.9) here; the weak direction
    # now sits between the prior (-18) and the fit's own value, the strong one at the fit's.
    assert np.linalg.eigvalsh(cov).min() > 0
    assert np.all((mean > -25.5) & (mean < -17.5))
    plain = np.linalg.inv(info + np.eye(2) / 4.0)
    assert np.linalg.eigvalsh(plain).min() < 0  # the case is real: the plain posterior is indefinite


def test_posterior_trusts_the_data_term_only_near_the_fit():
    # A fit stopped far from its data optimum: a gradient of 4e4 along a direction measured with
    # information 10 (the data's own optimum 4e3 away). The undamped posterior step is g/(lam +
    # 1/sigma^2) ~ 3.9e3 (as on the mirrored 2048^2 mosaic); the trust region keeps the data's part
    # of the step within MAX_STEP, and says so. A converged fit (gradient 0) is untouched.
    from tracerdiff.inversion.windows import MAX_STEP, WindowFit, posterior, unconverged

    info = np.diag([1e4, 10.0])
    theta_hat = np.array([-18.0, -18.0])
    grad = np.array([0.0, 4e4])
    far = WindowFit(np.array([[1, 2], [2, 3]]), theta_hat, info, info @ theta_hat - grad, np.zeros(2),
                    np.zeros((2, 2)), 0.0, 10, 1, {})
    mean, cov = posterior(far, -18.0, 0.5)
    plain = np.linalg.solve(info + np.eye(2) / 0.25, info @ theta_hat - grad + np.full(2, -18.0) / 0.25)
    assert abs(plain[1] + 18.0) > 1e3  # what the plain posterior does
    assert np.all(np.abs(mean - theta_hat) <= MAX_STEP + 1e-9)
    assert np.isclose(mean[1], -18.0 - MAX_STEP) and np.isclose(mean[0], -18.0)
    assert np.allclose(cov, np.linalg.inv(info + np.eye(2) / 0.25))
    assert unconverged(far, 0.5)
    near = WindowFit(far.pairs, theta_hat, info, info @ theta_hat, np.zeros(2), np.zeros((2, 2)), 0.0, 10, 1, {})
    assert not unconverged(near, 0.5)
    expected = np.linalg.solve(info + np.eye(2) / 0.25, info @ theta_hat + np.full(2, -19.0) / 0.25)
    assert np.allclose(posterior(near, -19.0, 0.5)[0], expected, rtol=1e-12)


def _corner_window():
    # Grain 9 is the bottom-left cell alone: a one-cell run on the bottom and on the left side,
    # whose two outside values act only through their sum (two identical nuisance columns before).
    rng = np.random.default_rng(8)
    labels = (np.arange(24)[:, None] // 6 + 1) * np.ones((1, 18), dtype=np.int64)
    labels[:, 9:] += 10
    labels[-1, 0] = 99
    c = 0.5 - 0.004 * np.arange(24)[:, None] + 0.01 * rng.standard_normal(labels.shape)
    ones = (np.ones((23, 18)), np.ones((24, 17)))
    return WindowModel(c, np.full(c.shape, 0.01), np.ones(labels.shape, bool), labels, ones, h=H, d_bulk=D, psf_px=0.6,
                       at_source=True)


@pytest.mark.parametrize("reference", [False, True])
def test_nuisance_basis_has_no_duplicate_columns_and_the_same_fit(reference):
    model = _corner_window()
    basis = model.basis
    assert np.linalg.matrix_rank(basis) == basis.shape[1]  # full column rank: no null direction
    # The fit equals the projection onto the full, duplicated set of columns (one per side and
    # run), done by SVD least squares, which drops the null direction exactly (tolerance 1e-9:
    # rounding of two solves and two projections).
    corner = np.zeros(basis.shape[0])
    corner[-18] = 2.0 * D / H ** 2
    assert any(np.array_equal(col, corner) for col in basis.T)  # the corner's column is kept once
    theta = math.log(1.5e-8) + 0.3 * np.random.default_rng(9).standard_normal(model.n_params)
    network._REFERENCE = reference
    try:
        state = model.solve(theta)
    finally:
        network._REFERENCE = False
    full = np.column_stack([basis, corner])
    t = model.face_conductances(theta)
    a = _dense(model.shape, t, model.dirichlet)
    u = np.linalg.solve(a, full)
    v = np.asarray(psf_matrix(model.shape, 0.6, np.flatnonzero(model.obs)) @ u) * model.sqrt_w[:, None]
    y = model.data * model.sqrt_w
    beta = np.linalg.lstsq(v, y, rcond=1e-10)[0]
    # (1e-6 on the fast path: its nuisance fields are float32, see the module docstring)
    assert state.chi2 == pytest.approx(float(np.sum((v @ beta - y) ** 2)), rel=1e-9 if reference else 1e-6)


def test_chi2_alone_equals_the_full_solve(monkeypatch):
    # WindowModel.chi2 (the initial scan's normal equations, float64 fields: scans meet near-ties,
    # 4e-5 relative between the best two values on the benchmark) against solve(theta).chi2
    # with float64 fields (Cholesky QR): the same least squares; 1e-10 leaves 5 orders for the
    # basis' condition (~1e2 here).
    monkeypatch.setattr(network, "SINGLE_NUISANCE", False)
    model = _window(0.6)
    for g in (-3.0, 0.0, 2.0):
        theta = np.full(model.n_params, math.log(1.5e-8) + g)
        assert model.chi2(theta) == pytest.approx(model.solve(theta).chi2, rel=1e-10)


def test_distinct_columns_keeps_first_occurrences_in_order():
    from tracerdiff.inversion.network import _distinct_columns

    rng = np.random.default_rng(10)
    a = rng.standard_normal((300, 6)) * np.logspace(-3, 3, 6)
    a[rng.random(a.shape) < 0.9] = 0.0  # sparse columns, like the edge runs
    dup = np.column_stack([a, a[:, 4], a[:, 0], -a[:, 2]])  # two copies and a negated column (distinct)
    assert _distinct_columns(dup).tolist() == [0, 1, 2, 3, 4, 5, 8]


def test_model_fit_remarks_name_a_median_outside_the_measurable_range_and_unconverged_windows():
    # D*bulk 2.6e-12 m^2/s, 1 um pixels: D/h = 2.6e-6 m/s, ln = -12.86; the scan covers -24.86 to
    # -12.86 and the check allows one grid step (1 in ln) either side.
    from tracerdiff.inversion.quality import model_fit_remarks

    kw = dict(d_bulk=2.6e-12, h=1e-6)
    assert model_fit_remarks(math.log(1.5e-8), unconverged_windows=0, windows=24, **kw) == []
    assert model_fit_remarks(-25.8, unconverged_windows=0, windows=24, **kw) == []  # inside by 0.06
    low = model_fit_remarks(-29.03, unconverged_windows=0, windows=24, **kw)  # the mirrored 2048^2 mosaic
    assert len(low) == 1 and "outside the conductances" in low[0] and "2.47e-13 m/s" in low[0]
    assert len(model_fit_remarks(-11.7, unconverged_windows=0, windows=24, **kw)) == 1  # above D/h by 1.16
    assert model_fit_remarks(math.nan, unconverged_windows=0, windows=24, **kw) == []  # no median: nothing to judge
    # Unconverged windows: more than 5 % of those reporting boundaries.
    assert model_fit_remarks(-18.0, unconverged_windows=3, windows=64, **kw) == []  # 4.7 %
    far = model_fit_remarks(-18.0, unconverged_windows=112, windows=1024, **kw)
    assert len(far) == 1 and "112 of 1024 windows" in far[0]
    assert model_fit_remarks(-18.0, unconverged_windows=0, windows=0, **kw) == []
    unsettled = model_fit_remarks(-18.0, unconverged_windows=0, windows=24, population_settled=False, **kw)
    assert len(unsettled) == 1 and "did not settle in 500 iterations" in unsettled[0]
