"""Synthetic SIMS images and the `tracerdiff simulate` command."""

import json

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from tracerdiff.cli import app
from tracerdiff.io.image import metadata
from tracerdiff.simulate import ExchangeConditions, SimsOptions, synthetic_exchange_image, synthetic_sims


def _fraction(ds):
    i6, i7 = ds["6Li"].values.astype(float), ds["7Li"].values.astype(float)
    return i6.sum() / (i6.sum() + i7.sum())


@pytest.mark.parametrize("c, expected", [(0.0, 0.0759), (1.0, 0.95), (0.5, 0.0759 + 0.5 * (0.95 - 0.0759))])
def test_isotope_fraction_of_uniform_fields(c, expected):
    ds = synthetic_sims(np.full((50, 60), c), pixel_size_um=1.0, seed=1, sims=SimsOptions(counts_per_pixel=1000))
    # 3e6 counts in total: binomial sd of the pooled fraction < 3e-4; allow 5 sd.
    assert _fraction(ds) == pytest.approx(expected, abs=1.5e-3)
    assert ds.attrs["pixel_size_um"] == 1.0 and ds.attrs["format"] == "synthetic"
    assert set(ds.data_vars) == {"6Li", "7Li"} and ds["6Li"].dims == ("y", "x")
    total = ds["6Li"].values + ds["7Li"].values
    assert total.mean() == pytest.approx(1000, rel=0.01)
    # Yield variation 10 % plus Poisson (sqrt(1000)/1000 = 3 %): total spread ~ 10.5 %.
    assert 0.07 < total.std() / total.mean() < 0.14


def test_counts_are_poisson_without_yield_variation():
    ds = synthetic_sims(np.zeros((100, 100)), pixel_size_um=1.0, seed=2,
                        sims=SimsOptions(counts_per_pixel=400, psf_sigma_um=0.0, yield_variation=0.0))
    total = (ds["6Li"] + ds["7Li"]).values.astype(float)
    assert total.var() / total.mean() == pytest.approx(1.0, abs=0.05)  # Fano factor 1 (10^4 pixels)


def test_psf_blurs_a_step_and_dead_time_loses_counts():
    c = np.zeros((40, 80))
    c[:, 40:] = 1.0
    sharp = synthetic_sims(c, pixel_size_um=1.0,
                           sims=SimsOptions(psf_sigma_um=0.0, yield_variation=0.0, counts_per_pixel=1e6))
    blurred = synthetic_sims(c, pixel_size_um=1.0,
                             sims=SimsOptions(psf_sigma_um=3.0, yield_variation=0.0, counts_per_pixel=1e6))
    f = lambda ds: (ds["6Li"] / (ds["6Li"] + ds["7Li"])).values.mean(axis=0)  # noqa: E731
    assert f(sharp)[39] == pytest.approx(0.0759, abs=2e-3) and f(blurred)[39] > 0.3  # half-way at the edge
    dead = synthetic_sims(np.zeros((30, 30)), pixel_size_um=1.0, seed=3,
                          sims=SimsOptions(counts_per_pixel=1e4, dead_time_s=1e-5, dwell_time_s=0.1,
                                           yield_variation=0.0, psf_sigma_um=0.0))
    # Non-paralysable: 7Li rate 9.2e4/s * 1e-5 s = 0.92 -> observed / true = 1/1.92.
    expected_7 = 1e4 * (1 - 0.0759) / (1 + 1e4 * (1 - 0.0759) * 1e-5 / 0.1)
    assert dead["7Li"].values.mean() == pytest.approx(expected_7, rel=0.01)
    assert metadata(dead)["truth"]["sims"]["dead_time_s"] == 1e-5


def test_standard_exchange_image():
    ds, result = synthetic_exchange_image(shape=(60, 100), mean_grain_um=12.0, seed=4,
                                          exchange=ExchangeConditions(dgb_sigma_ln=0.5, exchange_time=20 * 3600.0))
    assert ds["6Li"].shape == (60, 100) == result.c.shape
    rows = result.c.mean(axis=1)
    assert rows[-1] > rows[30] > rows[0]  # solution at the bottom: 6Li rises upward from the last row
    assert np.all(np.diff(rows) > 0)
    truth = metadata(ds)["truth"]
    gb = np.array([b["dgb_over_delta"] for b in truth["boundaries"]])
    assert len(gb) == len(result.grains.boundary_pairs()) > 20
    assert np.std(np.log(gb)) == pytest.approx(0.5, rel=0.25)  # the requested log-normal spread
    assert truth["d_bulk"] == 2.6e-12 and truth["dgb_sigma_ln"] == 0.5
    assert truth["steps"][0]["source_edge"] == "bottom"


def test_cli_writes_images_and_truth(tmp_path):
    out = tmp_path / "sim"
    runner = CliRunner()
    res = runner.invoke(app, ["simulate", "--shape", "40x64", "--pixel-size", "1um", "--grain-size", "10 um",
                              "--grain-size-sd", "3 um", "--d-bulk", "2.6e-8 cm^2/s", "--dgb-over-delta",
                              "1.5e-6 cm/s", "--exchange-time", "5h", "--counts", "500", "--seed", "1",
                              "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["d_bulk_m2_s"] == pytest.approx(2.6e-12)
    truth = json.loads((out / "truth.json").read_text())
    assert truth["steps"][0]["duration_s"] == 5 * 3600
    import tifffile

    counts6 = tifffile.imread(out / "6Li.tif")
    assert counts6.shape == (40, 64)
    with xr.open_dataset(out / "image.h5", engine="h5netcdf") as ds:
        assert np.array_equal(ds["6Li"].values, counts6)
        assert json.loads(ds.attrs["metadata_json"])["truth"]["seed"] == 1
    # No temp files left; the marker says the folder is a simulate output (issue 14).
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".tracerdiff-output"]


def test_cli_bad_input_is_one_line_error(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--d-bulk", "-2 cm^2/s"])
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("error:") and "--d-bulk" in res.stderr
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--shape", "20x"])
    assert res.exit_code == 2 and "--shape" in res.stderr


def test_exchange_image_cropped_from_a_taller_sample():
    kwargs = dict(shape=(40, 60), mean_grain_um=10.0, exchange=ExchangeConditions(exchange_time="10 h"), seed=2)
    closed_top, _ = synthetic_exchange_image(**kwargs)
    ds, result = synthetic_exchange_image(domain_rows=400, **kwargs)
    assert result.c.shape == (40, 60) == ds["6Li"].shape
    # Semi-infinite sample: tracer leaks past the field of view, so less stays inside than with
    # a closed top 40 um above the solution.
    assert _fraction(ds) < _fraction(closed_top)
    truth = metadata(ds)["truth"]
    assert truth["domain_shape"] == [400, 60]
    pairs = [tuple(b["grains"]) for b in truth["boundaries"]]
    assert pairs == [tuple(p) for p in result.grains.boundary_pairs().tolist()]
    assert len(truth["steps"][0]["dgb_over_delta"]) == len(pairs)
