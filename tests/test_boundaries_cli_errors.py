"""Review regressions: every bad ``tracerdiff boundaries`` input is one error line naming its
flag (exit 2, no traceback), and the odd-but-valid inputs work or are explained."""

import json

import matplotlib
import numpy as np
import pytest
import tifffile
from matplotlib import image as mpimg
from typer.testing import CliRunner

from tracerdiff.boundaries import analyse_boundaries, analyse_lines
from tracerdiff.cli import app
from tracerdiff.errors import InputError, SourceEdgeWarning
from tracerdiff.io.image import make_image

# Horizontal boundaries every 16 px, step 0.03, gradient 2e-4 /px, source at the bottom.
from test_boundaries_inputs import _staircase  # tests/ is on sys.path under pytest

matplotlib.use("Agg")
D_BULK = "2.6e-8 cm^2/s"
GROOVE_ROWS = (10, 26, 42, 58, 74)  # the staircase's steps (7|8, 23|24, ...) drawn 2 rows too low


def _grooves(shape=(80, 120)):
    img = np.full(shape, 200.0)
    for y in GROOVE_ROWS:
        if y < shape[0]:
            img[y, :] = 60.0
    return img


@pytest.fixture
def pair(tmp_path):
    i6, i7 = _staircase()
    p6, p7 = tmp_path / "li6.tif", tmp_path / "li7.txt"
    tifffile.imwrite(p6, np.asarray(i6, dtype=np.uint32))
    np.savetxt(p7, i7, fmt="%d")
    return str(p6), str(p7)


def _run(pair, *args):
    return CliRunner().invoke(app, ["boundaries", *pair, "--pixel-size", "1um", "--d-bulk", D_BULK, *args])


def _optical_file(tmp_path, kind):
    if kind == "small":
        path = tmp_path / "small.tif"
        tifffile.imwrite(path, _grooves((30, 50)).astype(np.uint8))
    elif kind == "uniform":
        path = tmp_path / "flat.tif"
        tifffile.imwrite(path, np.full((80, 120), 200, np.uint8))
    else:
        path = tmp_path / "broken.png"
        path.write_text("not an image")
    return str(path)


@pytest.mark.parametrize("args, flag, words", [
    (["--line", "a,b,c,d"], "--line", "x0,y0,x1,y1"),  # was a ValueError traceback
    (["--line", "1,2,3"], "--line", "x0,y0,x1,y1"),
    (["--line", "10,10,10,500"], "--line", "leaves the image"),
    (["--line", "60,40,60,40"], "--line", "shorter than"),
    (["--line", "60,25,60,55,-2"], "--line", "width must be positive"),
    (["--source-edge", "sideways"], "--source-edge", "auto, top"),
    (["--d-bulk", "-1 cm^2/s"], "--d-bulk", "positive"),  # was named 'd_bulk'
    (["--thickness", "-1 nm"], "--thickness", "positive"),
    (["--width", "0um"], "--width", "positive"),  # was silently ignored
    (["--optical", "small"], "--optical", "covers less than half"),  # was padded silently
    (["--optical", "uniform"], "--optical", "uniform"),  # phase correlation warned first
    (["--optical", "broken"], "broken.png", "cannot read"),
    (["--figure", "DIR"], "--figure", "directory"),  # was an OSError after the whole analysis
])
def test_bad_flag_is_one_line_naming_it(pair, tmp_path, args, flag, words):
    args = list(args)
    if args[0] == "--optical":
        args[1] = _optical_file(tmp_path, args[1])
    if args[0] == "--figure":
        args[1] = str(tmp_path)
    out = _run(pair, *args)
    assert out.exit_code == 2, out.output
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr
    assert flag in lines[0] and words in lines[0]


def test_source_edge_is_case_insensitive(pair):
    out = _run(pair, "--source-edge", "Bottom", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["source_edge"] == "bottom"


def test_png_rgb_optical_is_read(pair, tmp_path):
    # tracerdiff.io reads count-image formats only; micrographs are often PNG photos (RGBA).
    grey = _grooves() / 255.0
    mpimg.imsave(tmp_path / "optical.png", np.dstack([grey, grey, grey]))
    out = _run(pair, "--optical", str(tmp_path / "optical.png"), "--json")
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout)
    # The staircase repeats every 16 rows, so the shift is only defined modulo 16.
    dy = d["optical_shift_px"]["dy"] + 2.5
    assert min(dy % 16, 16 - dy % 16) < 1.0
    assert d["summary"]["dgb_over_delta"]["n"] >= 3


def test_larger_optical_is_located_and_said_so(pair, tmp_path):
    tifffile.imwrite(tmp_path / "big.tif", _grooves((90, 130)).astype(np.uint8))
    out = _run(pair, "--optical", str(tmp_path / "big.tif"), "--json")
    assert out.exit_code == 0, out.output
    assert "of the 130 x 90 px optical image" in json.loads(out.stdout)["message"]


def _reject_constant(name):
    raise AssertionError(f"{name} in JSON output")


def test_json_has_no_nan_and_issue_keys(pair):
    # Flagged boundaries have NaN D*gb/delta inside; JSON must carry null, never NaN/Infinity.
    out = _run(pair, "--json")
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout, parse_constant=_reject_constant)
    assert set(d["summary"]["dgb_over_delta"]) >= {"median", "mean", "geometric_mean", "n"}
    keys = {"grains", "x_um", "y_um", "dgb_over_delta", "dgb", "delta_c", "gradient", "accepted", "reason"}
    assert all(keys <= set(b) for b in d["boundaries"]) and d["boundaries"]


def test_figure_of_one_line_has_colour_bar():
    # One accepted value used to give no colour scale: the line was drawn grey, no colour bar.
    ds = make_image(dict(zip(("6Li", "7Li"), _staircase())), 1.0)
    res = analyse_lines(ds, ["60,25,60,55,9"], d_bulk=D_BULK)
    assert len(res.accepted) == 1
    fig = res.plot().figure
    assert any(ax.get_ylabel().startswith("D*gb/δ (cm/s)") for ax in fig.axes)


def test_figure_of_empty_result_explains_itself():
    ds = make_image({"6Li": np.full((40, 50), 300), "7Li": np.full((40, 50), 2700)}, 1.0)
    res = analyse_boundaries(ds, d_bulk=D_BULK)
    texts = [t.get_text() for ax in res.plot().figure.axes for t in ax.texts]
    assert any("no accepted boundary" in t and res.message in t for t in texts)


def test_wrong_source_edge_is_pointed_out():
    # The staircase's tracer comes from the bottom; with "top" every step has the wrong sign
    # and is flagged, and the message now says why instead of only "none passed".
    ds = make_image(dict(zip(("6Li", "7Li"), _staircase())), 1.0)
    # Said as a warning with a category, and kept in the result's message.
    with pytest.warns(SourceEdgeWarning, match="points to the bottom edge, not the given top edge"):
        res = analyse_boundaries(ds, d_bulk=D_BULK, source_edge="top")
    assert res.summary.n == 0
    assert "points to the bottom edge, not the given top edge" in res.message
    assert "not the given" not in analyse_boundaries(ds, d_bulk=D_BULK, source_edge="bottom").message


def test_wrong_source_edge_is_a_warning_on_the_command_line(pair):
    res = _run(pair, "--source-edge", "top", "--json")
    assert res.exit_code == 0, res.output
    assert "warning: the large-scale C trend points to the bottom edge" in res.stderr
    assert json.loads(res.stdout)["source_edge"] == "top"  # stdout stays one JSON document


@pytest.mark.parametrize("args, words", [
    (["--width", "5um"], "applies to --line only"),  # was silently ignored without --line
    (["--figure", "map.pdf"], "PNG"),  # PNG bytes used to be written under any name
])
def test_flags_that_would_be_ignored_or_misused(pair, tmp_path, args, words):
    if args[0] == "--figure":
        args = ["--figure", str(tmp_path / args[1])]
    out = _run(pair, *args)
    assert out.exit_code == 2 and words in out.stderr and args[0] in out.stderr
    assert not (tmp_path / "map.pdf").exists()


def test_one_line_as_text_is_one_line():
    # A bare string used to be iterated character by character ("got '6'").
    ds = make_image(dict(zip(("6Li", "7Li"), _staircase())), 1.0)
    res = analyse_lines(ds, "60,25,60,55,9", d_bulk=D_BULK)
    assert len(res.boundaries) == 1 and res.boundaries[0].y_um == pytest.approx(39.5, abs=1.5)


def test_api_odd_inputs_are_errors_or_work():
    i6, i7 = _staircase()
    c = i6 / (i6 + i7)
    with pytest.raises(InputError, match="2D image"):  # was an AxisError from the noise estimate
        analyse_boundaries(c[0], d_bulk=D_BULK, pixel_size_um=1.0)
    with pytest.raises(InputError, match="^width: line width"):  # was blamed on the line text
        analyse_lines(c, ["60,25,60,55"], d_bulk=D_BULK, pixel_size_um=1.0, width=0)
    # Text pixel sizes work as on the command line (were "not a number").
    assert analyse_boundaries(c, d_bulk=D_BULK, pixel_size_um="1 um").summary.n >= 3
    res = analyse_boundaries(c, d_bulk=D_BULK, pixel_size_um=1.0, labels=np.ones(c.shape, int))
    assert res.boundaries == () and "the given labels" in res.message  # said "the C map"


def test_optical_with_nan_pixels_is_used():
    # NaN pixels (no data) used to make the whole micrograph look "uniform".
    ds = make_image(dict(zip(("6Li", "7Li"), _staircase())), 1.0)
    optical = _grooves()
    optical[:, :10] = np.nan
    res = analyse_boundaries(ds, d_bulk=D_BULK, optical=optical)
    assert res.summary.n >= 3
    with pytest.raises(InputError, match="no finite pixel"):
        analyse_boundaries(ds, d_bulk=D_BULK, optical=np.full((80, 120), np.nan))


def test_table_lists_flag_reasons(pair):
    # The table used to show only how many were accepted, not why the rest were not.
    out = _run(pair)
    assert out.exit_code == 0, out.output
    d = json.loads(_run(pair, "--json").stdout)
    assert d["flagged"]  # the staircase has flagged segments (image-edge pieces, noise)
    for reason, n in d["flagged"].items():
        assert f"flagged: {reason}" in out.stdout


def test_figure_is_written_atomically_with_provenance(pair, tmp_path, monkeypatch):
    import tracerdiff.report.atomic as atomic

    titles = []
    real = atomic.figure_png_bytes

    def spy(fig, **kw):
        titles.append(fig.get_suptitle())
        return real(fig, **kw)

    monkeypatch.setattr(atomic, "figure_png_bytes", spy)
    out = _run(pair, "--figure", str(tmp_path / "map.png"))
    assert out.exit_code == 0, out.output
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed, not left behind
    assert "li6.tif + li7.txt" in titles[0] and "sha256" in titles[0] and "2.6e-08 cm^2/s" in titles[0]


def test_line_errors_quote_the_line_as_typed():
    # At 0.5 um/px the profile code reports pixel coordinates (200,...) the user never typed.
    ds = make_image(dict(zip(("6Li", "7Li"), _staircase())), 0.5)
    with pytest.raises(InputError, match=r"^line: '30,-5,30,20' \(µm\), in pixels: .*leaves the image"):
        analyse_lines(ds, ["30,-5,30,20"], d_bulk=D_BULK)


def test_inversion_method_recovers_the_staircase(pair, tmp_path):
    # The staircase is a steady 1D field: bulk slope 2e-4 /px, boundary steps 0.03, so
    # D*gb/delta = D*bulk * (2e-4 / 1 um) / 0.03 = 1.733e-6 cm/s (recovered to 2e-4 without noise).
    # With noise the slope limits it: ~4 % from five 16-row grains at sigma_C ~ 0.003. With the
    # grooves' micrograph (the inversion's intended input) measured 1.06, hence +-15 %; with
    # grains from the C map, which cuts the stripes into pieces, 0.84 (+-25 % below).
    tifffile.imwrite(tmp_path / "grooves.tif", _grooves().astype(np.uint8))
    out = _run(pair, "--method", "inversion", "--optical", str(tmp_path / "grooves.tif"), "--json")
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout, parse_constant=_reject_constant)
    med = d["summary"]["dgb_over_delta"]["median"]
    truth = 2.6e-8 * 2e2 / 0.03 * 1e-2
    assert med["unit"] == "cm/s" and med["value"] == pytest.approx(truth, rel=0.15)
    assert d["summary"]["dgb_over_delta"]["n"] >= 4
    c_map = json.loads(_run(pair, "--method", "inversion", "--json").stdout, parse_constant=_reject_constant)
    assert c_map["summary"]["dgb_over_delta"]["median"]["value"] == pytest.approx(truth, rel=0.25)
    assert {"median", "log_sd", "estimated"} <= set(d["population"])
    assert all(b["source"] == "inversion" for b in d["boundaries"])
    assert d["grain_map"]["origin"] == "optical" and c_map["grain_map"]["origin"] == "cmap"
    # The table names where the grain map came from (its error term depends on it).
    table = _run(pair, "--method", "inversion", "--optical", str(tmp_path / "grooves.tif")).stdout
    assert "grain map (micrograph)" in " ".join(table.split())


@pytest.mark.parametrize("args, flag, words", [
    (["--method", "magic"], "--method", "steps or inversion"),
    (["--method", "inversion", "--line", "60,25,60,55"], "--line", "manual path"),
    (["--method", "inversion", "--psf", "-1um"], "--psf", ">= 0"),
])
def test_inversion_flag_errors(pair, args, flag, words):
    out = _run(pair, *args)
    assert out.exit_code == 2 and flag in out.output and words in out.output, out.output
    assert "Traceback" not in out.output
