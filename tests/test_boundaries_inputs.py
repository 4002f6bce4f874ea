"""Bad and degenerate inputs to the boundary analysis, and the CLI contract."""

import json

import matplotlib
import numpy as np
import pytest
import tifffile
from scipy.special import erfc
from typer.testing import CliRunner

from tracerdiff.boundaries import analyse_boundaries, analyse_lines
from tracerdiff.cli import app
from tracerdiff.errors import InputError
from tracerdiff.io.image import make_image

matplotlib.use("Agg")
D_BULK = "2.6e-8 cm^2/s"


def _staircase(shape=(80, 120), counts=20000, seed=0):
    """Horizontal boundaries every 16 px, step 0.03, gradient 2e-4 /px, source at the bottom."""
    rng = np.random.default_rng(seed)
    y = np.arange(shape[0], dtype=float)[:, None] * np.ones((1, shape[1]))
    c = 0.2 + 2e-4 * y + 0.03 * np.floor((y + 8) / 16)
    i6 = rng.binomial(counts, c)
    return i6, counts - i6


def _smooth_erfc(shape=(80, 120), counts=3000, seed=0):
    """A smooth diffusion profile from the bottom edge, no boundaries at all."""
    rng = np.random.default_rng(seed)
    y = np.arange(shape[0], dtype=float)[::-1, None] * np.ones((1, shape[1]))
    c = 0.1 + 0.7 * erfc(y / 80.0)
    i6 = rng.binomial(counts, c)
    return i6, counts - i6


class TestApi:
    def test_non_positive_pixel_size(self):
        i6, i7 = _staircase()
        for bad in (0.0, -1.0, float("nan")):
            with pytest.raises(InputError, match="pixel size"):
                analyse_boundaries(np.where(i6 + i7 > 0, i6 / (i6 + i7), np.nan), d_bulk=D_BULK,
                                   pixel_size_um=bad)

    def test_all_zero_counts(self):
        ds = make_image({"6Li": np.zeros((50, 60)), "7Li": np.zeros((50, 60))}, 1.0)
        with pytest.raises(InputError, match="no pixel has any counts"):
            analyse_boundaries(ds, d_bulk=D_BULK)

    def test_no_visible_step_gives_empty_explained_result(self):
        i6, i7 = _smooth_erfc()
        res = analyse_boundaries(make_image({"6Li": i6, "7Li": i7}, 1.0), d_bulk=D_BULK)
        # A smooth profile has no steps: nothing may be accepted, and the result says why.
        assert len(res.accepted) == 0
        assert res.summary.n == 0
        assert res.message
        d = res.to_dict()
        assert d["summary"]["dgb_over_delta"]["median"]["value"] is None
        json.dumps(d)

    def test_uniform_image_is_explained_not_crashed(self):
        ds = make_image({"6Li": np.full((40, 50), 300), "7Li": np.full((40, 50), 2700)}, 1.0)
        res = analyse_boundaries(ds, d_bulk=D_BULK)
        assert res.boundaries == () and "gradient" in res.message

    def test_bad_d_bulk_and_source_edge(self):
        ds = make_image(dict(zip(("6Li", "7Li"), _staircase())), 1.0)
        with pytest.raises(InputError):
            analyse_boundaries(ds, d_bulk="-1 cm^2/s")
        with pytest.raises(InputError, match="source edge"):
            analyse_boundaries(ds, d_bulk=D_BULK, source_edge="middle")
        with pytest.raises(InputError, match="line"):
            analyse_lines(ds, ["1,2,3"], d_bulk=D_BULK)
        with pytest.raises(InputError, match="leaves the image"):
            analyse_lines(ds, ["10,10,10,500"], d_bulk=D_BULK)

    def test_staircase_is_found_and_plots(self):
        ds = make_image(dict(zip(("6Li", "7Li"), _staircase())), 1.0)
        res = analyse_boundaries(ds, d_bulk=D_BULK, thickness="0.5 nm")
        # Truth: D_bulk * 2e-4/um / 0.03 = 2.6e-8 * 2 / 0.03 cm/s.
        assert res.summary.n >= 3
        assert res.summary.median.to()[0] == pytest.approx(2.6e-8 * 2 / 0.03, rel=0.2)
        fig = res.plot().figure
        assert len(fig.axes) >= 2


class TestCli:
    def _write(self, tmp_path, i6, i7):
        p6, p7 = tmp_path / "li6.tif", tmp_path / "li7.txt"
        tifffile.imwrite(p6, np.asarray(i6, dtype=np.uint32))
        np.savetxt(p7, i7, fmt="%d")
        return str(p6), str(p7)

    def test_json_schema(self, tmp_path):
        p6, p7 = self._write(tmp_path, *_staircase())
        out = CliRunner().invoke(app, ["boundaries", p6, p7, "--pixel-size", "1um", "--d-bulk", D_BULK,
                                       "--thickness", "0.5 nm", "--json", "--figure", str(tmp_path / "b.png")])
        assert out.exit_code == 0, out.output
        d = json.loads(out.stdout)
        summ = d["summary"]["dgb_over_delta"]
        for key in ("median", "mean", "geometric_mean"):
            assert set(summ[key]) == {"value", "stderr", "unit"} and summ[key]["unit"] == "cm/s"
        assert isinstance(summ["n"], int) and summ["n"] >= 3
        b = d["boundaries"][0]
        for key in ("dgb_over_delta", "dgb", "delta_c", "gradient"):
            assert set(b[key]) == {"value", "stderr", "unit"}
        assert b["dgb"]["unit"] == "cm^2/s" and b["gradient"]["unit"] == "1/cm"
        assert isinstance(b["accepted"], bool) and isinstance(b["reason"], str)
        assert len(b["grains"]) == 2
        assert (tmp_path / "b.png").stat().st_size > 1000

    def test_line_option(self, tmp_path):
        p6, p7 = self._write(tmp_path, *_staircase())
        out = CliRunner().invoke(app, ["boundaries", p6, p7, "--pixel-size", "1", "--d-bulk", D_BULK,
                                       "--line", "60,25,60,55,9", "--json"])
        assert out.exit_code == 0, out.output
        d = json.loads(out.stdout)
        assert len(d["boundaries"]) == 1 and d["boundaries"][0]["y_um"] == pytest.approx(39.5, abs=1.5)

    def test_optical_option_reports_shift(self, tmp_path):
        # Grooves where the staircase steps are (between rows 7|8, 23|24, ...), drawn 2 rows too low.
        p6, p7 = self._write(tmp_path, *_staircase())
        optical = np.full((80, 120), 200.0)
        for y in (10, 26, 42, 58, 74):
            optical[y, :] = 60.0
        tifffile.imwrite(tmp_path / "optical.tif", optical.astype(np.uint8))
        out = CliRunner().invoke(app, ["boundaries", p6, p7, "--pixel-size", "1um", "--d-bulk", D_BULK,
                                       "--optical", str(tmp_path / "optical.tif"), "--json"])
        assert out.exit_code == 0, out.output
        d = json.loads(out.stdout)
        # The staircase repeats every 16 rows, so the shift is only defined modulo 16.
        assert min((d["optical_shift_px"]["dy"] + 2.5) % 16, 16 - (d["optical_shift_px"]["dy"] + 2.5) % 16) < 1.0
        assert d["summary"]["dgb_over_delta"]["n"] >= 3

    def test_rgb_optical_uses_all_colour_channels(self, tmp_path):
        # io.read returns an RGB TIFF as channels R/G/B. The grooves here are dark in green and
        # blue only (red is flat): reading the first channel alone would see a uniform image
        # and fail ("uniform"); grey by the one documented rule (ITU-R BT.601 luma,
        # tracerdiff.io.micrograph; was the plain mean of R, G, B) shows them.
        from tracerdiff.cli.boundaries_cmds import _read_optical

        p6, p7 = self._write(tmp_path, *_staircase())
        rgb = np.full((80, 120, 3), 200, np.uint8)
        for y in (10, 26, 42, 58, 74):
            rgb[y, :, 1:] = 20
        tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
        grey = _read_optical(tmp_path / "rgb.tif", 1.0)
        assert grey.shape == (80, 120)
        # hand value: 0.299 * 200 + 0.587 * 20 + 0.114 * 20 = 73.82; weights sum to 1, so flat 200 stays 200
        assert grey[10, 0] == pytest.approx(73.82, rel=1e-12) and grey[11, 0] == pytest.approx(200, rel=1e-12)
        out = CliRunner().invoke(app, ["boundaries", p6, p7, "--pixel-size", "1um", "--d-bulk", D_BULK,
                                       "--optical", str(tmp_path / "rgb.tif"), "--json"])
        assert out.exit_code == 0, out.output
        d = json.loads(out.stdout)
        assert min((d["optical_shift_px"]["dy"] + 2.5) % 16, 16 - (d["optical_shift_px"]["dy"] + 2.5) % 16) < 1.0

    @pytest.mark.parametrize("case, args, message", [
        ("shapes", ["--pixel-size", "1um"], "shape"),
        ("zeros", ["--pixel-size", "1um"], "no pixel has any counts"),
        ("ok", ["--pixel-size", "0um"], "pixel size"),
        ("ok", ["--pixel-size", "-2um"], "pixel size"),
        ("ok", ["--pixel-size", "1 s"], "length"),
    ])
    def test_bad_input_is_one_line_error(self, tmp_path, case, args, message):
        i6, i7 = _staircase()
        if case == "shapes":
            i7 = i7[:, :-3]
        elif case == "zeros":
            i6, i7 = np.zeros_like(i6), np.zeros_like(i7)
        p6, p7 = self._write(tmp_path, i6, i7)
        out = CliRunner().invoke(app, ["boundaries", p6, p7, "--d-bulk", D_BULK, *args])
        assert out.exit_code == 2
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
