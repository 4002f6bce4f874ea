"""Every analysis result follows one protocol (tracerdiff.results.Result; ARCHITECTURE.md "Results").

Each result type is built here from a small seeded input and must give: JSON-serialisable
``to_dict()``, a ``to_dataframe()`` with units in ``attrs``, ``plot(ax=None)`` returning an Axes
(Agg), a ``repr`` under 2,000 characters and a ``_repr_html_`` that shows the headline value.
A second test walks the package and fails for a result class that has no builder here or does
not follow the protocol.

Inputs: erfc/closed-evolution profiles from tracerdiff.profiles.synthetic (rng seeds 5 and 13);
a binomial staircase image (seed 0, 80x120 px, boundaries every 16 px); a 40x48 um Voronoi map
(seed 5) diffused for 59 h at D = 1e-16 m^2/s; the bicrystal simulator at beta = 100; the impedance
circuit at fixed parameters; the paper's model inputs.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import pkgutil
import re
from functools import lru_cache

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import tracerdiff  # noqa: E402
from tracerdiff.quantity import Measured  # noqa: E402
from tracerdiff.results import Result  # noqa: E402

D_IMG, T_IMG = 1e-16, 59 * 3600.0
HOUR = 3600.0


# ----------------------------------------------------------------------------- inputs (cached)

@lru_cache(maxsize=None)
def _staircase():
    """Horizontal boundaries every 16 px, step 0.03, gradient 2e-4 /px, source at the bottom (seed 0)."""
    rng = np.random.default_rng(0)
    y = np.arange(80, dtype=float)[:, None] * np.ones((1, 120))
    c = 0.2 + 2e-4 * y + 0.03 * np.floor((y + 8) / 16)
    i6 = rng.binomial(20000, c)
    return i6, 20000 - i6


@lru_cache(maxsize=None)
def _polycrystal():
    from tracerdiff.simulate import ExchangeStep, simulate_history, voronoi_grains

    grains = voronoi_grains((40, 48), pixel_size_um=1.0, mean_grain_um=16, seed=5)
    sim = simulate_history(grains, ExchangeStep(T_IMG, d_bulk=D_IMG, dgb_over_delta=D_IMG / 2e-6,
                                                source_edge="bottom"), n_steps=10)
    return grains, sim


@lru_cache(maxsize=None)
def _erfc_fit():
    from tracerdiff.profiles import erfc_profile, fit_erfc
    from tracerdiff.profiles.synthetic import counts_profile

    x = np.linspace(0.0, 3.5e-3, 300)
    t = 110 * HOUR
    ds = counts_profile(x, erfc_profile(x, d=8e-13, t=t, c_s=0.9, c_0=0.0759, x0=150e-6),
                        rng=np.random.default_rng(5))
    return fit_erfc(ds, t, conf_int=False)


@lru_cache(maxsize=None)
def _evolution_fit():
    from tracerdiff.profiles import fit_closed_evolution
    from tracerdiff.profiles.synthetic import exchange_then_closed

    s = exchange_then_closed(d_exchange=8.0e-13, exchange_time=110 * HOUR, d_closed=3e-13,
                             times=(2 * 7 * 86400.0,), x=np.linspace(0.0, 3.5e-3, 300),
                             rng=np.random.default_rng(13))
    return fit_closed_evolution(s.initial, s.later, exchange_time=s.exchange_time, conf_int=False)


@lru_cache(maxsize=None)
def _bicrystal():
    from tracerdiff.simulate.bicrystal import simulate_bicrystal

    d, t, delta = 1e-16, 1e5, 0.5e-9
    return simulate_bicrystal(d_bulk=d, p=2 * 100 * d * math.sqrt(d * t) + delta * d, exchange_time=t, thickness=delta)


@lru_cache(maxsize=None)
def _arrhenius():
    from tracerdiff.models import fit_arrhenius

    t = np.array([295.0, 350.0, 400.0, 473.0])
    d = 4.8e-6 * np.exp(-0.43 * 1.602176634e-19 / (1.380649e-23 * t))
    return fit_arrhenius(t, d, 0.05 * d, name="D*eff")


def _boundary_analysis():
    from tracerdiff.boundaries import analyse_boundaries
    from tracerdiff.io import make_image

    i6, i7 = _staircase()
    return analyse_boundaries(make_image({"6Li": i6, "7Li": i7}, 1.0), d_bulk="2.6e-8 cm^2/s")


@lru_cache(maxsize=None)
def _inversion():
    from tracerdiff.inversion import invert_boundaries

    i6, i7 = _staircase()
    return invert_boundaries(i6 / (i6 + i7), d_bulk=2.6e-12, pixel_size_um=1.0, workers=1)


@lru_cache(maxsize=None)
def _optical():
    from tracerdiff.boundaries import optical_grain_map
    from tracerdiff.simulate import synthetic_micrograph

    grains, sim = _polycrystal()
    c = sim.c
    m = synthetic_micrograph(grains, seed=3)
    return optical_grain_map(m.image, c, np.full(c.shape, 0.01), np.ones(c.shape, bool))


def _impedance():
    from tracerdiff.models.impedance_fit import circuit_impedance, fit_impedance

    f = np.logspace(7, -1, 80)
    z = circuit_impedance(f, 2000.0, 1e-10, 0.95, 8000.0, 1e-7, 0.9)
    return fit_impedance(f, z, thickness=1e-3, area=1e-5)


def _isotope():
    import xarray as xr

    from tracerdiff.isotope import isotope_fraction

    rng = np.random.default_rng(1)
    coords = {"y": np.arange(6) * 0.5, "x": np.arange(8) * 0.5}
    i6 = xr.DataArray(rng.poisson(300, (6, 8)).astype(float), dims=("y", "x"), coords=coords)
    i7 = xr.DataArray(rng.poisson(2700, (6, 8)).astype(float), dims=("y", "x"), coords=coords)
    i6[0, 0] = i7[0, 0] = 0  # one pixel without counts
    return isotope_fraction(i6, i7)


def _leclaire():
    from tracerdiff.profiles.leclaire import TypeBOptions, fit_leclaire
    from tracerdiff.profiles.load import ProfileData

    r = _bicrystal()
    root = math.sqrt(1e-16 * 1e5)
    y = np.linspace(0.2 * root, r.y[-1] * 0.98, 150)
    c = np.exp(np.interp(y, r.y, np.log(r.c_mean)))
    return fit_leclaire(ProfileData(y, c, None, "sim"), 1e5, d_bulk=1e-16,
                        options=TypeBOptions(thickness=0.5e-9, grain_size=2 * r.params["half_width"]))


def _kind_fit():
    from tracerdiff.inversion.boundary_kind import fit_boundary_kind

    grains, sim = _polycrystal()
    c = sim.c + np.random.default_rng(0).normal(0, 0.01, sim.c.shape)
    return fit_boundary_kind(c, np.full(c.shape, 0.01), grains, d_bulk=D_IMG, exchange_time=T_IMG,
                             start=(D_IMG / 2e-6, 1e-24), n_steps=6, models=("slow", "fast"))


def _kind_check():
    from tracerdiff.boundaries.kind import boundary_ridge_check

    grains, sim = _polycrystal()
    return boundary_ridge_check(sim.c, np.ones(sim.c.shape, bool), grains.labels, (0.0, 1.0))


def _models():
    from tracerdiff import models as m

    series = m.series_effective_diffusivity("2.8e-8 cm^2/s", "1.5e-6 cm/s",
                                            Measured(16e-6, 4e-6, "length"), method="montecarlo",
                                            n_samples=2000, seed=1)
    return {
        "BrickLayerResult": m.brick_layer_effective_diffusivity("2.8e-8 cm^2/s", "3e-6 cm^2/s", "16 um", "0.5 nm"),
        "RegimeCheck": m.series_regime("8e-9 cm^2/s", "1.5e-6 cm/s", "16 um", thickness="0.5 nm",
                                       d_eff="2.6e-8 cm^2/s", exchange_time="110 h"),
        "CryoValidity": m.cryo_validity("1e-20 cm^2/s", "30 min", "1 um"),
        "GBStepResult": m.dgb_over_delta_from_step(Measured(2e-12, 0.2e-12, "diffusivity"),
                                                   Measured(100.0, 20.0, "gradient"), 0.03, thickness="0.5 nm"),
        "HavenResult": m.haven_ratio_from_prefactors("0.048 cm^2/s", "0.20 cm^2/s"),
        "SeriesResult": series,
        "MonteCarloSummary": series.distribution,
        "SeriesInverseResult": m.dgb_over_delta_from_series("2.6e-8 cm^2/s", "2.8e-8 cm^2/s", "16 um"),
    }


def _harrison():
    from tracerdiff.models.harrison import harrison_regime

    return harrison_regime("1e-16 m^2/s", "1e5 s", grain_size="10 um", p="1e-26 m^3/s")


def _series():
    from tracerdiff.profiles.arrhenius_points import DiffusivitySeries

    return DiffusivitySeries("D*eff").add(295.15, Measured(3e-13, 3e-14, "diffusivity"), label="storage") \
        .add(473.15, Measured(6.6e-10, 5e-11, "diffusivity"), label="anneal")


# name -> (builder, headline text the HTML must show)
BUILDERS = {
    "BoundaryAnalysis": (_boundary_analysis, lambda r: str(r.summary.median)),
    "BoundaryStep": (lambda: _boundary_analysis().accepted[0], lambda r: str(r.dgb_over_delta)),
    "BoundarySummary": (lambda: _boundary_analysis().summary, lambda r: str(r.median)),
    "PopulationEstimate": (lambda: _inversion().population, lambda r: str(r.median)),
    "OpticalRegistration": (lambda: _optical().registration, lambda r: f"{r.correlation:.3f}"),
    "OpticalGrainMap": (_optical, lambda r: str(len(np.unique(r.labels[r.labels > 0])))),
    "BoundaryKindCheck": (_kind_check, lambda r: str(r.fast)),
    "KindFit": (_kind_fit, lambda r: r.kind),
    "IsotopeFraction": (_isotope, lambda r: f"{float(r.value.mean()):.4g}"),
    "ArrheniusFit": (_arrhenius, lambda r: str(r.activation_energy)),
    "BrickLayerResult": (lambda: _models()["BrickLayerResult"], lambda r: str(r.d_eff)),
    "RegimeCheck": (lambda: _models()["RegimeCheck"], lambda r: str(r.ok)),
    "CryoValidity": (lambda: _models()["CryoValidity"], lambda r: str(r.diffusion_length)),
    "GBStepResult": (lambda: _models()["GBStepResult"], lambda r: str(r.dgb_over_delta)),
    "HarrisonRegime": (_harrison, lambda r: r.regime),
    "HavenResult": (lambda: _models()["HavenResult"], lambda r: str(r.haven_ratio)),
    "ImpedanceFit": (_impedance, lambda r: str(r.sigma_bulk)),
    "SeriesResult": (lambda: _models()["SeriesResult"], lambda r: str(r.d_eff)),
    "SeriesInverseResult": (lambda: _models()["SeriesInverseResult"], lambda r: str(r.dgb_over_delta)),
    "MonteCarloSummary": (lambda: _models()["MonteCarloSummary"], lambda r: str(r.mean)),
    "ErfcFit": (_erfc_fit, lambda r: str(r.d_eff)),
    "EvolutionFit": (_evolution_fit, lambda r: str(r.d_eff)),
    "LeClaireResult": (_leclaire, lambda r: str(r.p)),
    "DiffusivitySeries": (_series, lambda r: str(len(r.points))),
    "SeriesPoint": (lambda: _series().points[0], lambda r: str(r.value)),
    "SimulationResult": (lambda: _polycrystal()[1], lambda r: f"{float(np.mean(r.c)):.4g}"),
    "BicrystalResult": (_bicrystal, lambda r: f"{float(np.mean(r.c_mean)):.4g}"),
}


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = BUILDERS[name][0]()
        return cache[name]
    return get


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_result_follows_the_protocol(name, built):
    from matplotlib.axes import Axes

    result = built(name)
    assert type(result).__name__ == name and isinstance(result, Result)
    # to_dict: JSON, and numbers survive (not everything null)
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert re.search(r"\d", text)
    # to_dataframe: a table with a unit (possibly "") for every column
    df = result.to_dataframe()
    assert len(df) >= 1 and len(df.columns) >= 1
    assert set(df.attrs["units"]) == set(df.columns)
    # plot(ax=None): a new figure's axes with something drawn on it
    ax = result.plot()
    assert isinstance(ax, Axes)
    assert ax.has_data() or ax.tables or ax.texts or ax.images or ax.collections
    # the same axes come back when given
    ax2 = type(ax.figure)().add_subplot()
    assert result.plot(ax2) is ax2
    # short repr and HTML with the headline value
    r = repr(result)
    assert r.startswith(f"<{name}>") and len(r) < 2000 and r.count("\n") < 20
    html = result._repr_html_()
    headline = BUILDERS[name][1](result)
    assert headline and headline in html and len(html) < 4000


def test_measured_columns_are_in_display_units(built):
    # ErfcFit.d_eff is SI inside (m^2/s) and cm^2/s in both to_dict and to_dataframe.
    fit = built("ErfcFit")
    row = fit.to_dataframe()
    assert row.attrs["units"]["C"] == "" and row.attrs["units"]["x"] == "µm"
    summary = built("BoundarySummary").to_dataframe()
    assert summary.attrs["units"]["median"] == "cm/s"
    assert summary["median"].iloc[0] == pytest.approx(built("BoundarySummary").median.value * 100, rel=1e-12)
    steps = built("BoundaryAnalysis").to_dataframe()
    assert len(steps) == len(built("BoundaryAnalysis").boundaries)
    assert steps.attrs["units"]["dgb_over_delta"] == "cm/s" and steps.attrs["units"]["x_um"] == "µm"


def test_population_median_is_si_and_json_is_cm_per_s(built):
    pop = built("PopulationEstimate")
    assert pop.median.dimension == "conductance"
    d = built("PopulationEstimate").to_dict()
    assert d["median"]["unit"] == "cm/s" and d["median"]["value"] == pytest.approx(pop.median.value * 100, rel=1e-12)
    assert set(d) == {"median", "log_sd", "estimated", "median_log_stderr"}  # the CLI schema


def test_impedance_fit_holds_measured_with_the_old_json(built):
    fit = built("ImpedanceFit")
    assert fit.r_bulk.dimension == "resistance" and fit.c_gb.dimension == "capacitance"
    assert fit.r_bulk.value == pytest.approx(2000.0, rel=1e-5)  # noise-free spectrum
    d = fit.to_dict()
    assert d["r_bulk"]["unit"] == "ohm" and d["c_gb"]["unit"] == "F"
    assert d["r_bulk"]["value"] == pytest.approx(2000.0, rel=1e-5)


def test_isotope_maps_keep_the_input_coordinates(built):
    frac = built("IsotopeFraction")
    da = frac.as_dataarray()
    assert da.dims == ("y", "x") and np.allclose(da["x"], np.arange(8) * 0.5)
    assert math.isnan(float(da[0, 0]))  # no counts: NaN, not 0
    assert frac.as_dataarray("stderr").dims == ("y", "x")
    # without coordinates (plain arrays) the dimensions are named, the coordinates absent
    from tracerdiff.isotope import isotope_fraction
    plain = isotope_fraction(np.full((3, 4), 10.0), np.full((3, 4), 90.0)).as_dataarray()
    assert plain.dims == ("y", "x") and not plain.coords
    assert float(plain.mean()) == pytest.approx(0.1)


def test_repr_of_a_large_analysis_is_short():
    # A 206 x 512 image with 1000 boundaries (the size whose repr used to be ~1 MB): repr and
    # HTML stay a few lines. Built directly: the repr depends on the sizes, not on the numbers.
    from tracerdiff.boundaries import BoundaryAnalysis, BoundaryStep, summarise

    rng = np.random.default_rng(0)
    g = rng.lognormal(math.log(1.5e-8), 0.5, 1000)
    steps = tuple(BoundaryStep((i, i + 1), float(i % 512), float(i % 206), 10.0, 0.0, 0.0,
                               Measured(v, 0.1 * v, "conductance"), Measured(math.nan, math.nan, "diffusivity"),
                               Measured(0.03, 0.003), Measured(100.0, 10.0, "gradient"), True, "",
                               profile_s=rng.normal(size=300), profile_c=rng.normal(size=300),
                               profile_se=np.ones(300)) for i, v in enumerate(g))
    res = BoundaryAnalysis(steps, summarise(g), labels=rng.integers(1, 300, (206, 512)), c=rng.random((206, 512)))
    assert len(repr(res)) < 2000 and len(res._repr_html_()) < 4000
    assert str(res.summary.median) in repr(res)
    assert len(res.to_dataframe()) == 1000


# ----------------------------------------------------------------------------- enumeration

#: Frozen dataclasses whose names look like results but are not analysis results, and why.
NOT_RESULTS = {
    "CosineSeries": "the closed-sample solution's basis (an evaluator), not a result",
    "StepFit": "one side-polynomial fit in C units and pixels, wrapped by BoundaryStep",
    "WindowFit": "one window's MAP state (ln G arrays), wrapped by BoundaryAnalysis",
    "ImageFit": "internal state of the whole-image fit (not exported)",
}
RESULT_NAME = re.compile(r"(Result|Fit|Analysis|Summary|Check|Regime|Validity|Registration|Fraction|Estimate|"
                         r"Series|Point|GrainMap|Step)$")
INPUTS = {"ExchangeStep", "ClosedStep", "GrainMap"}  # simulator inputs and the neutral grain map


def _result_classes():
    found = {}
    for info in pkgutil.walk_packages(tracerdiff.__path__, "tracerdiff."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[1] in ("cli", "study"):
            continue
        module = importlib.import_module(info.name)
        for name, cls in vars(module).items():
            if (inspect.isclass(cls) and cls.__module__ == info.name and dataclasses.is_dataclass(cls)
                    and cls.__dataclass_params__.frozen and RESULT_NAME.search(name)
                    and name not in INPUTS and name not in NOT_RESULTS):
                found[name] = cls
    return found


def test_every_result_class_follows_the_protocol_and_has_a_builder():
    found = _result_classes()
    assert len(found) >= 25  # the walk itself works
    missing = sorted(set(found) - set(BUILDERS))
    assert not missing, f"result classes without a protocol test here: {missing}"
    for name, cls in found.items():
        assert issubclass(cls, Result), f"{name} does not inherit tracerdiff.results.Result"
        # a dataclass with repr=True would replace the short repr by one listing every array
        assert cls.__repr__ is Result.__repr__, f"{name} needs @dataclass(..., repr=False)"
        assert "ax" in inspect.signature(cls.plot).parameters
        assert inspect.signature(cls.plot).parameters["ax"].default is None, f"{name}.plot(ax=None)"


def test_boundary_maps_keep_the_input_coordinates():
    # An image whose pixel (0, 0) sits at (y, x) = (100, 250) um: the C map comes back with those
    # coordinates, the boundary positions lie on them, and the figure draws both in one frame.
    from tracerdiff.boundaries import analyse_boundaries
    from tracerdiff.io import make_image

    i6, i7 = _staircase()
    res = analyse_boundaries(make_image({"6Li": i6, "7Li": i7}, 0.5, origin_um=(100.0, 250.0)),
                             d_bulk="2.6e-8 cm^2/s")
    c = res.as_dataarray()
    assert c.dims == ("y", "x") and float(c["y"][0]) == 100.0 and float(c["x"][1]) == 250.5
    assert np.allclose(c.values, res.c, equal_nan=True)
    ok = res.accepted
    assert ok and all(250.0 <= b.x_um <= 250.0 + 0.5 * 120 and 100.0 <= b.y_um <= 100.0 + 0.5 * 80 for b in ok)
    ax = res.plot(type(res.plot().figure)().add_subplot())
    assert ax.get_xlim()[0] == pytest.approx(249.75) and ax.get_ylim()[1] == pytest.approx(99.75)


def test_harrison_diffusion_length_is_measured_with_propagated_error():
    # sqrt(D t) with D known to 10 % and t exact: 5 % on the length (first order); JSON stays in um.
    from tracerdiff.models.harrison import harrison_regime

    r = harrison_regime(Measured(1e-16, 1e-17, "diffusivity"), "1e5 s", grain_size="10 um")
    assert r.diffusion_length.dimension == "length"
    assert r.diffusion_length.value == pytest.approx(math.sqrt(1e-11), rel=1e-12)
    assert r.diffusion_length.stderr == pytest.approx(0.05 * math.sqrt(1e-11), rel=1e-12)
    assert r.to_dict()["diffusion_length_um"] == pytest.approx(math.sqrt(1e-11) * 1e6, rel=1e-12)
