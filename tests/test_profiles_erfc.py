"""erfc (eqn 4) and surface-exchange fits of exchange profiles against known truth."""

import math
import tomllib
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from tracerdiff.errors import FitError, InputError
from tracerdiff.profiles import fit_erfc
from tracerdiff.profiles.load import profile_from_fraction
from tracerdiff.profiles.solutions import erfc_profile, surface_exchange_profile
from tracerdiff.profiles.synthetic import counts_profile

matplotlib.use("Agg")

# Fig. 4a: 110 h in 6LiNO3, D*eff = 8.0e-9 cm^2/s; 700 points over 3.5 mm.
PAPER = tomllib.loads((Path(__file__).parent / "data" / "paper_values.toml").read_text())
T_EX = 110 * 3600.0
D_TRUE = PAPER["erfc_fit"]["expect_deff_cm2_s"] * 1e-4  # m^2/s
X0 = 150e-6
X = np.linspace(0.0, 3.5e-3, 700)
TRUTH = dict(c_s=0.9, c_0=0.0759, x0=X0)


def test_noise_free_profile_recovers_parameters_to_1e6():
    ds = counts_profile(X, erfc_profile(X, d=D_TRUE, t=T_EX, **TRUTH))
    r = fit_erfc(ds, T_EX, conf_int=False)
    assert r.d_eff.value == pytest.approx(D_TRUE, rel=1e-6)
    assert r.x0.value == pytest.approx(X0, abs=1e-9)
    assert r.c_s.value == pytest.approx(0.9, rel=1e-6) and r.c_0.value == pytest.approx(0.0759, rel=1e-6)


def test_counting_noise_d_within_5_percent_and_x0_within_20_um():
    ds = counts_profile(X, erfc_profile(X, d=D_TRUE, t=T_EX, **TRUTH), total_counts=10000,
                        rng=np.random.default_rng(0))
    r = fit_erfc(ds, T_EX)
    # With 1e4 counts per point the fit's own errors are ~0.7 % on D and ~8 um on x0 (20 seeds:
    # sd 0.7 % and 6.8 um, worst 2.1 % and 18.5 um), so +-5 % is ~7 sigma and 20 um ~2.5 sigma.
    assert r.d_eff.stderr / r.d_eff.value < 0.015 and r.x0.stderr < 10e-6
    assert abs(r.d_eff.value / D_TRUE - 1) < 0.05
    assert abs(r.x0.value - X0) < 20e-6
    # weights are the counting errors, so chi2_red ~ 1 (sd sqrt(2/nu) ~ 0.055; 0.25 is > 4 sd)
    assert abs(r.chi2_red - 1) < 0.25
    lo, hi = r.d_eff_ci95
    assert lo < r.d_eff.value < hi and lo < D_TRUE < hi
    # With x0 free the x0-Cs trade-off makes the profile likelihood asymmetric (narrower than the
    # linearised +-1.96 sd); with x0 fixed the model is nearly linear in D and the two agree.
    fixed = fit_erfc(ds, T_EX, fix_x0=X0)
    lo, hi = fixed.d_eff_ci95
    assert (hi - lo) / (2 * 1.96 * fixed.d_eff.stderr) == pytest.approx(1.0, rel=0.02)


def test_fixed_meniscus_and_fractions():
    ds = counts_profile(X, erfc_profile(X, d=D_TRUE, t=T_EX, **TRUTH), rng=np.random.default_rng(1))
    r = fit_erfc(ds, T_EX, fix_x0=X0, fix_c_0=0.0759)
    assert r.x0.value == X0 and r.x0.stderr == 0 and r.c_0.stderr == 0
    assert abs(r.d_eff.value / D_TRUE - 1) < 0.03  # fit stderr ~0.4 % here; 3 % is > 5 sd
    d = r.to_dict()
    assert set(d) >= {"d_eff", "c_s", "c_0", "x0", "chi2_red"}
    assert d["d_eff"]["unit"] == "cm^2/s" and d["d_eff"]["value"] == pytest.approx(8.0e-9, rel=0.03)
    assert d["x0"]["unit"] == "um" and d["x0"]["value"] == pytest.approx(150.0)


def test_unweighted_fraction_profile():
    # C given without errors: unweighted fit, errors from the residual scatter.
    rng = np.random.default_rng(2)
    c = erfc_profile(X, d=D_TRUE, t=T_EX, **TRUTH) + 0.005 * rng.standard_normal(X.size)
    r = fit_erfc(profile_from_fraction(X * 1e6, np.clip(c, 0, 1)), T_EX)
    assert abs(r.d_eff.value / D_TRUE - 1) < 0.05  # stderr ~1 %
    # chi2_red of an unweighted fit is the residual variance: 0.005^2
    assert r.chi2_red == pytest.approx(0.005 ** 2, rel=0.2)


def test_surface_exchange_limited_profile_recovers_k_and_d():
    # Intermediate regime h sqrt(D t) = 1 (surface and diffusion resistances equal); surface at x0 = 0
    # and known, as in a depth profile; Cs (the solution's fraction) free.
    k = D_TRUE / math.sqrt(D_TRUE * T_EX)
    c = surface_exchange_profile(X, c_s=0.9, c_0=0.0759, x0=0.0, d=D_TRUE, k=k, t=T_EX)
    exact = fit_erfc(counts_profile(X, c), T_EX, surface_exchange=True, fix_x0=0.0, conf_int=False)
    assert exact.d_eff.value == pytest.approx(D_TRUE, rel=1e-6)
    assert exact.k_star.value == pytest.approx(k, rel=1e-6)
    noisy = fit_erfc(counts_profile(X, c, total_counts=10000, rng=np.random.default_rng(4)), T_EX,
                     surface_exchange=True, fix_x0=0.0)
    # fit stderr here ~2 % (D) and ~4 % (k); 10 % and 20 % are > 4 sd
    assert abs(noisy.d_eff.value / D_TRUE - 1) < 0.10
    assert abs(noisy.k_star.value / k - 1) < 0.20
    assert noisy.to_dict()["k_star"]["unit"] == "cm/s"


def test_back_exchange_profile_with_cs_below_c0():
    # Depletion (natural-abundance solution on an enriched sample): Cs < C0, same law.
    c = erfc_profile(X, c_s=0.0759, c_0=0.6, x0=X0, d=D_TRUE, t=T_EX)
    r = fit_erfc(counts_profile(X, c), T_EX, conf_int=False)
    assert r.d_eff.value == pytest.approx(D_TRUE, rel=1e-6) and r.c_s.value == pytest.approx(0.0759, rel=1e-6)


def test_flat_profile_is_a_fit_error():
    with pytest.raises(FitError, match="flat"):
        fit_erfc(profile_from_fraction(X * 1e6, np.full(X.size, 0.0759)), T_EX)


def test_plot_draws_data_fit_and_residuals():
    from matplotlib.figure import Figure

    r = fit_erfc(counts_profile(X, erfc_profile(X, d=D_TRUE, t=T_EX, **TRUTH), rng=np.random.default_rng(5)),
                 T_EX, conf_int=False)
    fig = Figure()
    ax = r.plot(fig.add_subplot())
    ax_res = fig.axes[-1]  # the residual panel appended below ax
    assert ax_res is not ax
    assert len(ax.lines) >= 3 and len(ax_res.lines) >= 2  # excluded points, data, fit; residuals + zero line


def test_bad_inputs():
    ds = counts_profile(X, erfc_profile(X, d=D_TRUE, t=T_EX, **TRUTH))
    with pytest.raises(InputError, match="exchange_time: must be positive"):
        fit_erfc(ds, -1.0)
    with pytest.raises(InputError, match="exchange_time"):
        fit_erfc(ds, "3 m")  # a length is not a time
    with pytest.raises(InputError, match="only 2 points in the fit range"):
        fit_erfc(ds, T_EX, x_range=(0.0, 6e-6))


def test_exchange_time_as_text_or_measured_gives_the_same_fit():
    from tracerdiff.quantity import Measured

    ds = counts_profile(X, erfc_profile(X, d=D_TRUE, t=T_EX, **TRUTH))
    d_si = fit_erfc(ds, T_EX, conf_int=False).d_eff.value
    assert fit_erfc(ds, f"{T_EX / 3600} h", conf_int=False).d_eff.value == pytest.approx(d_si, rel=1e-9)
    assert fit_erfc(ds, Measured(T_EX, 0.0, "time"), conf_int=False).d_eff.value == d_si


def test_finite_sample_exchange_fit():
    # A 1.2 mm sample (~2 sqrt(D t) beyond the meniscus): the closed far end distorts the profile.
    from tracerdiff.profiles.solutions import finite_exchange_profile

    x = np.linspace(0, 1.2e-3, 300)
    c = finite_exchange_profile(x, c_s=0.9, c_0=0.0759, x0=X0, d=D_TRUE, t=T_EX, end=1.2e-3)
    ds = counts_profile(x, c)
    r = fit_erfc(ds, T_EX, sample_end=1.2e-3, conf_int=False)
    assert r.model == "finite_exchange" and r.d_eff.value == pytest.approx(D_TRUE, rel=1e-6)
    assert r.to_dict()["sample_end"]["value"] == pytest.approx(1200.0)
    # eqn 4 (semi-infinite) on the same data is biased by more than 5 %
    assert abs(fit_erfc(ds, T_EX, conf_int=False).d_eff.value / D_TRUE - 1) > 0.05
    with pytest.raises(InputError, match="before the last point"):
        fit_erfc(ds, T_EX, sample_end=1.0e-3)
