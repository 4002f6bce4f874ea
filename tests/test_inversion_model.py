"""The inversion's forward model and fitting pieces on small hand-built windows (fast, exact checks)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from tracerdiff.errors import InputError
from tracerdiff.inversion import InversionOptions, WindowModel, estimate_population, fit_window, invert_boundaries, network
from tracerdiff.inversion.windows import WindowFit, population_median_stderr, posterior, window_grid

D = 2.6e-12  # m^2/s
H = 1e-6  # m (1 um pixels)


def _stripes(ny=40, nx=24, period=10):
    """Horizontal grains (boundaries normal to the flux) of ``period`` rows; source at row 0."""
    return (np.arange(ny)[:, None] // period + 1) * np.ones((1, nx), dtype=np.int64)


def _model(c, labels, *, sigma=1e-3, psf=0.0):
    ones = (np.ones((c.shape[0] - 1, c.shape[1])), np.ones((c.shape[0], c.shape[1] - 1)))
    return WindowModel(c, np.full(c.shape, sigma), np.ones(c.shape, bool), labels, ones, h=H, d_bulk=D,
                       psf_px=psf, at_source=True)


def _layered_steady(labels, g, *, c_top=1.0, flux=1e-7):
    """Exact steady 1D field through horizontal layers: slope flux/D in the bulk, jump flux/G at each boundary.

    Cell-centred values with the model's discretisation: rows i and i+1 in different grains are
    separated by h/D + 1/G, in the same grain by h/D; row 0 is h/(2D) from the surface value.
    """
    ny = labels.shape[0]
    c = np.empty(ny)
    c[0] = c_top - flux * (H / 2) / D
    for i in range(1, ny):
        r = H / D + (1.0 / g if labels[i, 0] != labels[i - 1, 0] else 0.0)
        c[i] = c[i - 1] - flux * r
    return np.repeat(c[:, None], labels.shape[1], axis=1)


def test_model_reproduces_the_exact_layered_field():
    # A steady 1D field through layers is the model's own solution with a uniform exit flux,
    # which the fitted edge values (piecewise linear per run) can represent exactly.
    labels = _stripes()
    g = 1.5e-8
    c = _layered_steady(labels, g)
    model = _model(c, labels)
    state = model.solve(np.full(model.n_params, math.log(g)))
    assert np.max(np.abs(state.c_model - c.ravel())) < 1e-9
    # Each step is flux/G = 1e-7 / 1.5e-8 = 6.67 (in C units): the model's step reports it.
    step, _ = model.steps(np.full(model.n_params, math.log(g)), state)
    assert step == pytest.approx(np.full(model.n_params, 1e-7 / g), rel=1e-9)


def test_fit_recovers_each_layer_conductance_from_a_clean_field():
    labels = _stripes(ny=50, period=10)
    g_true = np.array([1.0e-8, 3.0e-8, 0.6e-8, 2.0e-8])  # four boundaries, factor 5 apart
    # The layered field of _layered_steady, each boundary with its own G.
    flux, col = 1e-7, np.empty(labels.shape[0])
    col[0] = 1.0 - flux * (H / 2) / D
    k = 0
    for i in range(1, labels.shape[0]):
        jump = 0.0
        if labels[i, 0] != labels[i - 1, 0]:
            jump, k = 1.0 / g_true[k], k + 1
        col[i] = col[i - 1] - flux * (H / D + jump)
    c = np.repeat(col[:, None], labels.shape[1], axis=1) * 1e-3 + 0.5  # C-like range; affine is fitted
    model = _model(c, labels, sigma=1e-6)
    fit = fit_window(model, mu=math.log(1.5e-8), sigma=50.0, theta0=np.full(model.n_params, math.log(1.5e-8)),
                     max_iter=30)
    # Noise-free and a nearly flat prior (sd e^50): recovery to 1e-4 in ln G.
    assert np.exp(fit.theta) == pytest.approx(g_true, rel=1e-4)


def test_field_sensitivity_matches_finite_differences(monkeypatch):
    # The formula is checked in float64 (no float32 fields; SINGLE_TOL 0 refuses the float32
    # sensitivities, whose own accuracy, ~1e-6 relative, is tested in test_inversion_numerics.py).
    monkeypatch.setattr(network, "SINGLE_NUISANCE", False)
    monkeypatch.setattr(network, "SINGLE_TOL", 0.0)
    rng = np.random.default_rng(3)
    labels = _stripes(ny=30, nx=20, period=7)
    labels[:, 10:] += 10  # a vertical boundary too (parallel to the flux)
    c = 0.5 + 0.01 * rng.standard_normal(labels.shape)
    model = _model(c, labels, psf=0.5)
    theta = math.log(1.5e-8) + 0.3 * rng.standard_normal(model.n_params)
    state = model.solve(theta)
    sens = model.field_sensitivity(theta, state)
    beta_fixed = np.linalg.lstsq(model.basis, _assembled(model, theta) @ state.c_model, rcond=None)[0]
    eps = 1e-3  # C ~ 0.5 and dC/dtheta ~ 1e-6: a smaller step loses digits to cancellation
    for k in range(model.n_params):
        e = np.zeros(model.n_params)
        e[k] = eps
        a_p, a_m = _assembled(model, theta + e), _assembled(model, theta - e)
        numeric = (np.linalg.solve(a_p, model.basis @ beta_fixed) - np.linalg.solve(a_m, model.basis @ beta_fixed)) / (2 * eps)
        # Central differences: truncation ~eps^2 = 1e-6 relative, so 1e-5 is a fair bound.
        assert np.allclose(sens[:, k], numeric, rtol=1e-5, atol=1e-7 * np.abs(numeric).max())


def test_step_jacobian_matches_finite_differences(monkeypatch):
    # d step / d theta at fixed nuisance (what the result's step errors use), against central
    # differences of the step of the fixed-nuisance field A(theta)^-1 basis beta. Both terms of
    # the formula act: the field's change (off the diagonal too) and the boundary's own share of
    # its faces' cell-to-cell difference (diagonal).
    monkeypatch.setattr(network, "SINGLE_NUISANCE", False)
    monkeypatch.setattr(network, "SINGLE_TOL", 0.0)
    rng = np.random.default_rng(5)
    labels = _stripes(ny=30, nx=20, period=7)
    labels[:, 10:] += 10
    c = 0.5 + 0.01 * rng.standard_normal(labels.shape)
    model = _model(c, labels, psf=0.5)
    theta = math.log(1.5e-8) + 0.3 * rng.standard_normal(model.n_params)
    state = model.solve(theta)
    sens = model.field_sensitivity(theta, state)
    _, dstep = model.steps(theta, state, sens)
    source = model.basis @ np.linalg.lstsq(model.basis, _assembled(model, theta) @ state.c_model, rcond=None)[0]

    def step_at(th):
        fixed = SimpleNamespace(c_model=np.linalg.solve(_assembled(model, th), source), trans=model.face_conductances(th))
        return model.steps(th, fixed)[0]

    eps = 1e-3  # as for the sensitivities: truncation ~eps^2, cancellation below 1e-8 relative
    numeric = np.empty_like(dstep)
    for k in range(model.n_params):
        e = np.zeros(model.n_params)
        e[k] = eps
        numeric[:, k] = (step_at(theta + e) - step_at(theta - e)) / (2 * eps)
    assert np.abs(np.diag(numeric)).min() > 0  # the boundaries' own terms are there to be checked
    assert np.allclose(dstep, numeric, rtol=1e-4, atol=1e-5 * np.abs(numeric).max())


def _assembled(model, theta):
    """Dense operator of the model (same faces and edge terms), independent of its sparse assembly."""
    a = np.diag(model.dirichlet.copy())
    t = model.face_conductances(theta)
    for lo, hi, tf in zip(model.lo, model.hi, t):
        a[lo, lo] += tf
        a[hi, hi] += tf
        a[lo, hi] -= tf
        a[hi, lo] -= tf
    return a


def test_population_em_recovers_mean_and_spread_of_direct_measurements():
    # Windows that each measure one boundary directly (information 1/s^2): the EM must find the
    # normal-normal MLE. With s = 0.2 and a population N(-18, 0.5^2) over 4000 boundaries the
    # estimates are within 3 standard errors (mu: 0.54/sqrt(4000) ~ 0.009; sigma: ~0.006).
    rng = np.random.default_rng(11)
    n, s = 4000, 0.2
    true = -18.0 + 0.5 * rng.standard_normal(n)
    obs = true + s * rng.standard_normal(n)
    fits = [WindowFit(np.array([[1, 2]]), np.array([o]), np.array([[1 / s ** 2]]), np.array([o / s ** 2]),
                      np.zeros(1), np.zeros((1, 1)), 0.0, 1, 1, {}) for o in obs]
    mu, sigma = estimate_population(fits, [np.array([0])] * n, mu=-17.0, sigma=1.0)
    assert mu == pytest.approx(-18.0, abs=0.03)
    assert sigma == pytest.approx(0.5, abs=0.02)
    # It settles well within EM_MAX_ITER, and says when it has not (one iteration from 1 e-fold away).
    from tracerdiff.inversion.windows import population_estimate

    assert population_estimate(fits, [np.array([0])] * n, mu=-17.0, sigma=1.0) == (mu, sigma, True)
    assert population_estimate(fits, [np.array([0])] * n, mu=-17.0, sigma=1.0, max_iter=1)[2] is False
    # Posterior mean of one window under N(mu, sigma^2): the precision-weighted average.
    mean, cov = posterior(fits[0], mu, sigma)
    w = (1 / s ** 2) / (1 / s ** 2 + 1 / sigma ** 2)
    assert mean[0] == pytest.approx(w * obs[0] + (1 - w) * mu, rel=1e-12)
    assert cov[0, 0] == pytest.approx(1 / (1 / s ** 2 + 1 / sigma ** 2), rel=1e-12)
    # Standard error of mu for independent boundaries: sqrt((sigma^2 + s^2) / n).
    se = population_median_stderr(fits, [np.array([0])] * n, mu, sigma)
    assert se == pytest.approx(math.sqrt((sigma ** 2 + s ** 2) / n), rel=1e-6)


def test_window_grid_covers_the_image():
    assert window_grid(206, 96, 64) == [0, 64, 110]
    assert window_grid(50, 96, 64) == [0]
    assert window_grid(96, 96, 64) == [0]


@pytest.mark.parametrize("kw, source", [
    (dict(window_px=4), "window_px"), (dict(stride_px=200), "stride_px"), (dict(psf_sigma_um=-1.0), "psf_sigma_um"),
    (dict(population_sigma=0.0), "population_sigma"), (dict(boundary_margin_px=-1), "boundary_margin_px"),
    (dict(n_passes=0), "n_passes"),
])
def test_bad_options_are_named(kw, source):
    with pytest.raises(InputError) as err:
        InversionOptions(**kw)
    assert err.value.source == source


def test_one_grain_gives_an_explained_empty_result():
    rng = np.random.default_rng(0)
    c = 0.5 - 0.001 * np.arange(40)[:, None] + 0.001 * rng.standard_normal((40, 40))
    res = invert_boundaries(c, d_bulk=D, pixel_size_um=1.0, source_edge="top", labels=np.ones((40, 40), np.int64))
    assert res.boundaries == () and res.summary.n == 0
    assert "one grain" in res.message


def test_population_spread_is_capped_and_finite():
    # Direct measurements spread by e^10 would ask for sigma ~ 10; the estimate stays at the
    # documented cap (3) and finite, and a window with an undetermined boundary (zero information)
    # contributes only its prior.
    rng = np.random.default_rng(5)
    obs = -18.0 + 10.0 * rng.standard_normal(200)
    fits = [WindowFit(np.array([[1, 2], [2, 3]]), np.array([o, -18.0]), np.array([[100.0, 0.0], [0.0, 0.0]]),
                      np.array([100.0 * o, 0.0]), np.zeros(2), np.zeros((2, 2)), 0.0, 1, 1, {}) for o in obs]
    mu, sigma = estimate_population(fits, [np.array([0, 1])] * len(fits), mu=-18.0, sigma=1.0)
    assert sigma == 3.0 and math.isfinite(mu)


def test_inversion_result_shows_data_and_model_across_each_boundary():
    # Every reported boundary carries the pixels of its two grains across it (s < 0 downstream,
    # s > 0 towards the source) and the fitted field there, binned per pixel of s as the figure
    # draws them (a boundary 11 px long at the image's edge: 12 bins); the figure draws both.
    import matplotlib

    matplotlib.use("Agg")
    from test_boundaries_inputs import _staircase  # tests/ is on sys.path under pytest

    i6, i7 = _staircase()
    res = invert_boundaries(i6 / (i6 + i7), d_bulk=D, pixel_size_um=1.0, workers=1)
    b = res.accepted[0]
    assert b.profile_binned and b.profile_s.size == b.profile_c.size == b.profile_model.size >= 10
    assert np.all(np.diff(b.profile_s) > 0)  # one point per bin
    assert (b.profile_s < 0).any() and (b.profile_s > 0).any()
    # The model is higher on the source side by about the step (0.03, within the fit's noise).
    up, down = b.profile_model[b.profile_s > 2].mean(), b.profile_model[b.profile_s < -2].mean()
    assert 0.02 < up - down < 0.04
    fig = res.plot().figure
    assert any(len(ax.lines) >= 2 for ax in fig.axes[1:])


def test_c_map_grains_are_said_to_miss_faint_boundaries():
    # Grains segmented from the C map miss the boundaries whose step is below the counting noise
    # (issue 12 item 4: none can be cut back, and they push the median up); the result says so
    # whenever the map came from the C map, and not when the grains were given.
    from test_boundaries_inputs import _staircase  # tests/ is on sys.path under pytest

    from tracerdiff.boundaries import segmentation
    from tracerdiff.inversion.analysis import CMAP_REMARK

    i6, i7 = _staircase()
    c = i6 / (i6 + i7)
    res = invert_boundaries(c, d_bulk=D, pixel_size_um=1.0, workers=1)
    assert CMAP_REMARK in res.message
    given = segmentation.segment_grains(c, np.full(c.shape, 0.01), np.ones(c.shape, bool)).astype(np.int64)
    assert CMAP_REMARK not in invert_boundaries(c, d_bulk=D, pixel_size_um=1.0, labels=given, workers=1).message


def test_no_flux_no_values():
    # A flat, noisy image (no tracer flux) constrains no conductance: every boundary is flagged
    # as undetermined by the data and the population median is reported as unknown, not invented.
    rng = np.random.default_rng(2)
    c = 0.5 + 0.005 * rng.standard_normal((48, 48))
    labels = np.ones((48, 48), dtype=np.int64)
    labels[24:] = 2
    res = invert_boundaries(c, d_bulk=D, pixel_size_um=1.0, source_edge="top", labels=labels, workers=1)
    assert res.summary.n == 0 and res.boundaries
    assert all(not b.accepted for b in res.boundaries)
    assert res.to_dict()["population"]["median"]["value"] is None


def test_initial_level_minimises_the_windows_summed_chi2():
    # Fake windows whose chi^2 is a function of the uniform ln G on the scan's grid (factor e per
    # step). The start value is the argmin of their sum over the windows with the most boundaries.
    from types import SimpleNamespace

    from tracerdiff.inversion.windows import initial_log_conductance

    d, h = 2.6e-12, 1e-6
    grid = math.log(d / h) + np.arange(-12.0, 1.0)

    def window(curve, n_params):
        return SimpleNamespace(n_params=n_params,
                               chi2=lambda theta: float(curve(int(round(theta[0] - grid[0])))))

    def parabola(best):
        return lambda i: (i - best) ** 2

    # Equal parabolas: the sum's minimum is at the mean of the minima, (0 + 6 + 8 + 6) / 4 = 5; the
    # fifth window (fewest boundaries, left out with n_windows=4) would move it.
    models = [window(parabola(0), 50), window(parabola(6), 40), window(parabola(8), 30), window(parabola(6), 20),
              window(lambda i: 1e6 * (i - 12) ** 2, 1)]
    assert initial_log_conductance(models, d_bulk=d, h=h, n_windows=4) == pytest.approx(grid[5])
    # As on the closed 512 um sample (seed 3): four windows nearly flat (within 1.5) over the
    # low-conductance plateau, each with its argmin at its low end, and one window that rises by
    # 20 there and has its minimum at grid point 8. The median of the argmins would start at grid
    # point 0 (a factor e^8 low); the summed chi^2 starts at 8.
    flat = lambda i: 0.0 if i < 8 else 1.5 + 10.0 * (i - 8) ** 2  # noqa: E731
    sharp = lambda i: 0.0 if i == 8 else 20.0 + (i - 8) ** 2  # noqa: E731
    models = [window(flat, 60), window(flat, 59), window(flat, 58), window(flat, 57), window(sharp, 56)]
    assert initial_log_conductance(models, d_bulk=d, h=h, n_windows=5) == pytest.approx(grid[8])
