"""Diagnostic (issue 12): where the population median of a UNIFORM image's inversion goes wrong.

Images as in ``bench_inversion_grainmap.py`` (``synthetic_exchange_image`` 206 x 512 px, 1 um,
3000 counts/px unless ``--counts``, PSF sigma 0.6 um, D*bulk 2.6e-8 cm^2/s, D*gb/delta median
1.5e-6 cm/s, uniform or log-normal sigma_ln 0.5; grain map: the true labels or the realistic
micrograph). Per inversion, one JSON line with:

- ``ln_ratio``: ln(population median / truth) as reported;
- ``second_order_bias``: the mean over the owned, unflagged boundaries of the second-order
  (Box 1971) bias of every window's MAP of ln G, nuisance (edge values, dC/dt) included:
  E[theta_hat] - theta = M^-1 (sum_i H_i (M^-1 - V) J_i^T - J^T d / 2), d_i = tr(H_i V),
  M = F + I / sigma^2, V = M^-1 F M^-1 (the MAP's sampling covariance), H_i the Hessian of
  pixel i's weighted model value. Only the d-term is computed (the other vanishes without a
  prior; see ``shrinkage_bias``). The Hessian
  enters through ONE extra solve per window: sum_m lambda_m d^2C/du_m^2 is linear in the
  right-hand sides (:func:`second_order_field`), checked against finite differences in
  ``tests/test_uniform_bias_diagnostic.py``;
- ``em_fixed_sigma``: ln(median / truth) from the population EM (robust, as shipped) on the same
  window data terms with the log-sd fixed at 0.5, 0.3, 0.1 instead of estimated (no refit);
- ``shrinkage_bias``: the other second-order term, which the prior adds through the curvature,
  M^-1 sum_i H_i (M^-1 - V) J_i^T (:func:`shrinkage_term`, K extra solves per window);
- ``mean_map``: the plain mean of the windows' MAP ln G over the same boundaries.

Run: ``.venv/bin/python benchmarks/diag_uniform_bias.py --seeds 216,217 --kinds uniform
--conditions true [--counts 3000] [--floor 0.3]``.

Measured (code of main 6d5f345, floor 0.3; seeds <= 224 only; see docs/validation.rst), seed 100,
uniform, true grains: 3000 counts/px: ln_ratio +0.0706, second_order_bias -0.0000, EM at log-sd
0.5 / 0.3 / 0.1: +0.0758 / +0.0706 / +0.0278, mean_map +0.080; 30 000 counts: -0.0007, -0.0003,
-0.0079 / -0.0007 / +0.0026, +0.0032. ``shrinkage_bias`` (the prior's share through the
curvature, :func:`shrinkage_bias`): +0.0001 (seed 100 and seed 216, 3000 counts; 216: ln_ratio
-0.0006, EM at 0.1: -0.0371). The model's curvature does not make the shift.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings

import numpy as np

D_BULK, G_TRUE = 2.6e-12, 1.5e-8


def face_derivatives(model, theta, state):
    """(lo cell, hi cell, pair index, dT/d ln G, d2T/d ln G^2) of every boundary face.

    A face's conductance is the series of its two half-cells and the boundary, T = 1 / (1/t0 + h/g)
    with g = G w (w the face weight), so dT = T^2 h / g and d2T = dT (2 T h / g - 1).
    """
    gb = model.gb
    lo, hi, k = model.lo[gb], model.hi[gb], model.face_pair
    g = np.exp(theta)[k] * model.face_weight
    t = state.trans[gb]
    dt = t ** 2 * model.h / g
    return lo, hi, k, dt, dt * (2.0 * t * model.h / g - 1.0)


def second_order_field(model, theta, state, sens, cov) -> np.ndarray:
    """sum_m lambda_m d^2 C / du_m^2 over the eigenpairs of ``cov`` (nuisance fixed), one solve.

    With A(theta) C = b: A C'' = -(A''(u, u) C + 2 A'(u) C'), and both right-hand sides are
    bilinear in u, so the sum over cov's eigenpairs needs only cov itself: at a face f of
    boundary k, 2 dT_f ((S cov)[lo, k] - (S cov)[hi, k]) + d2T_f cov[k, k] (C[lo] - C[hi]),
    S = dC/dtheta (``sens``), T_f the face conductance and dT, d2T its derivatives in ln G.
    """
    lo, hi, k, dt, d2t = face_derivatives(model, theta, state)
    c = state.c_model
    s_lo = np.einsum("fk,kf->f", sens[lo], cov[:, k])
    s_hi = np.einsum("fk,kf->f", sens[hi], cov[:, k])
    flux = 2.0 * dt * (s_lo - s_hi) + d2t * cov[k, k] * (c[lo] - c[hi])
    n = c.size
    rhs = np.bincount(lo, flux, minlength=n) - np.bincount(hi, flux, minlength=n)
    return -state.lu.solve(rhs)


def cross_field(model, theta, state, sens, cov) -> np.ndarray:
    """2 sum_kl V[theta_k, beta_l] d^2 C / dtheta_k dbeta_l: the nuisance's share of d (one solve).

    V[beta, theta] = -R^-1 Q^T J V[theta, theta] (variable projection: beta = R^-1 Q^T (y - J theta)).
    """
    lo, hi, k, dt, _ = face_derivatives(model, theta, state)
    u = model._nuisance_fields(state.lu)[0]
    w = model._weighted_psf()
    b0 = np.linalg.lstsq(w @ u, (w @ sens) @ cov, rcond=None)[0]
    uv = u @ (-b0)
    flux = 2.0 * dt * (uv[lo, k] - uv[hi, k])
    n = uv.shape[0]
    rhs = np.bincount(lo, flux, minlength=n) - np.bincount(hi, flux, minlength=n)
    return -state.lu.solve(rhs)


def shrinkage_term(model, theta, state, sens, b) -> np.ndarray:
    """g_j = sum_i sum_kl H_i,jk b_kl J_i,l: the prior's share of the second-order bias (K solves).

    With Z = W^T P J b and Lambda = A^-1 Z, g_j = -sum_k <d_j A S_k + d_k A S_j + d_j d_k A C, Lambda_k>
    (d^2 C / dtheta_j dtheta_k = -A^-1 (d_j A S_k + d_k A S_j + d_j d_k A C); the projection P off the
    nuisance is held fixed, as in the Gauss-Newton information).
    """
    lo, hi, k, dt, d2t = face_derivatives(model, theta, state)
    w, q = model._weighted_psf(), state.basis_q
    jw = w @ sens
    jw -= q @ (q.T @ jw)
    z = w.T @ (jw @ b)
    lam = state.lu.solve(np.asarray(z))
    d_s, d_l = sens[lo] - sens[hi], lam[lo] - lam[hi]
    d_c = state.c_model[lo] - state.c_model[hi]
    n_k = model.n_params
    term1 = np.bincount(k, dt * np.einsum("fk,fk->f", d_s, d_l), minlength=n_k)
    term2 = (dt * d_l[np.arange(k.size), k]) @ d_s
    term3 = np.bincount(k, d2t * d_c * d_l[np.arange(k.size), k], minlength=n_k)
    return -(term1 + term2 + term3)


def second_order_bias(model, theta, information, sigma: float) -> np.ndarray:
    """The d-term of the MAP's second-order bias of ln G (see the module docstring), per boundary."""
    k = model.n_params
    m_inv = np.linalg.inv(information + np.eye(k) / sigma ** 2)
    v = m_inv @ information @ m_inv
    state = model.solve(theta)
    sens = np.asarray(model.field_sensitivity(theta, state), float)
    c2 = second_order_field(model, theta, state, sens, v) + cross_field(model, theta, state, sens, v)
    w, q = model._weighted_psf(), state.basis_q
    d = w @ c2
    d -= q @ (q.T @ d)
    return m_inv @ (-0.5 * ((w @ sens).T @ d))


def shrinkage_bias(model, theta, information, sigma: float) -> np.ndarray:
    """M^-1 g with b = M^-1 - V (:func:`shrinkage_term`): the bias the prior adds through the curvature."""
    k = model.n_params
    m_inv = np.linalg.inv(information + np.eye(k) / sigma ** 2)
    state = model.solve(theta)
    sens = np.asarray(model.field_sensitivity(theta, state), float)
    return m_inv @ shrinkage_term(model, theta, state, sens, m_inv - m_inv @ information @ m_inv)


def run(seed: int, kind: str, condition: str, counts: int, floor: float) -> dict:
    import tracerdiff.inversion.analysis as analysis
    import tracerdiff.inversion.fitting as fitting
    from tracerdiff.inversion import InversionOptions, invert_boundaries
    from tracerdiff.inversion.windows import estimate_population, misfit_boundaries
    from tracerdiff.simulate import (ExchangeConditions, MicrographImperfections, SimsOptions,
                                     synthetic_exchange_image, synthetic_micrograph)

    ds, sim = synthetic_exchange_image(shape=(206, 512), domain_rows=606, seed=seed,
                                       exchange=ExchangeConditions(d_bulk=D_BULK, dgb_over_delta=G_TRUE,
                                                                   dgb_sigma_ln=0.5 if kind == "lognormal" else 0.0),
                                       sims=SimsOptions(counts_per_pixel=counts, psf_sigma_um=0.6))
    models, captured = {}, {}
    fit_window, fit_image = fitting.fit_window, analysis.fit_image

    def keep_model(model, **kw):
        fit = fit_window(model, **kw)
        models[model.pairs.tobytes()] = model
        return fit

    def keep_fit(*a, **kw):
        captured["fit"] = fit_image(*a, **kw)
        return captured["fit"]

    fitting.fit_window, analysis.fit_image = keep_model, keep_fit
    kw = dict(d_bulk=D_BULK, options=InversionOptions(psf_sigma_um=0.6, min_population_log_sd=floor))
    if condition == "true":
        kw["labels"] = np.asarray(sim.grains.labels)
    else:
        kw["optical"] = synthetic_micrograph(sim.grains, seed=seed, imperfections=MicrographImperfections()).image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = invert_boundaries(ds, **kw)
    finally:
        fitting.fit_window, analysis.fit_image = fit_window, fit_image
    image = captured["fit"]
    clean = [own[~misfit_boundaries(fit, n_sigma=4.0)[own]] for fit, own in zip(image.fits, image.owned)]
    bias, shrink, theta = [], [], []
    for fit, own in zip(image.fits, clean):
        if own.size:
            model = models[fit.pairs.tobytes()]
            bias.append(second_order_bias(model, fit.theta, fit.information, image.sigma)[own])
            shrink.append(shrinkage_bias(model, fit.theta, fit.information, image.sigma)[own])
            theta.append(fit.theta[own])
    em = {}
    for s in (0.5, 0.3, 0.1):
        mu, _ = estimate_population(image.fits, clean, mu=image.mu, sigma=s, fixed_sigma=s, robust=True)
        em[str(s)] = round(mu - math.log(G_TRUE), 4)
    return {"seed": seed, "kind": kind, "condition": condition, "counts": counts, "floor": floor,
            "ln_ratio": round(math.log(res.population.median.value / G_TRUE), 4), "log_sd": round(image.sigma, 3),
            "second_order_bias": round(float(np.mean(np.concatenate(bias))), 4),
            "shrinkage_bias": round(float(np.mean(np.concatenate(shrink))), 4),
            "em_fixed_sigma": em, "mean_map": round(float(np.mean(np.concatenate(theta))) - math.log(G_TRUE), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="100")
    parser.add_argument("--kinds", default="uniform")
    parser.add_argument("--conditions", default="true")
    parser.add_argument("--counts", type=int, default=3000)
    parser.add_argument("--floor", type=float, default=0.3)
    args = parser.parse_args()
    for seed in (int(s) for s in args.seeds.split(",")):
        if 235 <= seed <= 260:
            raise SystemExit("seeds 235-260 are reserved for the final fresh sweep")
        for kind in args.kinds.split(","):
            for condition in args.conditions.split(","):
                print(json.dumps(run(seed, kind, condition, args.counts, args.floor)), flush=True)


if __name__ == "__main__":
    main()
