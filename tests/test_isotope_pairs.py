"""Any tracer/other pair: species names, natural fractions, maps, depth profiles, an 18O/16O study."""

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from tracerdiff.cli import app
from tracerdiff.errors import InputError
from tracerdiff.io import synth
from tracerdiff.species import canonical_channel, natural_abundance, natural_fraction, parse_species

runner = CliRunner()


@pytest.mark.parametrize("label,mass,isotope", [
    ("^6Li+", None, "6Li"), ("6Li+", None, "6Li"), ("Li+", None, "7Li"), ("^18O-", None, "18O"),
    ("O-", None, "16O"), ("18O", None, "18O"), ("Li6", None, "6Li"), ("Li-6", None, "6Li"), ("I6Li", None, "6Li"),
    ("Sn+", 119.8994, "120Sn"), ("^118Sn+", 117.8989, "118Sn"),
    ("Li+", 6.0151, "6Li"),  # the recorded mass overrides the major-isotope guess
    ("^2H-", None, "2H"), ("^26Mg+", None, "26Mg"), ("^54Fe+", None, "54Fe"),
])
def test_vendor_notations_map_to_isotopes(label, mass, isotope):
    assert parse_species(label, mass).isotope == isotope
    assert parse_species(label, mass).name == isotope


@pytest.mark.parametrize("label,name", [("12C 15N", "12C15N"), ("12C14N", "12C14N"), ("CsI+", "CsI+"),
                                        ("C_2+", "C_2+"), ("C", "C"), ("C_stderr", "C_stderr"),
                                        ("counts", "counts"), ("total", "total"), ("O+ / ( Pb+ )", "O+ / ( Pb+ )")])
def test_molecules_and_variable_names_keep_their_label(label, name):
    sp = parse_species(label)
    assert sp.isotope is None and sp.name == name


def test_mass_check_refuses_a_contradicting_label():
    # "^18O-" recorded at 16 u is not 18O: the mass names the isotope of that element
    assert parse_species("^18O-", 15.995).isotope == "16O"
    assert parse_species("^18O-", 40.0).isotope is None  # no O isotope there: no isotope claimed


def test_natural_fractions_come_from_periodictable():
    import periodictable as pt

    # a_t / (a_t + a_o): 17O takes no part in an 18O/16O ratio
    assert natural_fraction("18O", "16O") == pytest.approx(pt.O[18].abundance / (pt.O[18].abundance
                                                                                + pt.O[16].abundance), rel=1e-12)
    assert natural_fraction("18O", "16O") == pytest.approx(0.002, abs=1e-4)
    assert natural_fraction("^6Li+", "Li+") == pytest.approx(pt.Li[6].abundance / 100, rel=1e-12)
    # molecules: product of atom abundances, times arrangements of identical elements
    assert natural_fraction("12C15N", "12C14N") == pytest.approx(pt.N[15].abundance / 100, rel=1e-12)
    a12, a13 = pt.C[12].abundance / 100, pt.C[13].abundance / 100
    assert natural_abundance("12C13C") == pytest.approx(2 * a12 * a13, rel=1e-12)
    assert natural_abundance("CsI+") is None
    with pytest.raises(ValueError, match="natural fraction"):
        natural_fraction("CsI+", "Cs+")


def test_canonical_channel_keeps_old_behaviour():
    for text in ("6Li+", "^6Li", "Li6", "I6Li", "Li-6", "6Li"):
        assert canonical_channel(text) == "6Li"
    assert canonical_channel("7Li+") == "7Li" and canonical_channel("Li+") == "7Li"


def _profile_ds(c, n=20000, seed=3):
    rng = np.random.default_rng(seed)
    return rng.poisson(n * c), rng.poisson(n * (1 - c))


def test_depth_profile_from_sputter_time_recovers_d(tmp_path):
    """erfc (IEDP) on a SurfaceLab-layout time profile, 18O/16O, converted with a sputter rate or crater depth."""
    from scipy.special import erfc

    d, t_ex, rate = 1e-16, 3600.0, 0.5e-9  # m^2/s, s, m/s: 2 sqrt(D t) = 1.2 um
    ts = np.linspace(0, 6000, 165)
    c = 0.002 + (0.95 - 0.002) * erfc(ts * rate / (2 * math.sqrt(d * t_ex)))
    o18, o16 = _profile_ds(c)
    path = synth.write_surfacelab_depth_profile(tmp_path / "p.txt", ts, {"O-": (15.9949, o16), "^18O-": (17.9992, o18)})
    for flags in (["--sputter-rate", "0.5 nm/s"], ["--crater-depth", "3 um"]):
        res = runner.invoke(app, ["erfc", str(path), "--time", "1h", "--tracer", "18O", "--other", "16O", "--json",
                                  *flags])
        assert res.exit_code == 0, res.output
        fit = json.loads(res.stdout)
        got = fit["d_eff"]["value"]
        # 2e4 counts per point: the fit's stderr is ~1 %; 4 stderr covers the truth, 5 % bounds the bias
        assert got == pytest.approx(1e-12, rel=0.05)
        assert abs(got - 1e-12) < 4 * fit["d_eff"]["stderr"] + 1e-14
    res = runner.invoke(app, ["erfc", str(path), "--time", "1h", "--tracer", "18O", "--other", "16O"])
    assert res.exit_code == 2 and "sputter time" in res.stderr and "--sputter-rate" in res.stderr
    res = runner.invoke(app, ["erfc", str(path), "--time", "1h", "--sputter-rate", "0.5 nm/s"])
    assert res.exit_code == 2 and "--tracer/--other" in res.stderr  # no 6Li/7Li channels: says how to name them


def test_surface_exchange_fit_on_a_depth_profile():
    from tracerdiff.io.image import make_time_profile
    from tracerdiff.profiles import fit_erfc, surface_exchange_profile
    from tracerdiff.profiles.depth import prepare_profile

    d, k, t_ex, rate = 1e-16, 2e-11, 3600.0, 0.5e-9  # k* h = k/D * sqrt(D t) ~ 0.1 x: surface-limited
    ts = np.linspace(0, 6000, 165)
    c = surface_exchange_profile(ts * rate, c_s=0.95, c_0=0.002, x0=0.0, d=d, k=k, t=t_ex)
    o18, o16 = _profile_ds(c, n=50000, seed=5)
    ds = prepare_profile(make_time_profile(ts, {"18O": o18, "16O": o16}), tracer="18O", other="16O",
                         sputter_rate=rate)
    fit = fit_erfc(ds, t_ex, surface_exchange=True, fix_c_0=0.002, fix_c_s=0.95, fix_x0=0.0)
    # Cs, C0, x0 held: D and k* from 165 points at 5e4 counts; within 4 stderr and 15 %
    assert fit.d_eff.value == pytest.approx(d, rel=0.15) and abs(fit.d_eff.value - d) < 4 * fit.d_eff.stderr
    assert fit.k_star.value == pytest.approx(k, rel=0.15) and abs(fit.k_star.value - k) < 4 * fit.k_star.stderr


def test_arrhenius_points_from_depth_profiles():
    """A series of IEDP fits at three temperatures gives back Ea and D0 of the truth."""
    from scipy.special import erfc

    from tracerdiff.io.image import make_time_profile
    from tracerdiff.models import fit_arrhenius
    from tracerdiff.profiles import fit_erfc
    from tracerdiff.profiles.depth import prepare_profile

    kb = 8.617333262e-5
    ea, d0 = 1.2, 1e-8  # eV, m^2/s (an oxide's 18O diffusion)
    temps, ds_fit = [873.15, 923.15, 973.15], []
    for i, t_k in enumerate(temps):
        d = d0 * math.exp(-ea / (kb * t_k))
        t_ex = 1800.0
        rate = 2 * math.sqrt(d * t_ex) / 2000  # the profile spans ~3 diffusion lengths in 6000 s
        ts = np.linspace(0, 6000, 165)
        c = 0.002 + 0.948 * erfc(ts * rate / (2 * math.sqrt(d * t_ex)))
        o18, o16 = _profile_ds(c, seed=10 + i)
        prof = prepare_profile(make_time_profile(ts, {"18O": o18, "16O": o16}), tracer="18O", other="16O",
                               sputter_rate=rate)
        ds_fit.append(fit_erfc(prof, t_ex).d_eff)
    fit = fit_arrhenius(temps, [m.value for m in ds_fit], [m.stderr for m in ds_fit])
    assert fit.activation_energy.to("eV")[0] == pytest.approx(ea, abs=0.05)  # three points at ~1 % each


def test_map_with_two_files_and_a_missing_channel(tmp_path):
    import tifffile

    rng = np.random.default_rng(0)
    a, b = rng.poisson(50, (8, 9)), rng.poisson(5000, (8, 9))
    tifffile.imwrite(tmp_path / "o18.tif", a.astype(np.uint32))
    tifffile.imwrite(tmp_path / "o16.tif", b.astype(np.uint32))
    res = runner.invoke(app, ["map", str(tmp_path / "o18.tif"), str(tmp_path / "o16.tif"), "--tracer", "^18O-",
                              "--other", "O-", "--pixel-size", "1um", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["tracer"] == "18O" and info["other"] == "16O" and info["shape"] == [8, 9]
    assert info["pooled_fraction"]["value"] == a.sum() / (a.sum() + b.sum())
    assert info["enrichment"]["value"] == pytest.approx(info["pooled_fraction"]["value"] / natural_fraction("18O",
                                                                                                          "16O"))
    path = synth.write_cameca_im(tmp_path / "c.im", {"16O": b}, [15.995], raster_um=9.0)
    res = runner.invoke(app, ["map", str(path), "--tracer", "18O", "--other", "16O"])
    assert res.exit_code == 2 and "no 18O channel" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_schema_tracer_other_and_lithium_shorthand(tmp_path):
    from tracerdiff.study.schema import ImageMeasurement, Sample

    base = {"material": "x", "grain_size": "1 um", "gb_thickness": "1 nm", "li_density": "1e21 cm^-3"}
    s = Sample(**base, tracer="^18O-", other="O-")
    assert (s.tracer, s.other) == ("18O", "16O") and s.natural_fraction == pytest.approx(natural_fraction("18O", "16O"))
    assert Sample(**base, tracer="18O", other="16O", natural_fraction=0.0021).natural_fraction == 0.0021
    assert (Sample(**base).tracer, Sample(**base).other) == ("6Li", "7Li")
    with pytest.raises(ValueError, match="same species"):
        Sample(**base, tracer="18O", other="^18O")
    for name in ("a.tif", "b.tif"):
        (tmp_path / name).write_bytes(b"x")
    ctx = {"base_dir": str(tmp_path)}
    im = ImageMeasurement.model_validate({"name": "i", "after": "s", "tracer_file": "a.tif", "other_file": "b.tif",
                                          "pixel_size": "1 um"}, context=ctx)
    assert im.li6.name == "a.tif" and im.li7.name == "b.tif"
    with pytest.raises(ValueError, match="not both"):
        ImageMeasurement.model_validate({"name": "i", "after": "s", "tracer_file": "a.tif", "other_file": "b.tif",
                                         "li6": "a.tif", "li7": "b.tif", "pixel_size": "1 um"}, context=ctx)


@pytest.fixture(scope="module")
def oxygen_run(tmp_path_factory):
    from tracerdiff.study.runner import run_study
    from tracerdiff.study.synthetic_oxygen import write_oxygen_study

    folder = tmp_path_factory.mktemp("o18")
    study = write_oxygen_study(folder / "study", seed=0)
    results = run_study(study, folder / "out", quiet=True)
    return results, json.loads((folder / "study" / "truth.json").read_text())


def test_oxygen_study_end_to_end(oxygen_run):
    """18O/16O, natural fraction 0.002: an image in one Cameca file and a SurfaceLab depth profile vs sputter time.

    Tolerances are the lithium study's (tests/test_demo.py, tests/test_study_run.py): D*eff from the erfc fit
    within 5 %, the median D*gb/delta within a factor 2.5 (the step method's median is ~1.3x the truth).
    """
    results, truth = oxygen_run
    h = results["headline"]
    assert h["d_eff_erfc"]["value"]["value"] == pytest.approx(truth["d_eff_profile_cm2_s"], rel=0.05)
    g, g_true = h["dgb_over_delta"]["value"]["value"], truth["dgb_over_delta_cm_s"]
    assert g_true / 2.5 < g < 2.5 * g_true
    entry = results["analyses"]["boundary_steps"]["images"]["img59h"]
    assert entry["isotopes"] == {"tracer": "18O", "other": "16O"}
    assert entry["boundaries_from"] == "optical micrograph" and entry["analysis"]["n_accepted"] >= 10


def test_study_refuses_a_vendor_file_without_the_tracer(tmp_path):
    from tracerdiff.study.runner import run_study

    rng = np.random.default_rng(1)
    synth.write_cameca_im(tmp_path / "li.im", {"6Li": rng.poisson(5, (20, 20)), "7Li": rng.poisson(50, (20, 20))},
                          [6.015, 7.016], raster_um=20.0)
    (tmp_path / "study.toml").write_text("""
[sample]
material = "oxide"
grain_size = "16 um"
gb_thickness = "0.5 nm"
li_density = "5e21 cm^-3"
d_bulk = "1e-8 cm^2/s"
tracer = "18O"
other = "16O"
[[steps]]
name = "ex"
kind = "exchange"
temperature = "22 degC"
duration = "1 h"
[[measurements.images]]
name = "img"
after = "ex"
file = "li.im"
""")
    with pytest.raises(InputError, match=r"measurements.images\[0\].*no 18O or 16O channel"):
        run_study(tmp_path / "study.toml", tmp_path / "out", quiet=True)


def test_boundaries_of_an_18o_vendor_file_equal_those_of_the_same_counts_as_lithium(tmp_path):
    """The C-map path of any pair gives the boundary analysis exactly what 6Li/7Li counts give it."""
    import tifffile

    from tracerdiff.simulate import ExchangeConditions, SimsOptions, synthetic_exchange_image
    from tracerdiff.study import synthetic as S

    ds, _ = synthetic_exchange_image(shape=(206, 160), seed=4,
                                     exchange=ExchangeConditions(d_bulk=S.d_bulk(295.15),
                                                                 dgb_over_delta=S.dgb_over_delta(295.15)),
                                     sims=SimsOptions(counts_per_pixel=30000))
    a, b = (np.asarray(ds[k].values, dtype=np.uint32) for k in ("6Li", "7Li"))
    synth.write_cameca_im(tmp_path / "o.im", {"16O": b, "18O": a}, [15.995, 17.999], raster_um=160.0)
    tifffile.imwrite(tmp_path / "6.tif", a)
    tifffile.imwrite(tmp_path / "7.tif", b)
    common = ["--pixel-size", "1um", "--d-bulk", "2.6e-8 cm^2/s", "--source-edge", "bottom", "--json"]
    oxygen = runner.invoke(app, ["boundaries", str(tmp_path / "o.im"), "--tracer", "^18O-", "--other", "O-", *common])
    lithium = runner.invoke(app, ["boundaries", str(tmp_path / "6.tif"), str(tmp_path / "7.tif"), *common])
    assert oxygen.exit_code == 0 and lithium.exit_code == 0, oxygen.output + lithium.output
    got, ref = json.loads(oxygen.stdout), json.loads(lithium.stdout)
    assert got["n_accepted"] == ref["n_accepted"] > 0
    g, r = got["summary"]["dgb_over_delta"]["median"], ref["summary"]["dgb_over_delta"]["median"]
    # same C and errors up to rounding (a/(a+b) is computed by two routes): 1e-9 is far below any noise
    assert g["value"] == pytest.approx(r["value"], rel=1e-9) and g["stderr"] == pytest.approx(r["stderr"], rel=1e-9)


def test_evolve_takes_depth_profiles_with_tracer_other(tmp_path):
    """Closed anneal of an 18O depth profile: exchange profile + a later one, both against sputter time."""
    from scipy.fft import dct, idct
    from scipy.special import erfc

    d, t_ex, t_an, rate = 1e-16, 3600.0, 2 * 3600.0, 0.5e-9
    ts = np.linspace(0, 6000, 165)
    length = ts[-1] * rate  # no-flux at the surface (exchange stopped) and, as tracerdiff assumes, at the last point
    n_fine = 3000
    z = (np.arange(n_fine) + 0.5) * length / n_fine
    c_ex = 0.002 + 0.948 * erfc(z / (2 * math.sqrt(d * t_ex)))
    k = np.pi * np.arange(n_fine) / length  # exact closed evolution by the cosine series
    c_an = idct(dct(c_ex, type=2, norm="ortho") * np.exp(-k ** 2 * d * t_an), type=2, norm="ortho")
    paths = []
    for name, c_fine, seed in (("ex.txt", c_ex, 21), ("an.txt", c_an, 22)):
        o18, o16 = _profile_ds(np.interp(ts * rate, z, c_fine), seed=seed)
        paths.append(synth.write_surfacelab_depth_profile(tmp_path / name, ts, {"O-": (15.9949, o16),
                                                                                "^18O-": (17.9992, o18)}))
    res = runner.invoke(app, ["evolve", str(paths[0]), "--then", f"2h:{paths[1]}", "--exchange-time", "1h",
                              "--tracer", "18O", "--other", "16O", "--sputter-rate", "0.5 nm/s", "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)["d_eff"]
    # 2e4 counts per point, 165 points per profile: within 5 % and 4 stderr of the truth
    assert got["value"] == pytest.approx(1e-12, rel=0.05) and abs(got["value"] - 1e-12) < 4 * got["stderr"] + 1e-14
