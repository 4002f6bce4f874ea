"""Uncertainty bookkeeping, edge cases and bad input of the analytic models (hand-derivable numbers)."""

import json
import math

import matplotlib
import numpy as np
import pytest
from scipy import integrate, stats

from tracerdiff.errors import FitError, InputError
from tracerdiff.models import (as_measured, cryo_validity, cryo_validity_from_fit, dgb_over_delta_from_series,
                               dgb_over_delta_from_step, fit_arrhenius, haven_ratio, haven_ratio_from_prefactors,
                               maxwell_garnett_effective_diffusivity, series_effective_diffusivity, series_regime)
from tracerdiff.models.arrhenius import EV, KB
from tracerdiff.quantity import Measured

matplotlib.use("Agg")


def test_gb_step_first_order_propagation_matches_hand_formula():
    # relative errors add in quadrature for a product/quotient: sqrt(0.1^2 + 0.2^2 + 0.05^2)
    r = dgb_over_delta_from_step(Measured(2e-12, 0.2e-12, "diffusivity"), Measured(100.0, 20.0, "gradient"),
                                 Measured(0.02, 0.001, "dimensionless"),
                                 thickness=Measured(5e-10, 0.0, "length"))
    assert r.dgb_over_delta.value == pytest.approx(2e-12 * 100 / 0.02, rel=1e-12)
    assert r.dgb_over_delta.relative_stderr == pytest.approx(math.sqrt(0.01 + 0.04 + 0.0025), rel=1e-9)
    assert r.dgb.value == pytest.approx(1e-8 * 5e-10, rel=1e-12)
    assert r.dgb.relative_stderr == pytest.approx(r.dgb_over_delta.relative_stderr, rel=1e-12)
    d = r.to_dict()
    assert d["dgb_over_delta"]["unit"] == "cm/s" and d["dgb"]["unit"] == "cm^2/s"
    json.dumps(d)


def test_gb_step_sign_convention():
    # both negative (tracer moving towards +y) is the same boundary as both positive magnitudes
    a = dgb_over_delta_from_step("2.6e-8 cm^2/s", "-1.1 1/cm", -0.02)
    b = dgb_over_delta_from_step("2.6e-8 cm^2/s", "1.1 1/cm", 0.02)
    assert a.dgb_over_delta.value == pytest.approx(b.dgb_over_delta.value, rel=1e-15) and a.dgb is None
    with pytest.raises(InputError, match="opposite signs"):
        dgb_over_delta_from_step("2.6e-8 cm^2/s", "-1.1 1/cm", 0.02)


@pytest.mark.parametrize("kwargs, match", [
    (dict(d_bulk="-2.6e-8 cm^2/s", gradient="1 1/cm", step=0.02), "d_bulk: must be positive"),
    (dict(d_bulk="2.6e-8 cm^2/s", gradient="1 1/cm", step=0.0), "step: .*zero"),
    (dict(d_bulk="2.6e-8 cm^2/s", gradient="0 1/cm", step=0.02), "gradient: .*zero"),
    (dict(d_bulk="2.6e-8 cm/s", gradient="1 1/cm", step=0.02), "not a diffusivity"),
    (dict(d_bulk=Measured(1.0, 0.0, "length"), gradient="1 1/cm", step=0.02), "expected a diffusivity"),
    (dict(d_bulk="2.6e-8 cm^2/s", gradient="1 1/cm", step=0.02, thickness="0 nm"), "thickness"),
])
def test_gb_step_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        dgb_over_delta_from_step(**kwargs)


def test_as_measured_coercions():
    assert as_measured(2.5e-12, "diffusivity").value == 2.5e-12  # bare numbers are SI
    assert as_measured("2.5e-8 cm^2/s", "diffusivity").value == pytest.approx(2.5e-12, rel=1e-12)
    with pytest.raises(InputError, match="not finite"):
        as_measured(float("inf"), "diffusivity", name="x")


def test_series_monte_carlo_for_the_paper_grain_size_spread():
    l = Measured(16e-6, 11e-6, "length")
    lin = series_effective_diffusivity("2.8e-8 cm^2/s", "1.5e-6 cm/s", l)
    mc = series_effective_diffusivity("2.8e-8 cm^2/s", "1.5e-6 cm/s", l, method="montecarlo", seed=1)
    mc2 = series_effective_diffusivity("2.8e-8 cm^2/s", "1.5e-6 cm/s", l, method="montecarlo", seed=1)
    d = mc.distribution
    assert mc == mc2  # seeded: reproducible
    assert mc.d_eff.value == lin.d_eff.value  # same point estimate in both methods
    assert d.p16.value < d.median.value < d.p84.value < 2.8e-12
    # D*eff saturates at D*bulk for large grains: the distribution is skewed left of the point value
    assert d.median.value < lin.d_eff.value
    # the log-normal grain sizes have mean 16 um: mean D*eff is near (within 10 %) the point value
    assert d.mean.value == pytest.approx(lin.d_eff.value, rel=0.1)
    assert d.n_samples == 200_000 and d.n_rejected == 0
    json.dumps(mc.to_dict())


def test_series_exact_thickness_form_and_bad_method():
    r = series_effective_diffusivity(1e-12, 1e-8, 1e-5, thickness=1e-9)
    assert r.d_eff.value == pytest.approx((1e-5 + 1e-9) / (1e-5 / 1e-12 + 1e-9 / (1e-8 * 1e-9)), rel=1e-12)
    with pytest.raises(InputError, match="method"):
        series_effective_diffusivity(1e-12, 1e-8, 1e-5, method="bootstrap")
    with pytest.raises(InputError, match="grain_size"):
        series_effective_diffusivity(1e-12, 1e-8, -1e-5)


def test_series_inverse_needs_deff_below_dbulk_and_counts_rejections():
    with pytest.raises(InputError, match="smaller than D\\*bulk"):
        dgb_over_delta_from_series("3e-8 cm^2/s", "2.8e-8 cm^2/s", "16 um")
    deff = Measured(2.5e-12, 0.5e-12, "diffusivity")  # 20 % error near D*bulk: some samples exceed it
    r = dgb_over_delta_from_series(deff, "2.8e-8 cm^2/s", "16 um", method="montecarlo", n_samples=10_000)
    assert r.distribution.n_rejected > 0
    assert r.distribution.n_samples + r.distribution.n_rejected == 10_000


def test_arrhenius_two_points_weighted_stderr_by_hand():
    # two points: exact interpolation; sd(Ea) = kB sqrt(s1^2 + s2^2) / |1/T1 - 1/T2| (s = relative errors)
    t = np.array([300.0, 400.0])
    d = 1e-6 * np.exp(-0.5 * EV / (KB * t))
    fit = fit_arrhenius(t, d, np.array([0.1, 0.2]) * d)
    assert fit.dof == 0 and fit.stderr_source == "given stderr (absolute)"
    expect = KB * math.sqrt(0.1**2 + 0.2**2) / (1 / 300 - 1 / 400)
    assert fit.activation_energy.stderr == pytest.approx(expect, rel=1e-9)


def test_arrhenius_two_points_unweighted_has_unknown_stderr():
    t = np.array([300.0, 400.0])
    fit = fit_arrhenius(t, 1e-6 * np.exp(-0.5 * EV / (KB * t)))
    assert math.isnan(fit.activation_energy.stderr) and math.isnan(fit.prefactor.stderr)
    assert fit.stderr_source.startswith("unknown")
    d = fit.to_dict()
    assert d["activation_energy"]["stderr"] is None and d["covariance"]["matrix"][0][0] is None
    assert d["activation_energy"]["value"] == pytest.approx(0.5, rel=1e-9)
    json.dumps(d)


def test_arrhenius_unweighted_matches_linregress():
    rng = np.random.default_rng(3)
    t = np.linspace(280, 600, 8)
    d = 1e-5 * np.exp(-0.4 * EV / (KB * t)) * np.exp(rng.normal(0, 0.1, t.size))
    fit = fit_arrhenius(t, d)
    ref = stats.linregress(1 / t, np.log(d))
    assert fit.activation_energy.value == pytest.approx(-ref.slope * KB, rel=1e-9)
    assert fit.activation_energy.stderr == pytest.approx(ref.stderr * KB, rel=1e-9)
    assert math.log(fit.prefactor.value) == pytest.approx(ref.intercept, rel=1e-9)
    assert fit.prefactor.stderr == pytest.approx(fit.prefactor.value * ref.intercept_stderr, rel=1e-9)
    assert fit.covariance[0][1] > 0  # ln D0 and Ea are positively correlated for 1/T > 0


def test_arrhenius_prediction_and_confidence_band():
    t = np.array([300.0, 350.0, 400.0, 450.0])
    d = 1e-5 * np.exp(-0.4 * EV / (KB * t))
    fit = fit_arrhenius(t, d, 0.1 * d)
    c, lo, hi = fit.confidence_band(np.array([163.15, 375.0]), level=0.95)
    p = fit.predict(163.15)
    assert c[0] == pytest.approx(p.value, rel=1e-12)
    # normal quantile (errors absolute): band half-width in ln D is 1.96 sd(ln D)
    assert math.log(hi[0] / c[0]) == pytest.approx(1.959964 * p.stderr / p.value, rel=1e-6)
    assert lo[1] < c[1] < hi[1]
    # extrapolation is less certain than interpolation
    assert math.log(hi[0] / lo[0]) > math.log(hi[1] / lo[1])
    with pytest.raises(InputError, match="level"):
        fit.confidence_band([300.0], level=1.5)


def test_arrhenius_bad_input():
    with pytest.raises(FitError, match="at least 2"):
        fit_arrhenius([300.0], [1e-12])
    with pytest.raises(FitError, match="all temperatures are equal"):
        fit_arrhenius([300.0, 300.0], [1e-12, 2e-12])
    with pytest.raises(InputError, match="> 0"):
        fit_arrhenius([300.0, 400.0], [1e-12, -1e-12])
    with pytest.raises(InputError, match="standard errors"):
        fit_arrhenius([300.0, 400.0], [1e-12, 2e-12], [0.0, 1e-13])
    with pytest.raises(InputError, match="dimension"):
        fit_arrhenius([300.0, 400.0], [1e-12, 2e-12], dimension="furlong")


def test_arrhenius_generic_dimension_and_plot():
    from matplotlib.figure import Figure
    t = np.array([300.0, 400.0, 500.0])
    fit = fit_arrhenius(t, 1e-8 * np.exp(-0.3 * EV / (KB * t)), name="k*", dimension="conductance")
    assert fit.prefactor.dimension == "conductance" and fit.to_dict()["prefactor"]["unit"] == "cm/s"
    ax = Figure().add_subplot()
    fit.plot(ax)
    assert ax.get_yscale() == "log" and len(ax.lines) >= 2


def test_haven_pointwise_and_bad_combinations():
    h = haven_ratio(Measured(1e-12, 1e-13, "diffusivity"), Measured(4e-12, 0.0, "diffusivity"))
    assert h.value == pytest.approx(0.25) and h.relative_stderr == pytest.approx(0.1)
    t = np.array([300.0, 400.0, 500.0])
    fit = fit_arrhenius(t, np.exp(-1000 / t))
    with pytest.raises(InputError, match="not one of each"):
        haven_ratio_from_prefactors(fit, "0.2 cm^2/s")
    sep = haven_ratio_from_prefactors(fit, fit, shared_activation_energy=False)
    assert sep.method == "separate_fits" and sep.haven_ratio.value == pytest.approx(1.0)


def test_cryo_validity_invalid_case_and_from_fit():
    r = cryo_validity("1e-9 cm^2/s", "5 h", "1 um")  # sqrt(2e-13 m^2/s * 18000 s) = 60 um
    assert not r.valid and r.diffusion_length.to("um")[0] == pytest.approx(60.0, rel=1e-9)
    t = np.array([295.15, 473.15])
    fit = fit_arrhenius(t, 1e-4 * np.exp(-0.43 * EV / (KB * t)))
    via_fit = cryo_validity_from_fit(fit, "-110 degC", "5 h", "1 um")
    assert via_fit.d.value == pytest.approx(1e-4 * math.exp(-0.43 * EV / (KB * 163.15)), rel=1e-9)


def test_regime_check_reports_reasons():
    # D*gb = 1 cm/s * 0.5 nm = 5e-8 cm^2/s > D*bulk; sqrt(1e-10 cm^2/s * 1 h) = 6 um < 10 l
    r = series_regime("1e-8 cm^2/s", "1 cm/s", "16 um", thickness="0.5 nm", d_eff="1e-10 cm^2/s", exchange_time="1 h")
    assert not r.ok
    assert r.flags == {"slow_boundaries": False, "thin_boundaries": True, "long_range": False}
    assert len(r.reasons) == 2 and "not slow" in r.reasons[0]
    bare = series_regime("1e-8 cm^2/s", "1e-6 cm/s", "16 um")
    assert not bare.ok and bare.flags == {} and len(bare.reasons) == 2


def test_maxwell_garnett_bad_input():
    with pytest.raises(InputError, match="matrix"):
        maxwell_garnett_effective_diffusivity(1e-12, 1e-16, 1e-5, 1e-9, matrix="foam")
    with pytest.raises(InputError, match="dimensions"):
        maxwell_garnett_effective_diffusivity(1e-12, 1e-16, 1e-5, 1e-9, dimensions=1)


def test_unknown_stderr_propagates_as_unknown():
    r = dgb_over_delta_from_step(Measured(2e-12, math.nan, "diffusivity"), "1 1/cm", 0.02)
    assert math.isnan(r.dgb_over_delta.stderr) and r.to_dict()["dgb_over_delta"]["stderr"] is None


def test_predict_accepts_text_temperature():
    t = np.array([300.0, 400.0, 500.0])
    fit = fit_arrhenius(t, 1e-6 * np.exp(-0.5 * EV / (KB * t)))
    assert fit.predict("-110 degC").value == pytest.approx(fit.predict(163.15).value, rel=1e-12)


def test_monte_carlo_refuses_bad_seed_and_sample_count():
    # numpy's default_rng raised a bare ValueError for negative seeds; 1e11 samples would exhaust memory
    args = ("2.8e-8 cm^2/s", "1.5e-6 cm/s", "16 um")
    with pytest.raises(InputError, match="seed"):
        series_effective_diffusivity(*args, method="montecarlo", seed=-1)
    with pytest.raises(InputError, match="n_samples"):
        series_effective_diffusivity(*args, method="montecarlo", n_samples=10**11)
    # the linear method ignores the Monte Carlo options
    assert series_effective_diffusivity(*args, seed=-1).method == "linear"


def test_gb_step_refuses_an_overflowing_result():
    with pytest.raises(InputError, match="overflows"):
        dgb_over_delta_from_step("2.6e-8 cm^2/s", "1.1 1/cm", 1e-320)


def test_monte_carlo_mean_matches_the_lognormal_expectation_and_jensen():
    # Stronger than "mean within 10 % of the point value": the expectation of
    # D*eff(l) = 1/(1/Db + 1/(l g)) over the log-normal l (mean 16 um, sd 11 um) is a 1D integral;
    # the sample mean must match it to 5 standard errors of a mean (sd/sqrt(n) ~ 0.13 % here).
    # D*eff is concave in l, so by Jensen the mean lies strictly below D*eff(mean l).
    db, g, n = 2.8e-12, 1.5e-8, 200_000
    mc = series_effective_diffusivity(db, g, Measured(16e-6, 11e-6, "length"), method="montecarlo", seed=3,
                                      n_samples=n)
    s2 = math.log1p((11.0 / 16.0) ** 2)  # log-normal with mean 16 um and sd 11 um
    mu, s = math.log(16e-6) - s2 / 2, math.sqrt(s2)
    # integrate over the standard-normal variable z (l = exp(mu + s z)): well scaled for quad,
    # unlike lognorm.expect with a 1e-5 m scale
    expect, _ = integrate.quad(lambda z: stats.norm.pdf(z) / (1.0 / db + 1.0 / (math.exp(mu + s * z) * g)),
                               -12, 12, epsabs=0, epsrel=1e-12)
    d = mc.distribution
    assert d.mean.value == pytest.approx(expect, abs=5 * d.sd.value / math.sqrt(n))
    assert d.mean.value < mc.d_eff.value and expect < mc.d_eff.value
