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


# --- acceptance QA regressions


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_inspect_counts_non_finite_pixels_instead_of_printing_nan(tmp_path):
    # was min = max = sum = NaN (JSON null) for a float image with one NaN pixel
    np.save(tmp_path / "f.npy", np.array([[1.0, np.nan], [2.0, 3.0]]))
    result = RUNNER.invoke(app, ["inspect", str(tmp_path / "f.npy"), "--json"])
    assert result.exit_code == 0, result.output
    ch = json.loads(result.stdout)["channels"]["counts"]
    assert (ch["min"], ch["max"], ch["sum"], ch["non_finite"]) == (1.0, 3.0, 6.0, 1)
    table = RUNNER.invoke(app, ["inspect", str(tmp_path / "f.npy")])
    assert table.exit_code == 0 and "nan" not in table.stdout.lower() and "1 NaN/infinite" in table.stderr


def test_inspect_lazy_stack_statistics_match_numpy(tmp_path):
    stack = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    stack[1, 2, 3] = np.inf
    np.save(tmp_path / "s.npy", stack)
    result = RUNNER.invoke(app, ["inspect", str(tmp_path / "s.npy"), "--json"])
    ch = json.loads(result.stdout)["channels"]["counts"]
    finite = stack[np.isfinite(stack)]
    assert (ch["min"], ch["max"], ch["sum"], ch["non_finite"]) == (finite.min(), finite.max(), finite.sum(), 1)


def test_reader_errors_name_the_file_once(tmp_path):
    # was "m.npz: NumPy .npz: m.npz: channels have different shapes ..."
    np.savez(tmp_path / "m.npz", **{"6Li": np.ones((4, 4)), "7Li": np.ones((5, 5))})
    line = _one_error_line(RUNNER.invoke(app, ["inspect", str(tmp_path / "m.npz")]))
    assert line.count("m.npz") == 1 and "different shapes" in line


def test_pixel_size_and_channels_options_are_checked_by_flag(tmp_path):
    np.save(tmp_path / "a.npy", SIX[0])
    for value in ("-1", "0", "nan", "inf"):
        line = _one_error_line(RUNNER.invoke(app, ["inspect", str(tmp_path / "a.npy"), "--pixel-size-um", value]))
        assert line.startswith("error: --pixel-size-um: must be a positive number")
    line = _one_error_line(RUNNER.invoke(app, ["inspect", str(tmp_path / "a.npy"), "--channels", ","]))
    assert line.startswith("error: --channels: no channel names")


def test_convert_refuses_bad_outputs_before_writing(tmp_path):
    np.save(tmp_path / "a.npy", SIX[0])
    src = str(tmp_path / "a.npy")
    # HDF5 written under a .txt name used to succeed silently
    line = _one_error_line(RUNNER.invoke(app, ["convert", src, str(tmp_path / "a.txt"), "--pixel-size-um", "1"]))
    assert "name it with one of .h5" in line
    # a folder named like a file: was an OSError about the temporary file
    (tmp_path / "dir.h5").mkdir()
    line = _one_error_line(RUNNER.invoke(app, ["convert", src, str(tmp_path / "dir.h5"), "--pixel-size-um", "1"]))
    assert "output is a folder" in line
    # no pixel size: the hint names the CLI flag, not the Python keyword
    line = _one_error_line(RUNNER.invoke(app, ["convert", src, str(tmp_path / "a.h5")]))
    assert line == f"error: {src}: the file does not record a pixel size: pass --pixel-size-um"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "dir.h5"]  # nothing else written


def test_inspect_json_leaves_out_what_the_file_does_not_record(tmp_path):
    # pixel size, field of view and masses were JSON null; now absent and listed under "unknown"
    np.save(tmp_path / "a.npy", SIX[0])
    info = json.loads(RUNNER.invoke(app, ["inspect", str(tmp_path / "a.npy"), "--json"]).stdout)
    assert "pixel_size_um" not in info and "mass_u" not in info["channels"]["counts"]
    assert info["unknown"] == ["pixel_size_um", "field_of_view_um", "channels.counts.mass_u"]
    known = json.loads(RUNNER.invoke(app, ["inspect", str(tmp_path / "a.npy"), "--json",
                                           "--pixel-size-um", "0.5"]).stdout)
    assert known["pixel_size_um"] == 0.5 and known["field_of_view_um"] == [1.0, 1.0]  # 2 x 2 pixels of 0.5 um
    # the one null left is an answer, not a missing value: "counts" is no isotope (issue 13: "isotope" is
    # the canonical isotope or null for a molecular or unknown species)
    assert known["channels"]["counts"]["isotope"] is None
    known["channels"]["counts"].pop("isotope")
    assert "null" not in json.dumps(known)
