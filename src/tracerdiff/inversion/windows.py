"""Fitting the network model window by window, and the population of boundary conductances.

Units as in :mod:`tracerdiff.inversion.network` (theta = ln of D*gb/delta in m/s).

Why a population prior: with every boundary free, only about one combination of conductances
per grain is pinned by the image (flux conservation); the rest depend on the weakly measured
gradients inside grains. A log-normal population (median exp(mu), log-sd sigma), whose mu and
sigma are estimated from the image itself (empirical Bayes), makes each boundary's estimate a
precision-weighted compromise between its own data and the population, with an honest
posterior standard deviation. On simulated 3000-count images this ranks boundaries with
Spearman ~0.78 where the free step analysis reaches ~0.2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracerdiff.inversion import network
from tracerdiff.inversion.network import WindowModel
from tracerdiff.inversion.symmetric import PackedSymmetric

#: ln(G) is kept within this many e-folds of the population median during a window fit.
THETA_RANGE = 7.0
#: Largest step in ln G per parameter of a Levenberg-Marquardt iteration, and the farthest the data
#: term's own optimum is trusted from the fit along any direction (see :func:`data_term`).
MAX_STEP = 2.0
#: ln(G h / D*bulk) range of the start scan: from a boundary as conductive as one pixel of bulk
#: down to e^-12 of it (see :func:`initial_log_conductance`).
SCAN_RANGE = (-12.0, 0.0)


@dataclass(frozen=True)
class WindowFit:
    """MAP fit of one window: conductances, data information matrix and model steps."""

    pairs: np.ndarray  # (K, 2) grain pairs of the window's boundaries
    theta: np.ndarray  # MAP ln G (m/s)
    information: np.ndarray | PackedSymmetric  # J^T J of the data term at theta, (K, K) (np.asarray gives it)
    info_vector: np.ndarray  # F theta_hat + (theta_hat - mu)/sigma^2: the data term as a Gaussian in theta
    step: np.ndarray  # model |dC| per boundary
    step_jacobian: np.ndarray  # d step / d theta, (K, K)
    chi2: float
    n_obs: int
    n_iter: int
    grain_misfit: dict  # grain label -> (chi^2/n, n) at the fit
    c_model: np.ndarray | None = None  # fitted field of the window (ny, nx), before the PSF (see _stored_field)


def fit_window(model: WindowModel, *, mu: float, sigma: float, theta0: np.ndarray, max_iter: int = 8) -> WindowFit:
    """Levenberg-Marquardt on ln G with a Gaussian prior N(mu, sigma^2) on every boundary."""
    theta = np.clip(np.asarray(theta0, float), mu - THETA_RANGE, mu + THETA_RANGE)
    k = model.n_params
    prior_w = 1.0 / sigma ** 2
    state = model.solve(theta)
    objective = state.chi2 + prior_w * float(np.sum((theta - mu) ** 2))
    damping, n_iter = 1e-2, 0
    sens = None
    for n_iter in range(1, max_iter + 1):
        sens = model.field_sensitivity(theta, state)
        info, data_grad = model._gauss_newton(sens, state)
        hess = info + prior_w * np.eye(k)
        grad = data_grad + prior_w * (theta - mu)
        improved, step = False, np.zeros(k)
        for _ in range(8):
            step = np.linalg.solve(hess + damping * np.diag(np.diag(hess)), -grad)
            trial = np.clip(theta + np.clip(step, -MAX_STEP, MAX_STEP), mu - THETA_RANGE, mu + THETA_RANGE)
            new = model.solve(trial)
            value = new.chi2 + prior_w * float(np.sum((trial - mu) ** 2))
            if value < objective:
                theta, state, objective = trial, new, value
                sens = None  # belongs to the previous state
                damping = max(damping / 3.0, 1e-7)
                improved = True
                break
            damping *= 4.0
        if not improved or np.max(np.abs(step)) < 1e-3:
            break
    if sens is None or network._REFERENCE:  # else: no step was taken since it was computed
        sens = model.field_sensitivity(theta, state)
    # The information the fit reports (the posterior's), with its Gram product in float64.
    info, data_grad = model._gauss_newton(sens, state, precise=True)
    steps, dsteps = model.steps(theta, state, sens)
    # The data term as a Gaussian in theta: information F and vector F theta - grad. The gradient
    # is the data's own (not -(theta - mu)/sigma^2 from stationarity, which fails when the fit
    # stopped early): it has no component along F's null directions, so re-weighting the prior
    # cannot move undetermined boundaries.
    return WindowFit(model.pairs, theta, PackedSymmetric.of(info), info @ theta - data_grad, steps, dsteps,
                     state.chi2, int(model.data.size), n_iter, model.grain_misfit(state),
                     _stored_field(state, model.shape))


def _stored_field(state, shape: tuple[int, int]) -> np.ndarray:
    """The fitted field as a fit keeps it: float32 where its nuisance fields were solved in float32
    (``state.single``: checked accurate to 1e-5 relative, and to 1e-3 of the noise), whose rounding
    (6e-8 relative) is far below that; else float64 (nearly noise-free data). Every window's field
    is kept until the result is built (4096 windows of 96^2 px at 4096^2 px: 0.30 GB in float64)."""
    field = state.c_model.reshape(shape)
    return field.astype(np.float32) if state.single else field


def misfit_boundaries(fit: WindowFit, *, n_sigma: float) -> np.ndarray:
    """Boundaries of the window with a grain the model does not explain (a missed boundary inside it?).

    A grain's chi^2/n is flagged above 1 + n_sigma * sqrt(2/n) (its sampling sd for a correct model).
    """
    bad = {g for g, (red, n) in fit.grain_misfit.items() if n > 0 and red > 1.0 + n_sigma * math.sqrt(2.0 / n)}
    return np.array([int(a) in bad or int(b) in bad for a, b in fit.pairs], dtype=bool)


def data_term(fit: WindowFit) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fit's Gaussian data term in the eigenbasis of its information: (eigenvalues, eigenvectors,
    the fit's theta in that basis, the data gradient at the fit in that basis).

    Along eigenvector i the data term is a Gaussian of precision lam_i centred at
    theta_hat_i - g_i / lam_i. A negative eigenvalue (rounding: a data term cannot subtract
    precision from the prior) is set to 0. See :func:`information_vector` for the gradient.
    """
    lam, vec = np.linalg.eigh(np.asarray(fit.information))
    t = vec.T @ fit.theta
    gradient = lam * t - vec.T @ fit.info_vector  # info_vector = F theta_hat - grad
    return np.clip(lam, 0.0, None), vec, t, gradient


def information_vector(lam, t, gradient, sigma: float) -> tuple[np.ndarray, bool]:
    """The data term's information vector lam t - g (eigenbasis) for a prior of log-sd ``sigma``,
    and whether the trust region below was active.

    The data gradient's part of the posterior's step from the fit, g_i / (lam_i + 1/sigma^2), is
    kept within ``MAX_STEP`` (the fit's own step bound): beyond it the quadratic model of the
    data term is not to be trusted. A fit stopped far from its optimum (a model that does not
    describe the image) had undamped steps up to 3.9e3 in ln G on a mirrored 2048^2 px mosaic,
    and the posterior's exp() overflowed. On the 512 x 206 px benchmark images the largest step
    from any fit to its posterior mean is 0.06: the bound is never active there.
    """
    limit = MAX_STEP * (lam + 1.0 / sigma ** 2)
    clipped = np.clip(gradient, -limit, limit)
    return lam * t - clipped, bool(np.any(clipped != gradient))


def posterior(fit: WindowFit, mu: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and covariance of ln G in a window under prior N(mu, sigma^2), data term
    Gaussian (:func:`data_term`, :func:`information_vector`; as in :func:`estimate_population`)."""
    return trusted_posterior(fit, mu, sigma)[:2]


def trusted_posterior(fit: WindowFit, mu: float, sigma: float) -> tuple[np.ndarray, np.ndarray, bool]:
    """:func:`posterior` and whether its trust region was active (see :func:`unconverged`)."""
    lam, vec, t, gradient = data_term(fit)
    hv, clipped = information_vector(lam, t, gradient, sigma)
    d = 1.0 / (lam + 1.0 / sigma ** 2)
    cov = (vec * d) @ vec.T
    return vec @ (d * (hv + mu / sigma ** 2 * vec.sum(axis=0))), cov, clipped


def unconverged(fit: WindowFit, sigma: float) -> bool:
    """Whether the posterior of the fit under log-sd ``sigma`` needed the trust region of
    :func:`information_vector` (the fit stopped more than ``MAX_STEP`` from where its data pull)."""
    lam, _, t, gradient = data_term(fit)
    return information_vector(lam, t, gradient, sigma)[1]


#: EM iterations of the population estimate. On the benchmark images it settles within 200 (seeds
#: 0-2 of bench_inversion, every pass); on a mirrored 2048^2 mosaic that the model does not
#: describe, the median still drifted after 2000 (-29.0 to -34.0 in ln), which took 65 CPU s
#: per call (1024 windows x 31 ms per iteration).
EM_MAX_ITER = 500


def estimate_population(fits: list[WindowFit], owned: list[np.ndarray], *, mu: float, sigma: float,
                        **options) -> tuple[float, float]:
    """:func:`population_estimate` without its convergence flag: (ln median, log-sd)."""
    return population_estimate(fits, owned, mu=mu, sigma=sigma, **options)[:2]


def population_estimate(fits: list[WindowFit], owned: list[np.ndarray], *, mu: float, sigma: float,
                        fixed_sigma: float | None = None, min_sigma: float = 0.02, max_sigma: float = 3.0,
                        robust: bool = False, tol: float = 1e-5,
                        max_iter: int = EM_MAX_ITER) -> tuple[float, float, bool]:
    """Empirical-Bayes (EM) estimate of the population median (ln) and log-sd, and whether the EM
    settled (both within ``tol`` between iterations) in ``max_iter`` iterations.

    Each window's data term is its Gaussian approximation at the last fit, so the EM
    iterations need no new field solves. ``owned[i]`` indexes the boundaries window i reports
    (every boundary is counted once). The log-sd is kept within [min_sigma, max_sigma]
    (max_sigma 3: a factor 20 per sd, beyond any physical spread of boundaries).

    ``robust``: the population is a mixture of the log-normal and a flat share of outliers
    over the fit's range (+-THETA_RANGE), weighted by EM responsibilities. Boundaries next to a
    grain that hides a step come out far from the others; counted as inliers they widen the
    prior, the undetermined boundaries drift with it, and the median follows (10 % of the
    boundaries deleted from a map: population median 3.6x truth, log-sd 1.7).
    """
    # Only the eigenvectors' rows of the boundaries a window reports are kept (at 4096^2 px the whole
    # K x K matrices of 4096 windows were 0.67 GB, held at the run's memory peak).
    eig = []
    for fit, own in zip(fits, owned):
        if own.size == 0:
            continue
        lam, vec, t, gradient = data_term(fit)
        eig.append((lam, vec[own], t, gradient, vec.sum(axis=0)))
    sigma = fixed_sigma if fixed_sigma is not None else sigma
    share = 0.95  # inlier share of the robust mixture, re-estimated
    for _ in range(max_iter):
        means, variances = [], []
        for lam, rows, t, gradient, one in eig:
            hv, _ = information_vector(lam, t, gradient, sigma)
            d = 1.0 / (lam + 1.0 / sigma ** 2)
            means.append(rows @ (d * (hv + mu / sigma ** 2 * one)))
            variances.append(np.einsum("ij,j,ij->i", rows, d, rows))
        means, variances = np.concatenate(means), np.concatenate(variances)
        r = np.ones(means.size)
        if robust:
            r = _responsibilities(means, mu, sigma, share)
            share = _next_share(r)
        new_mu = float(np.sum(r * means) / np.sum(r))
        new_sigma = sigma if fixed_sigma is not None else \
            min(max(math.sqrt(float(np.sum(r * ((means - new_mu) ** 2 + variances)) / np.sum(r))), min_sigma),
                max_sigma)
        done = abs(new_mu - mu) < tol and abs(new_sigma - sigma) < tol
        mu, sigma = new_mu, new_sigma
        if done:
            return mu, sigma, True
    return mu, sigma, False


def _responsibilities(means: np.ndarray, mu: float, sigma: float, share: float) -> np.ndarray:
    """Posterior probability that each boundary belongs to the log-normal, not the flat outliers."""
    inlier = share * np.exp(-0.5 * ((means - mu) / sigma) ** 2) / (math.sqrt(2 * math.pi) * sigma)
    return inlier / (inlier + (1.0 - share) / (2 * THETA_RANGE))


def _next_share(r: np.ndarray) -> float:
    return min(max(float(np.mean(r)), 0.5), 1.0 - 1e-6)


def inlier_weights(means: np.ndarray, mu: float, sigma: float, *, max_iter: int = 500,
                   tol: float = 1e-10) -> np.ndarray:
    """The robust mixture's responsibilities at a fitted (mu, sigma), its inlier share at its fixed point.

    ``estimate_population(robust=True)`` ends at a fixed point of (mu, sigma, share); given
    its mu and sigma, the share is the fixed point of share = mean(r(share)), found here again.
    """
    means = np.asarray(means, dtype=float)
    share = 0.95
    for _ in range(max_iter):
        r = _responsibilities(means, mu, sigma, share)
        new = _next_share(r)
        if abs(new - share) < tol:
            break
        share = new
    return _responsibilities(means, mu, sigma, share)


def population_median_stderr(fits: list[WindowFit], owned: list[np.ndarray], mu: float, sigma: float) -> float:
    """Standard error of the population's ln median: 1/sqrt(sum 1/(sigma^2 + s_k^2)).

    s_k^2 is boundary k's data-only variance, from its posterior variance V_k = 1/(1/sigma^2 + 1/s_k^2);
    correlations between boundaries of one window are neglected, so this is a lower bound.
    """
    weight = 0.0
    for fit, own in zip(fits, owned):
        if own.size == 0:
            continue
        _, cov = posterior(fit, mu, sigma)
        v = np.clip(np.diag(cov)[own], 1e-300, sigma ** 2)
        data_precision = np.clip(1.0 / v - 1.0 / sigma ** 2, 0.0, None)
        weight += float(np.sum(data_precision / (1.0 + sigma ** 2 * data_precision)))
    return 1.0 / math.sqrt(weight) if weight > 0 else math.inf


def population_median_block_stderr(fits: list[WindowFit], owned: list[np.ndarray], mu: float, sigma: float, *,
                                   robust: bool = False) -> float:
    """Cluster-robust standard error of the population's ln median, windows as clusters.

    Boundaries of one window share its nuisance (edge values, dC/dt) and so its model errors;
    the independent-boundary error misses that. At the EM fixed point mu is the mean of the
    posterior means m_k = mu + w_k (d_k - mu) (w_k = 1 - V_k / sigma^2 the weight of boundary
    k's own data d_k), i.e. a w-weighted mean of the d_k, whose sandwich variance with windows
    as clusters is W / (W - 1) * sum_w (sum_k (m_k - mu))^2 / (sum_k w_k)^2.

    ``robust`` (as ``estimate_population(robust=True)``, which made mu): each boundary counts
    with its inlier responsibility r_k, as it does in mu, i.e. sums of r_k (m_k - mu) over
    sum r_k w_k. Unweighted, one outlier that mu ignores (a posterior mean near the fit's range,
    next to a missed boundary) dominated its window's sum: 1.1 in ln on a C-map image whose
    other errors were 0.03-0.10.
    """
    per_window = []
    for fit, own in zip(fits, owned):
        if own.size == 0:
            continue
        mean, cov = posterior(fit, mu, sigma)
        per_window.append((mean[own], np.clip(1.0 - np.diag(cov)[own] / sigma ** 2, 0.0, 1.0)))
    n = len(per_window)
    if n < 2:
        return math.inf
    if robust:
        r = inlier_weights(np.concatenate([m for m, _ in per_window]), mu, sigma)
        r_parts = np.split(r, np.cumsum([m.size for m, _ in per_window])[:-1])
    else:
        r_parts = [np.ones(m.size) for m, _ in per_window]
    sums = [float(np.sum(rk * (m - mu))) for (m, _), rk in zip(per_window, r_parts)]
    weight = float(sum(np.sum(rk * w) for (_, w), rk in zip(per_window, r_parts)))
    if weight <= 0:
        return math.inf
    return math.sqrt(n / (n - 1) * float(np.sum(np.square(sums)))) / weight


def population_median_marginal_stderr(fits: list[WindowFit], owned: list[np.ndarray], mu: float,
                                      sigma: float) -> float:
    """Standard error of the population's ln median from the marginal likelihood, boundaries correlated.

    The image pins the ratios of neighbouring conductances well (one combination per grain) but
    their common level only weakly: a window's boundaries move together with its nuisance (edge
    values, dC/dt), and the level rests on the small bulk gradients. The other two errors miss
    that (the independent one takes each boundary's marginal variance as if the others were
    known; the window-cluster one sums posterior means, which the prior has already pulled to
    mu). With window w's data term N(theta_hat, F^-1) and the population prior N(mu 1, sigma^2 I),
    theta_hat ~ N(mu 1, sigma^2 I + F^-1), so the information on mu is
    1^T F (I + sigma^2 F)^-1 1 (F may be singular). Windows overlap; each counts with the share of
    its boundaries' data weight (1 - V_k / sigma^2) that its owned boundaries carry.
    """
    total = 0.0
    for fit, own in zip(fits, owned):
        k = len(fit.theta)
        if own.size == 0 or k == 0:
            continue
        f = np.asarray(fit.information)
        one = np.ones(k)
        info = float(one @ f @ np.linalg.solve(np.eye(k) + sigma ** 2 * f, one))
        _, cov = posterior(fit, mu, sigma)
        weight = np.clip(1.0 - np.diag(cov) / sigma ** 2, 0.0, 1.0)
        share = float(weight[own].sum() / weight.sum()) if weight.sum() > 0 else own.size / k
        total += max(info, 0.0) * share
    return 1.0 / math.sqrt(total) if total > 0 else math.inf


def window_grid(n: int, size: int, stride: int) -> list[int]:
    """Start offsets of windows of ``size`` covering ``n`` cells with the given stride (last one flush)."""
    if n <= size:
        return [0]
    starts = list(range(0, n - size + 1, stride))
    if starts[-1] + size < n:
        starts.append(n - size)
    return starts


def initial_log_conductance(models, *, d_bulk: float, h: float, n_windows: int = 6) -> float:
    """ln G to start from: the uniform conductance that minimises the summed chi^2 of the windows
    with the most boundaries (a coarse scan, factor e per step).

    The start is one level common to every window, so its windows' chi^2 add: each weighs by
    what its data say. One window alone can mislead (on one test image its best uniform value
    was 1e-3 of the truth, and the fit never left that basin: median 0.0006x truth), and so can a
    majority: where the level is weakly measured, a window's chi^2 is flat within a few units over
    the low-conductance plateau, and its argmin falls anywhere on it. On a 512 x 512 image of a
    closed 512 um sample (seed 3, grains from the C map) 4 of 6 windows had their argmin there
    (median of the argmins 1e-3 of the truth, final median 0.029x), while one window's chi^2 rose by
    19-26 over that plateau: the sum's argmin was within 0.16 in ln of the truth."""
    grid = math.log(d_bulk / h) + np.linspace(*SCAN_RANGE, 13)
    total = np.zeros(grid.size)
    used = 0
    for model in sorted(models, key=lambda m: m.n_params, reverse=True)[:n_windows]:
        if model.n_params == 0:
            continue
        total += np.array([model.chi2(np.full(model.n_params, g)) for g in grid])
        used += 1
    if used == 0:
        return float(np.median(grid))
    return float(grid[int(np.argmin(total))])
