"""Analytic and exact solutions behind the profile fits (tracerdiff.profiles.solutions)."""

import math

import numpy as np
import pytest
from scipy.special import erfc

from tracerdiff.errors import InputError
from tracerdiff.profiles.solutions import (CosineSeries, erfc_profile, propagate_grid,
                                           surface_exchange_profile)

L = 3.5e-3  # 3.5 mm sample


def _cell_centres(n, a=0.0, b=L):
    return a + (np.arange(n) + 0.5) * (b - a) / n


def test_erfc_profile_is_eqn4_and_flat_below_meniscus():
    x = np.array([0.0, 100e-6, 150e-6, 700e-6])
    c = erfc_profile(x, c_s=0.9, c_0=0.1, x0=150e-6, d=1e-12, t=1e5)
    # 2 sqrt(D t) = 2 sqrt(1e-7) m = 632.5 um; at x - x0 = 550 um: erfc(0.8696...)
    assert c[0] == c[1] == c[2] == pytest.approx(0.9, abs=1e-15)
    assert c[3] == pytest.approx(0.1 + 0.8 * erfc(550e-6 / (2 * math.sqrt(1e-7))), rel=1e-14)


def test_surface_exchange_profile_limits_and_boundary_condition():
    d, t, cs, c0 = 8e-13, 3.96e5, 0.9, 0.08
    x = np.linspace(0, 2e-3, 201)
    # k -> infinity: plain erfc (h sqrt(Dt) = 1e6, erfcx tail ~ 1/(h sqrt(pi D t)))
    fast = surface_exchange_profile(x, c_s=cs, c_0=c0, x0=0.0, d=d, k=1e6 * d / math.sqrt(d * t), t=t)
    np.testing.assert_allclose(fast, erfc_profile(x, c_s=cs, c_0=c0, x0=0.0, d=d, t=t), atol=1e-6)
    # surface condition -D dC/dx(0) = k (Cs - C(0)), checked with a one-sided 4th-order difference
    k = d / math.sqrt(d * t)
    h = 1e-7
    xs = np.arange(5) * h
    cc = surface_exchange_profile(xs, c_s=cs, c_0=c0, x0=0.0, d=d, k=k, t=t)
    dcdx = (-25 * cc[0] + 48 * cc[1] - 36 * cc[2] + 16 * cc[3] - 3 * cc[4]) / (12 * h)
    assert -d * dcdx == pytest.approx(k * (cs - cc[0]), rel=1e-6)
    # no overflow for large h x (erfcx form): finite everywhere
    assert np.all(np.isfinite(surface_exchange_profile(x, c_s=cs, c_0=c0, x0=0.0, d=d, k=1e3 * k, t=t)))


def test_closed_series_conserves_total_tracer():
    # The k = 0 mode is never damped, and the midpoint rule sums cos(k pi (j + 1/2)/N) to zero for
    # 0 < k < 2N, so the cell-centred total must be unchanged to rounding (~1e-16 relative).
    x0 = 150e-6
    series = CosineSeries.from_function(lambda x: erfc_profile(x, c_s=0.9, c_0=0.0759, x0=x0, d=8e-13, t=3.96e5),
                                        0.0, L, breakpoints=[x0])
    xc = _cell_centres(8192)
    total0 = series.coefficients(1)[0] * L
    for tau in (1e-9, 3.6e-7, 1.1e-6, 1e-4):
        total = series.evaluate(xc, tau).sum() * L / xc.size
        assert abs(total - total0) / total0 < 1e-12
    # at long times the profile is flat at the mean
    np.testing.assert_allclose(series.evaluate(xc, 1.0), series.mean, rtol=1e-12)


def test_grid_propagator_conserves_and_matches_series():
    xc = _cell_centres(4096)
    rng = np.random.default_rng(3)
    values = np.clip(0.5 + 0.1 * rng.standard_normal(xc.size), 0, 1)  # rough data: worst case
    out = propagate_grid(values, L, 2e-8)
    assert abs(out.sum() - values.sum()) / values.sum() < 1e-12
    # smooth data: grid DCT and the exact series agree (both spectral)
    f = lambda x: 0.3 + 0.2 * np.cos(np.pi * x / L) + 0.05 * np.cos(3 * np.pi * x / L)  # noqa: E731
    tau = 5e-8
    exact = 0.3 + 0.2 * np.cos(np.pi * xc / L) * np.exp(-(np.pi / L) ** 2 * tau) \
        + 0.05 * np.cos(3 * np.pi * xc / L) * np.exp(-(3 * np.pi / L) ** 2 * tau)
    np.testing.assert_allclose(propagate_grid(f(xc), L, tau), exact, atol=1e-13)
    np.testing.assert_allclose(CosineSeries.from_function(f, 0, L).evaluate(xc, tau), exact, atol=1e-13)


@pytest.mark.parametrize("tau", [1e-10, 1e-8, 2e-7])
def test_step_in_long_closed_sample_spreads_as_half_erfc(tau):
    # Semi-infinite limit: a step at xs far (> 10 sqrt(tau)) from both no-flux ends evolves as
    # C = C0 + (Cs - C0) erfc((x - xs)/(2 sqrt(tau)))/2 (images contribute < erfc(10) ~ 2e-45).
    a, b, xs = 0.0, 20e-3, 10e-3
    series = CosineSeries.from_function(lambda x: np.where(x < xs, 0.9, 0.1), a, b, breakpoints=[xs])
    x = np.linspace(xs - 6 * math.sqrt(tau), xs + 6 * math.sqrt(tau), 301)
    expect = 0.1 + 0.8 * 0.5 * erfc((x - xs) / (2 * math.sqrt(tau)))
    np.testing.assert_allclose(series.evaluate(x, tau), expect, atol=1e-12)


def test_series_from_samples_is_exact_for_piecewise_linear_data():
    # A tent is piecewise linear: its cosine coefficients by quadrature (breakpoints at the kinks)
    # must equal the closed-form integration of from_samples.
    xs = np.array([0.5e-3, 1.0e-3, 2.0e-3, 3.0e-3])
    cs = np.array([0.2, 0.8, 0.4, 0.1])
    sampled = CosineSeries.from_samples(xs, cs, 0.0, L)
    quad = CosineSeries.from_function(lambda x: np.interp(x, xs, cs), 0.0, L, breakpoints=xs)
    np.testing.assert_allclose(sampled.coefficients(300), quad.coefficients(300), atol=1e-13)
    x = np.linspace(0, L, 50)
    np.testing.assert_allclose(sampled.evaluate(x, 1e-9), quad.evaluate(x, 1e-9), atol=1e-12)


def test_series_refuses_bad_extent_and_negative_tau():
    with pytest.raises(InputError, match="outside the sample"):
        CosineSeries.from_samples(np.array([0.0, 5e-3]), np.array([0.1, 0.2]), 0.0, L)
    with pytest.raises(InputError, match="tau"):
        CosineSeries.from_function(lambda x: x * 0, 0.0, L).evaluate([0.0], -1.0)


def test_finite_exchange_profile_limits_and_boundary_conditions():
    from tracerdiff.profiles.solutions import finite_exchange_profile

    kw = dict(c_s=0.9, c_0=0.0759, x0=150e-6, d=8e-13, t=3.96e5)
    x = np.linspace(0, 3.5e-3, 700)
    # far end 20 mm away (> 30 sqrt(D t)): the semi-infinite erfc to rounding
    np.testing.assert_allclose(finite_exchange_profile(x, end=20e-3, **kw), erfc_profile(x, **kw), atol=1e-14)
    # short sample: C(x0) = Cs and zero slope at the closed end (central difference, O(h^2) ~ 1e-10)
    end, h = 1.2e-3, 1e-7
    c = lambda xx: finite_exchange_profile(np.atleast_1d(xx), end=end, **kw)  # noqa: E731
    assert c(150e-6)[0] == pytest.approx(0.9, abs=1e-12)
    slope_end = (c(end)[0] - c(end - h)[0]) / h
    slope_mid = (c(600e-6 + h)[0] - c(600e-6 - h)[0]) / (2 * h)
    assert abs(slope_end) < 1e-3 * abs(slope_mid)
    # the closed end holds back tracer: C there exceeds the semi-infinite value
    assert c(end)[0] > erfc_profile(np.array([end]), **kw)[0]


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(0.0, 1.0), min_size=5, max_size=40),
       log_tau=st.floats(-9.0, -5.0), seed=st.integers(0, 2**16))
def test_property_closed_evolution_conserves_and_obeys_maximum_principle(values, log_tau, seed):
    # Any piecewise-linear initial profile on a 3.5 mm sample: total conserved (midpoint sums, see
    # above) and, since sqrt(tau) >= 32 um spans many modes' damping, C stays within the initial range
    # (up to the e^-40 truncation and 1e-12 rounding).
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, L, len(values)))
    x = np.unique(x)
    c = np.asarray(values[:x.size])
    series = CosineSeries.from_samples(x, c, 0.0, L)
    xc = _cell_centres(4096)
    tau = 10.0 ** log_tau
    out = series.evaluate(xc, tau)
    assert abs(out.mean() - series.mean) <= 1e-12 * max(series.mean, 1e-3)
    assert out.min() >= c.min() - 1e-9 and out.max() <= c.max() + 1e-9
