"""The second derivatives behind benchmarks/diag_uniform_bias.py (issue 12: the uniform images' bias).

The diagnostic's verdict (the model's curvature does not make the shift) rests on the
second-order field of the network model; here it is checked against central finite differences
of the exact solve on a small window (step 1e-3 in ln G: the truncation error is ~1e-6 relative,
the rounding ~1e-16 / 1e-6 = 1e-10, so 1e-4 leaves a margin of 100 for the grid solver's rounding).
"""

import importlib.util
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from tracerdiff.inversion import WindowModel

D, H = 2.6e-12, 1e-6
SPEC = importlib.util.spec_from_file_location(
    "diag_uniform_bias", Path(__file__).resolve().parents[1] / "benchmarks" / "diag_uniform_bias.py")
diag = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(diag)


def _window():
    rng = np.random.default_rng(5)
    labels = (np.arange(28)[:, None] // 7 + 1) * np.ones((1, 22), dtype=np.int64)
    labels[:, 11:] += 10  # boundaries across and along the flux
    c = 0.5 - 0.004 * np.arange(28)[:, None] + 0.01 * rng.standard_normal(labels.shape)
    ones = (np.ones((27, 22)), np.ones((28, 21)))
    return WindowModel(c, np.full(c.shape, 0.01), np.ones(labels.shape, bool), labels, ones, h=H, d_bulk=D,
                       psf_px=0.6, at_source=True)


def _operator(model, theta):
    t = model.face_conductances(theta)
    n, lo, hi = model.dirichlet.size, model.lo, model.hi
    a = sp.coo_matrix((np.concatenate([-t, -t, t, t]), (np.concatenate([lo, hi, lo, hi]),
                                                        np.concatenate([hi, lo, lo, hi]))), shape=(n, n))
    return (a + sp.diags(model.dirichlet)).tocsc()


def test_second_order_field_matches_finite_differences():
    model = _window()
    rng = np.random.default_rng(1)
    theta = np.log(1.5e-8) + 0.3 * rng.standard_normal(model.n_params)
    state = model.solve(theta)
    sens = np.asarray(model.field_sensitivity(theta, state), float)
    rhs = _operator(model, theta) @ state.c_model  # the nuisance held at its fitted values
    u = rng.standard_normal(model.n_params)
    eps = 1e-3
    fields = [spla.spsolve(_operator(model, theta + s * eps * u), rhs) for s in (-1, 0, 1)]
    fd2 = (fields[0] + fields[2] - 2 * fields[1]) / eps ** 2
    # One direction: cov = u u^T gives d^2 C / du^2 exactly.
    c2 = diag.second_order_field(model, theta, state, sens, np.outer(u, u))
    assert np.linalg.norm(c2 - fd2) < 1e-4 * np.linalg.norm(fd2)
    # Linear in cov: the sum over two directions is the sum of the two second derivatives.
    w = rng.standard_normal(model.n_params)
    both = diag.second_order_field(model, theta, state, sens, np.outer(u, u) + 2.0 * np.outer(w, w))
    assert np.allclose(both, c2 + 2.0 * diag.second_order_field(model, theta, state, sens, np.outer(w, w)),
                       rtol=1e-9, atol=1e-12 * np.abs(both).max())


def test_cross_field_matches_finite_differences():
    # 2 sum_kl V[theta_k, beta_l] d^2 C / dtheta_k dbeta_l = 2 sum_k d/dtheta_k of the field of the
    # nuisance values v_k = V[beta, theta_k] (basis v_k = A(theta) U v_k), by central differences.
    model = _window()
    rng = np.random.default_rng(2)
    theta = np.log(1.5e-8) + 0.3 * rng.standard_normal(model.n_params)
    state = model.solve(theta)
    sens = np.asarray(model.field_sensitivity(theta, state), float)
    a = rng.standard_normal((model.n_params, model.n_params))
    cov = 0.05 * a @ a.T / model.n_params
    u = model._nuisance_fields(state.lu)[0]
    w = model._weighted_psf()
    v_beta_theta = -np.linalg.lstsq(w @ u, (w @ sens) @ cov, rcond=None)[0]
    eps = 1e-3
    fd = np.zeros(u.shape[0])
    for k in range(model.n_params):
        rhs = _operator(model, theta) @ (u @ v_beta_theta[:, k])
        e = np.zeros(model.n_params)
        e[k] = eps
        plus, minus = (spla.spsolve(_operator(model, theta + sign * e), rhs) for sign in (1, -1))
        fd += 2 * (plus - minus) / (2 * eps)
    got = diag.cross_field(model, theta, state, sens, cov)
    assert np.linalg.norm(got - fd) < 1e-4 * np.linalg.norm(fd)


def _sensitivities(model, theta, rhs):
    """dC/dtheta (nuisance right-hand side ``rhs`` fixed) by sparse algebra: -A^-1 (dA/dtheta_k) C."""
    a = _operator(model, theta)
    c = spla.spsolve(a, rhs)
    gb = model.gb
    lo, hi, k = model.lo[gb], model.hi[gb], model.face_pair
    g = np.exp(theta)[k] * model.face_weight
    dt = model.face_conductances(theta)[gb] ** 2 * model.h / g
    flux = dt * (c[lo] - c[hi])
    n = c.size
    m = np.zeros((n, model.n_params))
    np.add.at(m, (lo, k), flux)
    np.add.at(m, (hi, k), -flux)
    return -spla.spsolve(a, sp.csc_matrix(m)).toarray()


def test_shrinkage_term_is_the_gradient_of_the_sensitivities_against_fixed_weights():
    # g = grad_theta of tr((P W S(theta))^T P J b) with P, J, b held at theta: central differences.
    model = _window()
    rng = np.random.default_rng(4)
    theta = np.log(1.5e-8) + 0.3 * rng.standard_normal(model.n_params)
    state = model.solve(theta)
    sens = np.asarray(model.field_sensitivity(theta, state), float)
    a = rng.standard_normal((model.n_params, model.n_params))
    b = 0.05 * a @ a.T / model.n_params
    w, q = model._weighted_psf(), state.basis_q

    def project(x):
        y = w @ x
        return y - q @ (q.T @ y)

    target = project(sens) @ b
    rhs = _operator(model, theta) @ state.c_model
    u = rng.standard_normal(model.n_params)
    eps = 1e-4
    phi = [float(np.sum(project(_sensitivities(model, theta + s * eps * u, rhs)) * target)) for s in (-1, 1)]
    fd = (phi[1] - phi[0]) / (2 * eps)
    got = float(diag.shrinkage_term(model, theta, state, sens, b) @ u)
    assert abs(got - fd) < 1e-4 * abs(fd)
