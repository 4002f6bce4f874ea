"""Property tests of the analytic models (hypothesis; Monte Carlo parts seeded)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracerdiff.models import (brick_layer_effective_diffusivity, conductivity_from_d_sigma,
                               d_sigma_from_conductivity, dgb_over_delta_from_series, fit_arrhenius,
                               maxwell_garnett_effective_diffusivity, series_effective_diffusivity)
from tracerdiff.models.arrhenius import EV, KB
from tracerdiff.quantity import Measured

log10 = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)  # noqa: E731


@given(db_exp=log10(-18, -8), ratio_exp=log10(-10, 10), l_exp=log10(-7, -3))
def test_series_deff_below_both_paths(db_exp, ratio_exp, l_exp):
    # D*eff is a harmonic combination: strictly below each path, and at least half the smaller one.
    # (ratio within 1e+-10 keeps the smaller term above float resolution, so "<" is strict.)
    db, l = 10.0 ** db_exp, 10.0 ** l_exp
    lg = db * 10.0 ** ratio_exp
    d = series_effective_diffusivity(db, lg / l, l).d_eff.value
    assert d < db
    assert d < lg
    assert d >= 0.5 * min(db, lg) * (1 - 1e-12)


@given(db_exp=log10(-16, -8), ratio_exp=log10(-6, -1), l_exp=log10(-7, -4))
def test_series_inverse_round_trip(db_exp, ratio_exp, l_exp):
    db, l = 10.0 ** db_exp, 10.0 ** l_exp
    g = db * 10.0 ** ratio_exp / l
    d = series_effective_diffusivity(db, g, l).d_eff
    back = dgb_over_delta_from_series(d, db, l).dgb_over_delta.value
    # cancellation in 1/D*eff - 1/D*bulk loses at most ~ (D*bulk/(l g)) ulps; ratio <= 1e6 -> 1e-9 is safe
    assert back == pytest.approx(g, rel=1e-8)


@settings(max_examples=50)
@given(ea_ev=log10(0.05, 2.0), d0_exp=log10(-10, 2),
       temps=st.lists(st.integers(150, 1500), min_size=2, max_size=10, unique=True),
       weighted=st.booleans())
def test_arrhenius_recovers_exact_parameters(ea_ev, d0_exp, temps, weighted):
    t = np.array(temps, dtype=float)
    d0 = 10.0 ** d0_exp
    d = d0 * np.exp(-ea_ev * EV / (KB * t))
    fit = fit_arrhenius(t, d, 0.1 * d if weighted else None)
    # ln D is exact to ~1e-16 relative; temperatures differ by >= 1 K, so the slope's conditioning
    # amplifies that by < 1e6: 1e-9 relative has a wide margin
    assert fit.activation_energy.value == pytest.approx(ea_ev * EV, rel=1e-9)
    assert fit.prefactor.value == pytest.approx(d0, rel=1e-9)
    assert fit.predict(float(t[0])).value == pytest.approx(d[0], rel=1e-9)


@given(sigma_exp=log10(-10, 2), t=st.floats(10, 2000), n_exp=log10(18, 30))
def test_nernst_einstein_round_trip(sigma_exp, t, n_exp):
    sigma = Measured(10.0 ** sigma_exp, 0.05 * 10.0 ** sigma_exp, "conductivity")
    n = 10.0 ** n_exp
    d = d_sigma_from_conductivity(sigma, t, n)
    back = conductivity_from_d_sigma(d, t, n)
    assert back.value == pytest.approx(sigma.value, rel=1e-12)
    assert back.stderr == pytest.approx(sigma.stderr, rel=1e-12)  # linear relation: relative error kept
    assert d.relative_stderr == pytest.approx(0.05, rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(db_exp=log10(-14, -10), ratio_exp=log10(-3, 3), rel=st.floats(0.002, 0.02), seed=st.integers(0, 2**32 - 1))
def test_first_order_matches_monte_carlo_for_small_errors(db_exp, ratio_exp, rel, seed):
    # With <= 2 % input errors the model is linear to O(rel^2) <= 4e-4 over the spread, so first-order
    # sd equals the true sd to well under 1 %. The MC sd of 50 000 samples has relative standard error
    # 1/sqrt(2 N) = 0.3 %; 3 % tolerance is > 5 such errors plus the nonlinearity.
    db, l = 10.0 ** db_exp, 16e-6
    g = db * 10.0 ** ratio_exp / l
    inputs = (Measured(db, rel * db, "diffusivity"), Measured(g, rel * g, "conductance"),
              Measured(l, rel * l, "length"))
    lin = series_effective_diffusivity(*inputs)
    mc = series_effective_diffusivity(*inputs, method="montecarlo", n_samples=50_000, seed=seed)
    assert mc.d_eff.stderr == pytest.approx(lin.d_eff.stderr, rel=0.03)
    assert mc.distribution.mean.value == pytest.approx(lin.d_eff.value, rel=0.01)


@given(db_exp=log10(-14, -8), gb_ratio_exp=log10(-8, -5), l_exp=log10(-6, -4), delta_exp=log10(-10, -8.5))
def test_brick_layer_and_maxwell_garnett_reduce_to_series_for_slow_thin_boundaries(db_exp, gb_ratio_exp, l_exp,
                                                                                   delta_exp):
    db, l, delta = 10.0 ** db_exp, 10.0 ** l_exp, 10.0 ** delta_exp
    dgb = db * 10.0 ** gb_ratio_exp
    series = series_effective_diffusivity(db, dgb / delta, l).d_eff.value
    brick = brick_layer_effective_diffusivity(db, dgb, l, delta).d_eff.value
    mg = maxwell_garnett_effective_diffusivity(db, dgb, l, delta).value
    # corrections are O(delta/l) <= 3e-3 and O(D*gb/D*bulk) <= 1e-5 (parallel path: 2 delta D*gb / l)
    assert brick == pytest.approx(series, rel=5e-3)
    assert mg == pytest.approx(series, rel=5e-3)


@given(db_exp=log10(-16, -12), gb_ratio_exp=log10(4, 8), l_exp=log10(-6, -4), delta_exp=log10(-10, -8.5),
       dims=st.sampled_from([2, 3]))
def test_brick_layer_fast_boundaries_add_parallel_path(db_exp, gb_ratio_exp, l_exp, delta_exp, dims):
    db, l, delta = 10.0 ** db_exp, 10.0 ** l_exp, 10.0 ** delta_exp
    dgb = db * 10.0 ** gb_ratio_exp
    r = brick_layer_effective_diffusivity(db, dgb, l, delta, dimensions=dims)
    a = l / (l + delta)
    assert r.parallel_path.value == pytest.approx((1 - a ** (dims - 1)) * dgb, rel=1e-9)
    assert r.d_eff.value > db  # fast boundaries only help
    assert r.d_eff.value < dgb
    # Maxwell-Garnett bounds: grains-in-boundary-matrix >= boundaries-in-bulk-matrix for fast boundaries
    lo = maxwell_garnett_effective_diffusivity(db, dgb, l, delta, dimensions=dims, matrix="bulk").value
    hi = maxwell_garnett_effective_diffusivity(db, dgb, l, delta, dimensions=dims, matrix="boundary").value
    assert lo <= hi * (1 + 1e-12)
    assert math.isfinite(lo) and lo >= db
