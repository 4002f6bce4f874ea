"""tracerdiff run: outputs, atomic writes, reproducibility, and analyses skipped when a piece is missing."""

import builtins
import math
import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from tracerdiff.cli import app
from tracerdiff.report import atomic
from tracerdiff.study.runner import run_study
from tracerdiff.study.synthetic import write_synthetic_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    # The demo's study without its SIMS image: line scans, NMR series, impedance spectra (fast).
    return write_synthetic_study(tmp_path_factory.mktemp("study"), seed=3, image=False)


@pytest.fixture(scope="module")
def first_run(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("run1")
    return out, run_study(study, out, quiet=True)


def test_outputs_written(first_run):
    out, results = first_run
    assert (out / "results.json").is_file() and (out / "report.html").is_file()
    assert (out / "tables" / "arrhenius_fits.csv").is_file()
    assert (out / "figures" / "arrhenius.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["headline"] == results["headline"]
    # Every headline quantity carries value, stderr and unit.
    for row in on_disk["headline"].values():
        assert set(row["value"]) == {"value", "stderr", "unit"}
    prov = on_disk["provenance"]
    assert prov["tracerdiff_version"] and len(prov["input_sha256"]) == 1 + 5 + 5  # study + scans + spectra
    assert all(len(h) == 64 for h in prov["input_sha256"].values())
    # No image: boundary steps and the series-model comparison are skipped, with a reason.
    assert on_disk["analyses"]["boundary_steps"]["status"] == "skipped"
    assert "no SIMS images" in on_disk["skipped"]["boundary_steps"]
    assert "series_model" in on_disk["skipped"]


def test_recovers_synthetic_truth_without_image(first_run):
    _, results = first_run
    h = results["headline"]
    # Line scans carry 20000 counts per point: D*eff to ~1-2 %; allow 5 %.
    assert h["d_eff_erfc"]["value"]["value"] == pytest.approx(2.013e-9, rel=0.05)
    assert h["d_eff_storage"]["value"]["value"] == pytest.approx(2.013e-9, rel=0.05)
    # Arrhenius of (l/delta)D*gb from D*eff at 22, 100, 200 degC: Ea to a few meV.
    assert h["ea_gb"]["value"]["value"] == pytest.approx(0.43, abs=0.02)
    assert h["haven_gb"]["value"]["value"] == pytest.approx(0.24, rel=0.1)
    assert results["analyses"]["impedance"]["status"] == "done"


def test_rerun_gives_identical_results_json(study, first_run, tmp_path):
    out1, _ = first_run
    run_study(study, tmp_path, quiet=True)
    a = json.loads((out1 / "results.json").read_text())
    b = json.loads((tmp_path / "results.json").read_text())
    assert a == b
    assert (out1 / "results.json").read_bytes() == (tmp_path / "results.json").read_bytes()
    for name in ("arrhenius_fits.csv", "arrhenius_points.csv"):
        assert (out1 / "tables" / name).read_bytes() == (tmp_path / "tables" / name).read_bytes()


def test_interrupted_write_leaves_previous_results_intact(study, first_run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(first_run[0], out)  # a completed earlier run in this folder
    before = (out / "results.json").read_bytes()
    real_fsync = os.fsync

    def interrupted(fd):
        # Interrupt exactly while results.json's temp file is being flushed.
        if ".results.json." in os.readlink(f"/proc/self/fd/{fd}"):
            raise KeyboardInterrupt
        return real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, out, quiet=True)
    assert (out / "results.json").read_bytes() == before
    assert not [p for p in out.rglob("*.tmp")]  # no temp file left behind


def test_interrupted_first_run_leaves_no_results_json(study, tmp_path, monkeypatch):
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("results.json"):
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, tmp_path, quiet=True)
    assert not (tmp_path / "results.json").exists()
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_missing_module_of_tracerdiff_is_a_failure_not_a_skip(study, tmp_path, monkeypatch):
    # Issue 14 finding 2: an ImportError of tracerdiff's own modules was filed as "skipped: not
    # available" and the run exited 0. A broken installation is a failure: status "failed" with
    # the error text, listed under "failed" (not "skipped"), and the other analyses still run.
    # (Issue 15: the module broken here is the one the erfc analysis imports, tracerdiff.profiles.erfc;
    # breaking all of tracerdiff.profiles now stops the run while the data are read, see below.)
    import tracerdiff.profiles  # noqa: F401 - loaded before the patch: only the analysis's own import fails

    real_import = builtins.__import__

    def no_erfc(name, *args, **kwargs):
        if name.startswith("tracerdiff.profiles.erfc"):
            raise ImportError("simulated: tracerdiff.profiles.erfc not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_erfc)
    results = run_study(study, tmp_path / "out", quiet=True)
    assert results["analyses"]["erfc"]["status"] == "failed"
    assert "ImportError: simulated" in results["failed"]["erfc"]
    assert "ImportError" in results["analyses"]["erfc"]["error"]
    assert "erfc" not in results["skipped"]
    assert results["analyses"]["impedance"]["status"] == "done"  # the rest still ran
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["analyses"]["erfc"]["status"] == "failed"


@pytest.mark.parametrize("broken", ["tracerdiff.profiles.depth", "tracerdiff.profiles.load"])
def test_broken_module_while_reading_data_stops_the_run_naming_it(study, tmp_path, monkeypatch, broken):
    # Issue 15 item 6: load_data caught ImportError from tracerdiff.profiles and went on without
    # checking the line scans (or turning sputter time into depth). Now the run stops before any
    # analysis with InstallationError naming the module; the CLI exits non-zero with one line.
    import sys

    from tracerdiff.errors import InstallationError

    monkeypatch.delitem(sys.modules, broken, raising=False)
    monkeypatch.setitem(sys.modules, broken, None)  # "import halted": what a broken install raises
    with pytest.raises(InstallationError, match=rf"needs {broken}, which cannot be imported.*reinstall"):
        run_study(study, tmp_path / "out", quiet=True)
    assert not (tmp_path / "out" / "results.json").exists()
    res = CliRunner().invoke(app, ["run", str(study), "--out", str(tmp_path / "cli")])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and broken in lines[0], res.stderr
    assert "Traceback" not in res.output


def test_own_imports_keeps_a_missing_extra_a_missing_dependency_error():
    # A missing OPTIONAL extra is not a broken installation: it keeps its message naming the extra.
    from tracerdiff.errors import InstallationError, MissingDependencyError, import_optional, own_imports

    with pytest.raises(MissingDependencyError, match=r"pip install 'tracerdiff\[iontof\]'") as info:
        with own_imports("reading an IONTOF file"):
            import_optional("tracerdiff_no_such_vendor_module", extra="iontof", purpose="reading .ita files")
    assert not isinstance(info.value, InstallationError)
    with pytest.raises(InstallationError, match="reading x needs tracerdiff.no_such_module"):
        with own_imports("reading x"):
            import tracerdiff.no_such_module  # noqa: F401


def test_cli_run_json(study, tmp_path):
    res = CliRunner().invoke(app, ["run", str(study), "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert "d_eff_erfc" in payload["headline"]


def test_d_bulk_from_sample_only_at_image_temperatures(tmp_path):
    from tracerdiff.study.context import RunContext
    from tracerdiff.study.load import load_study

    (tmp_path / "a.tif").write_bytes(b"x")
    (tmp_path / "study.toml").write_text("""
[sample]
material = "LLTO"
grain_size = "16 um"
gb_thickness = "0.5 nm"
li_density = "5e21 cm^-3"
d_bulk = "2.6e-8 cm^2/s"
[[steps]]
name = "ex"
kind = "exchange"
temperature = "22 degC"
duration = "59 h"
[[steps]]
name = "an"
kind = "anneal"
temperature = "200 degC"
duration = "3.8 h"
[[measurements.images]]
name = "img"
after = "ex"
file = "a.tif"
""")
    ctx = RunContext(load_study(tmp_path / "study.toml"), tmp_path / "study.toml", tmp_path / "out")
    d, source = ctx.d_bulk_at(295.15)
    assert d.to("cm^2/s")[0] == pytest.approx(2.6e-8) and source == "sample.d_bulk"
    # At the anneal temperature the 22 degC value must not be reused: no D_NMR -> no D*bulk.
    d, source = ctx.d_bulk_at(473.15)
    assert d is None and "200 degC" in source


def test_unexpected_error_in_one_analysis_fails_only_that_analysis(study, tmp_path, monkeypatch):
    from tracerdiff.study import derived

    def broken(ctx):
        raise TypeError("simulated API change")

    monkeypatch.setattr(derived, "haven", broken)
    results = run_study(study, tmp_path, quiet=True)
    assert results["analyses"]["haven"]["status"] == "failed"
    assert "TypeError: simulated API change" in results["failed"]["haven"]
    assert "haven" not in results["skipped"]  # a failure is not a skip (issue 14 finding 2)
    assert results["analyses"]["cryo_validity"]["status"] == "done"
    assert (tmp_path / "results.json").is_file()


def test_png_micrograph_at_another_pixel_size_gives_the_boundaries(tmp_path):
    # A small simulated image with a 2x finer PNG micrograph: read, resampled, registered, used.
    import numpy as np
    import tifffile
    from skimage import io as skio

    from tracerdiff.simulate import ExchangeConditions, SimsOptions, synthetic_exchange_image
    from tracerdiff.study import synthetic as S
    from tracerdiff.study.imaging import read_optical

    ds, sim = synthetic_exchange_image(shape=(206, 256), seed=2,
                                       exchange=ExchangeConditions(d_bulk=S.d_bulk(295.15),
                                                                   dgb_over_delta=S.dgb_over_delta(295.15)),
                                       sims=SimsOptions(counts_per_pixel=30000))
    for ch in ("6Li", "7Li"):
        tifffile.imwrite(tmp_path / f"{ch}.tif", np.asarray(ds[ch].values, dtype=np.uint32))
    fine = np.kron(S.optical_micrograph(sim.grains.labels, seed=2, shift_px=(2, 1)), np.ones((2, 2), np.uint8))
    skio.imsave(tmp_path / "optical.png", np.stack([fine] * 3, axis=-1), check_contrast=False)
    back = read_optical(tmp_path / "optical.png", sims_pixel_um=1.0, optical_pixel_um=0.5)
    assert back.shape == (206, 256)
    (tmp_path / "study.toml").write_text(f"""
[sample]
material = "LLTO"
grain_size = "16 um"
gb_thickness = "0.5 nm"
li_density = "5e21 cm^-3"
d_bulk = "{S.d_bulk(295.15) * 1e4:.6e} cm^2/s"
[[steps]]
name = "ex"
kind = "exchange"
temperature = "22 degC"
duration = "59 h"
[[measurements.images]]
name = "img"
after = "ex"
li6 = "6Li.tif"
li7 = "7Li.tif"
pixel_size = "1 um"
optical = "optical.png"
optical_pixel_size = "0.5 um"
edge = "bottom"
""")
    results = run_study(tmp_path / "study.toml", tmp_path / "out", quiet=True)
    entry = results["analyses"]["boundary_steps"]["images"]["img"]
    assert entry["status"] == "done" and entry["boundaries_from"] == "optical micrograph"
    assert entry["analysis"]["n_accepted"] >= 10
    truth = S.dgb_over_delta(295.15) * 100  # cm/s
    median = results["headline"]["dgb_over_delta"]["value"]["value"]
    assert truth / 2.5 < median < 2.5 * truth  # chain wiring, see test_demo.py for the bound


def test_outputs_have_ordinary_permissions(first_run):
    # mkstemp makes 0600 files; outputs were unreadable to the group (e.g. a shared results folder).
    out, _ = first_run
    expected = 0o666 & ~atomic._UMASK
    for name in ("results.json", "report.html", "figures/arrhenius.png", "tables/arrhenius_fits.csv"):
        assert (out / name).stat().st_mode & 0o777 == expected, name


def test_leftovers_of_a_crashed_run_are_removed_by_the_next_run(study, first_run, tmp_path):
    # A SIGKILL cannot clean up: its staging folder beside the output, and temporaries inside an
    # older output, are gone after the next run (the staging folder is removed, the output replaced).
    out = tmp_path / "out"
    shutil.copytree(first_run[0], out)
    stale = [out / ".results.json.k2j4h1_q.tmp", out / "figures" / ".arrhenius.png.x8a1zz9p.tmp"]
    for p in stale:
        p.write_text("half-written")
    staging = tmp_path / "out.tracerdiff-staging-999999"
    (staging / "figures").mkdir(parents=True)
    (staging / "figures" / "erfc_scan.png").write_bytes(b"half")
    run_study(study, out, quiet=True)
    assert not any(p.exists() for p in stale) and not staging.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    json.loads((out / "results.json").read_text())


def test_folder_with_files_tracerdiff_did_not_write_is_refused_untouched(study, tmp_path):
    # The output folder is replaced as a whole; a folder holding the user's own files is refused
    # before anything is written, instead of deleting them.
    keep = [tmp_path / "notes.tmp", tmp_path / ".my.notes.tmp", tmp_path / "results.json"]
    for p in keep:
        p.write_text("mine")
    res = CliRunner().invoke(app, ["run", str(study), "--out", str(tmp_path), "--quiet"])
    assert res.exit_code == 2 and "holds files tracerdiff did not write" in res.stderr, res.output
    assert all(p.read_text() == "mine" for p in keep)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in keep)


def test_sigterm_is_a_clean_interrupt(tmp_path):
    import signal

    import typer

    from tracerdiff.cli.common import interruptible

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(typer.Exit) as info:
        with interruptible(tmp_path / "results.json"):
            os.kill(os.getpid(), signal.SIGTERM)
    assert info.value.exit_code == 130
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored


def test_report_tabulates_reference_points_and_nernst_einstein(first_run):
    # The two sections were headings with no numbers.
    html = (first_run[0] / "report.html").read_text()
    ref = html[html.index("Reference series (NMR, conductivity)"):html.index("Nernst–Einstein diffusivities")]
    assert "Reference points" in ref and "d_nmr" in ref and "cm^2/s" in ref
    ne = html[html.index("Nernst–Einstein diffusivities"):html.index("Impedance spectra")]
    assert "Dσ = σ kB T / (n q²)" in ne and "sigma_bulk" in ne


def _fit_series_of(values, rel_err=0.01):
    from tracerdiff.quantity import Measured
    from tracerdiff.study.context import RunContext
    from tracerdiff.study.derived import fit_series

    ctx = RunContext(study=None, study_path=None, out=None)
    for t, v in values:
        ctx.add_point("D", t, Measured(v, rel_err * v, "diffusivity"), "test")
    fit_series(ctx)
    return ctx.fits["D"], ctx.results["arrhenius"]["series"]["D"]


def test_arrhenius_errors_widen_with_scatter_beyond_the_stated_errors():
    # D*eff of a bulk/boundary series is not Arrhenius: on the demo, reduced chi2 ~ 24, and the
    # extrapolated D*eff(-110 degC) claimed 2 % while being 1.8x off the truth. With scatter beyond
    # the stated errors the covariance is scaled by reduced chi2 (Birge ratio); never narrowed.
    from tracerdiff.models import fit_arrhenius

    kb = 8.617333262e-5
    temps = [300.0, 400.0, 500.0]
    law = [1e-6 * math.exp(-0.5 / (kb * t)) for t in temps]
    scattered = [(t, d * f) for t, d, f in zip(temps, law, (1.0, 1.1, 1.0))]  # 10 % off with 1 % errors
    fit, entry = _fit_series_of(scattered)
    absolute = fit_arrhenius(temps, [v for _, v in scattered], [0.01 * v for _, v in scattered])
    assert entry["errors_scaled_by_sqrt_reduced_chi2"] is True and absolute.reduced_chi2 > 1
    assert fit.activation_energy.value == pytest.approx(absolute.activation_energy.value, rel=1e-12)
    assert fit.activation_energy.stderr == pytest.approx(
        absolute.activation_energy.stderr * math.sqrt(absolute.reduced_chi2), rel=1e-9)
    # Scatter within the errors: left as stated (reduced chi2 < 1 never shrinks them).
    tidy = [(t, d * f) for t, d, f in zip(temps, law, (1.0, 1.001, 1.0))]
    fit, entry = _fit_series_of(tidy)
    absolute = fit_arrhenius(temps, [v for _, v in tidy], [0.01 * v for _, v in tidy])
    assert entry["errors_scaled_by_sqrt_reduced_chi2"] is False
    assert fit.activation_energy.stderr == pytest.approx(absolute.activation_energy.stderr, rel=1e-12)


def test_output_folder_that_is_a_file_is_one_clear_line(study, tmp_path):
    # Was: 'error: [Errno 17] File exists: ...' (run) naming neither the option nor the problem.
    target = tmp_path / "results"
    target.write_text("not a folder")
    for args in (["run", str(study), "--out", str(target), "--quiet"], ["demo", "--out", str(target), "--quiet"]):
        res = CliRunner().invoke(app, args)
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert res.exit_code == 2 and len(lines) == 1, res.output
        assert "output folder exists as a file" in lines[0] and str(target) in lines[0]
    assert target.read_text() == "not a folder"


def test_arrhenius_status_done_when_only_later_series_fit(tmp_path):
    # Without D_NMR the first (D_NMR-only) pass marked arrhenius "skipped", and the D*eff fit of the
    # second pass left it so: the headline showed Ea of D*eff while 'skipped' said no series was fitted.
    src = write_synthetic_study(tmp_path / "s", seed=3, image=False)
    text = src.read_text()
    start = text.index("[[reference.series]]")
    end = text.index("[[", start + 5)
    src.write_text(text[:start] + text[end:])  # drop the D_NMR series
    results = run_study(src, tmp_path / "out", quiet=True)
    assert "D_NMR" not in results["analyses"]["arrhenius"]["series"]
    assert results["analyses"]["arrhenius"]["status"] == "done"
    assert "arrhenius" not in results["skipped"] and "ea_eff" in results["headline"]


def test_images_without_d_bulk_say_why_in_the_skip_note(tmp_path):
    from tracerdiff.study.context import RunContext
    from tracerdiff.study.load import load_study
    from tracerdiff.study.imaging import analyse_images

    import numpy as np
    import tifffile

    for name, level in (("a6.tif", 100), ("a7.tif", 900)):
        tifffile.imwrite(tmp_path / name, np.full((20, 30), level, dtype=np.uint16))
    (tmp_path / "study.toml").write_text(
        '[sample]\nmaterial = "x"\ngrain_size = "16 um"\ngb_thickness = "0.5 nm"\nli_density = "5e21 cm^-3"\n'
        '[[steps]]\nname = "ex"\nkind = "exchange"\ntemperature = "22 degC"\nduration = "1 h"\n'
        '[[measurements.images]]\nname = "img"\nafter = "ex"\nli6 = "a6.tif"\nli7 = "a7.tif"\npixel_size = "1 um"\n')
    ctx = RunContext(study=load_study(tmp_path / "study.toml"), study_path=tmp_path / "study.toml", out=tmp_path)
    analyse_images(ctx)
    note = ctx.results["boundary_steps"]["note"]
    assert ctx.results["boundary_steps"]["status"] == "skipped"
    assert "img: no D*bulk at 22 degC" in note and "sample.d_bulk" in note  # was only "see each image's note"


def test_study_can_use_the_whole_image_inversion(tmp_path):
    # options.boundary_method = "inversion" routes the image through tracerdiff.inversion (with the
    # optical micrograph's grains and the given PSF); results.json says so and carries the
    # population. A 206 x 128 image keeps this at ~10 s (measured: 112 of 378 boundaries accepted,
    # median 1.17x the truth (population median 1.08x), log-sd 0.45 although the truth is uniform: this study
    # image is simulated in a closed 206-row box, which the quasi-steady model fits less well).
    src = write_synthetic_study(tmp_path / "s", seed=2, image_shape=(206, 128))
    text = src.read_text()
    src.write_text(text + '\n[options]\nboundary_method = "inversion"\npsf = "0.5 um"\n')
    results = run_study(src, tmp_path / "out", quiet=True)
    entry = results["analyses"]["boundary_steps"]["images"]["img59h"]
    assert entry["boundary_method"] == "inversion"
    assert entry["status"] == "done"
    analysis = entry["analysis"]
    assert analysis["summary"]["dgb_over_delta"]["n"] >= 80
    assert "population" in analysis and analysis["population"]["median"]["unit"] == "cm/s"
    assert all(b["source"] == "inversion" for b in analysis["boundaries"])
