"""`tracerdiff inspect` and `tracerdiff convert`."""

import json

import numpy as np
import xarray as xr
from typer.testing import CliRunner

from tracerdiff import io as tio
from tracerdiff.cli import app
from tracerdiff.io import synth

RUNNER = CliRunner()
SIX = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], dtype=np.uint32)
SEVEN = SIX * 10


def test_inspect_json_reports_channels_masses_and_counts(tmp_path):
    path = synth.write_ita(tmp_path / "a.ita", {"6Li+": SIX, "7Li+": SEVEN}, {"6Li+": 6.015, "7Li+": 7.016},
                           fov_um=8.0, shots_per_pixel=5)
    result = RUNNER.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["format"] == "iontof_ita"
    assert info["dims"] == {"y": 2, "x": 2}
    assert info["pixel_size_um"] == 4.0
    assert info["channels"]["6Li"]["mass_u"] == 6.015
    # scans summed: 1+5, 2+6, 3+7, 4+8
    assert (info["channels"]["6Li"]["min"], info["channels"]["6Li"]["max"], info["channels"]["6Li"]["sum"]) == \
        (6.0, 12.0, 36.0)
    assert info["primary_shots_per_pixel"] == 10


def test_inspect_table_and_unknown_pixel_size(tmp_path):
    np.save(tmp_path / "a.npy", SIX[0])
    result = RUNNER.invoke(app, ["inspect", str(tmp_path / "a.npy")])
    assert result.exit_code == 0
    assert "unknown" in result.stdout and "counts" in result.stdout


def test_convert_round_trip(tmp_path):
    path = synth.write_cameca_im(tmp_path / "n.im", {"6Li": SIX, "7Li": SEVEN}, [6.015, 7.016], raster_um=2.0)
    out = tmp_path / "out" / "n.h5"
    out.parent.mkdir()
    result = RUNNER.invoke(app, ["convert", str(path), str(out), "--stack", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["channels"] == ["6Li", "7Li"]
    back = tio.read(out)
    xr.testing.assert_identical(back, tio.read(path, stack=True))
    assert back.attrs["sha256"] == tio.sha256_file(path)  # provenance of the raw file survives


def test_bad_file_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"\xff" * 20)
    result = RUNNER.invoke(app, ["inspect", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "bad.tif" in result.stderr
    assert "Traceback" not in result.output
