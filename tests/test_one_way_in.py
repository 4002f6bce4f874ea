"""Issue 15: one way in for files. One layout gives one profile through every entry point, and
one RGB micrograph gives one grey image through ``run`` and ``boundaries``."""

import json
import shutil

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from tracerdiff import io as tio
from tracerdiff.cli import app
from tracerdiff.errors import FileFormatError
from tracerdiff.profiles import profile_data, read_profile
from tracerdiff.profiles.synthetic import exchange_then_closed

runner = CliRunner()
HOUR, WEEK = 3600.0, 7 * 86400.0

# Layouts of one line scan: (header, separator, position unit in um, comment mark). Together they
# cover what either old parser accepted (x_angstrom; ';'; tabs; 'x [um]'; 'Depth (nm)'; spaces).
LAYOUTS = {
    "comma_um": ("x_um,I6Li,I7Li", ",", 1.0, "#"),
    "semicolon_angstrom": ("x_angstrom;6Li;7Li", ";", 1e-4, "#"),
    "tab_brackets": ("x [um]\tI6Li\tI7Li", "\t", 1.0, "%"),
    "tab_depth_nm": ("Depth (nm)\t6Li\t7Li", "\t", 1e-3, "#"),
    "spaces_mm": ("x_mm I6Li I7Li", " ", 1e3, "//"),
    "slash_um": ("x/um,6Li,7Li", ",", 1.0, "#"),
}


def counts_scan(c, seed, n=4000):
    """Binomial counts of ``n`` ions per point for fractions ``c`` (seeded)."""
    i6 = np.random.default_rng(seed).binomial(n, np.clip(c, 0, 1))
    return i6, n - i6


def write_layout(path, layout, x_um, i6, i7):
    header, sep, unit_um, comment = LAYOUTS[layout]
    rows = [sep.join([repr(float(x / unit_um)), str(int(a)), str(int(b))]) for x, a, b in zip(x_um, i6, i7)]
    path.write_text(f"{comment} exported profile\n{header}\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def scans():
    """Fig. 4a-like scans (110 h exchange at 8e-9 cm^2/s, 2 weeks closed at 3e-9 cm^2/s) as counts, seeds 0 and 1."""
    s = exchange_then_closed(d_exchange=8.0e-13, exchange_time=110 * HOUR, d_closed=3.0e-13, times=(2 * WEEK,),
                             x=np.linspace(0, 3.5e-3, 120))
    x_um = np.asarray(s.initial["x"].values, dtype=float)
    first = counts_scan(profile_data(s.initial).c, seed=0)
    later = counts_scan(profile_data(s.later[0][1]).c, seed=1)
    return x_um, first, later


@pytest.fixture(scope="module")
def files(scans, tmp_path_factory):
    x_um, first, later = scans
    d = tmp_path_factory.mktemp("layouts")
    out = {}
    for layout in LAYOUTS:
        out[layout] = (write_layout(d / f"{layout}_0.csv", layout, x_um, *first),
                       write_layout(d / f"{layout}_2w.txt", layout, x_um, *later))
    return out


# Positions go through a unit conversion (e.g. angstrom -> um); after it they agree with the
# written micrometres to a few ulp, so 1e-12 relative is ample and still catches a wrong unit.
X_RTOL = 1e-12


@pytest.mark.parametrize("layout", LAYOUTS)
def test_io_registry_reads_the_columns_as_written(files, scans, layout):
    x_um, (i6, i7), _ = scans
    for ds in (tio.read(files[layout][0]), tio.read_line_scan(files[layout][0]),
               tio.read_as("line_scan", files[layout][0])):
        assert ds.attrs["format"] == "csv_profile" and len(ds.attrs["sha256"]) == 64
        np.testing.assert_allclose(ds["x"].values, x_um, rtol=X_RTOL, atol=1e-12)
        np.testing.assert_array_equal(ds["6Li"].values, i6)  # counts stay counts in io
        np.testing.assert_array_equal(ds["7Li"].values, i7)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_profiles_api_gives_the_same_profile(files, layout):
    ref = profile_data(read_profile(files["comma_um"][0]))
    got = profile_data(read_profile(files[layout][0]))
    np.testing.assert_allclose(got.x, ref.x, rtol=X_RTOL)
    np.testing.assert_array_equal(got.c, ref.c)  # C = I6 / (I6 + I7) of identical counts: bit-identical
    np.testing.assert_array_equal(got.c_stderr, ref.c_stderr)


def _cli_json(args):
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def _same_numbers(a, b, rtol):
    """Every number in two JSON trees agrees to ``rtol``; strings (file names aside) are equal."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            if k not in ("source", "file", "files"):
                _same_numbers(a[k], b[k], rtol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _same_numbers(u, v, rtol)
    elif isinstance(a, float) and isinstance(b, float):
        assert b == pytest.approx(a, rel=rtol, nan_ok=True)
    else:
        assert a == b or isinstance(a, str)


# The fits start from identical data except for positions rounded differently by the unit
# conversion (<= a few ulp); Levenberg-Marquardt stops at xtol 1e-12, so fitted values agree to
# far better than 1e-7.
FIT_RTOL = 1e-7


@pytest.mark.parametrize("layout", [k for k in LAYOUTS if k != "comma_um"])
def test_cli_erfc_gives_the_same_fit(files, layout):
    ref = _cli_json(["erfc", str(files["comma_um"][0]), "--time", "110h"])
    got = _cli_json(["erfc", str(files[layout][0]), "--time", "110h"])
    _same_numbers(ref, got, FIT_RTOL)
    assert ref["d_eff"]["value"] == pytest.approx(8.0e-9, rel=0.05)  # 4000 ions/point: a few % noise


@pytest.mark.parametrize("layout", [k for k in LAYOUTS if k != "comma_um"])
def test_cli_evolve_gives_the_same_fit(files, layout):
    def run(which):
        first, later = files[which]
        return _cli_json(["evolve", str(first), "--exchange-time", "110h", "--then", f"2w:{later}"])

    ref, got = run("comma_um"), run(layout)
    _same_numbers(ref, got, FIT_RTOL)
    assert ref["d_eff"]["value"] == pytest.approx(3.0e-9, rel=0.2)


@pytest.mark.parametrize("layout", [k for k in LAYOUTS if k != "comma_um"])
def test_study_runner_reads_the_same_profiles(tmp_path_factory, layout):
    # The study runner's data step (what `tracerdiff run` does before any analysis): the demo's
    # scans rewritten in another layout load to the same profiles.
    from tracerdiff.study.runner import load_study_data
    from tracerdiff.study.synthetic import write_synthetic_study

    base = tmp_path_factory.mktemp("study")
    toml = write_synthetic_study(base, seed=3, image=False)
    ref = load_study_data(toml)
    other = tmp_path_factory.mktemp("study_" + layout)
    shutil.copytree(base, other, dirs_exist_ok=True)
    assert ref.scans
    for name in ref.scans:
        ds = tio.read_line_scan(base / f"{name}.csv")
        write_layout(other / f"{name}.csv", layout, ds["x"].values, ds["6Li"].values, ds["7Li"].values)
    got = load_study_data(other / toml.name)
    for name, ds in ref.scans.items():
        a, b = profile_data(ds), profile_data(got.scans[name])
        np.testing.assert_allclose(b.x, a.x, rtol=X_RTOL)
        np.testing.assert_array_equal(b.c, a.c)
        np.testing.assert_array_equal(b.c_stderr, a.c_stderr)


def test_old_disagreements_are_gone(tmp_path):
    # profiles/load.py refused ';' and io/plain.py refused x_angstrom: both are now read, by one parser.
    x = [float(v) for v in np.arange(6.0) * 10]
    c = [float(v) for v in 0.9 - 0.1 * np.arange(6)]
    (tmp_path / "a.csv").write_text("x_angstrom,C\n" + "\n".join(f"{v * 1e4!r},{w!r}" for v, w in zip(x, c)))
    (tmp_path / "b.csv").write_text("x_um;C\n" + "\n".join(f"{v!r};{w!r}" for v, w in zip(x, c)))
    for name in ("a.csv", "b.csv"):
        d = profile_data(read_profile(tmp_path / name))
        np.testing.assert_allclose(d.x, np.array(x) * 1e-6, rtol=X_RTOL)
        np.testing.assert_array_equal(d.c, c)


@pytest.mark.parametrize("text, message", [
    ("x_um,C\n0,0.5\n1,oops\n", r"bad\.csv: line 3, column 'C': 'oops' is not a number"),
    ("x_um,C\n0,0.5\n1,0.4,7\n", r"bad\.csv: line 3 has 3 cells but the header has 2"),
    ("x_lightyear2,C\n0,0.5\n", r"bad\.csv: position column 'x_lightyear2': unknown length unit"),
    ("# only a comment\n", r"bad\.csv: "),
])
def test_errors_name_the_file_and_the_problem(tmp_path, text, message):
    (tmp_path / "bad.csv").write_text(text)
    for reader in (tio.read_line_scan, read_profile):
        with pytest.raises(FileFormatError, match=message):
            reader(tmp_path / "bad.csv")


def test_impedance_spectrum_and_series_table_go_through_io(tmp_path):
    from tracerdiff.models.impedance_fit import circuit_impedance

    f = np.logspace(6, -1, 30)
    z = circuit_impedance(f, 5000.0, 1e-9, 0.95, 800.0, 1e-6, 0.9)
    for sep, sign in ((",", 1), (";", -1), ("\t", 1)):  # Z'' stored as measured or as -Z''
        p = tmp_path / "is.csv"
        p.write_text(sep.join(["f_Hz", "Zre", "Zim"]) + "\n"
                     + "\n".join(sep.join([repr(float(a)), repr(float(b.real)), repr(float(sign * b.imag))]) for a, b in zip(f, z)))
        f2, z2 = tio.read_as("impedance_spectrum", p, min_points=12)
        np.testing.assert_array_equal(f2, f)
        np.testing.assert_array_equal(z2, z)
    (tmp_path / "d.csv").write_text("temperature_C,D_cm2_s\n22,2.6e-8\n100,3.0e-7\n")
    cols = tio.read_as("series_table", tmp_path / "d.csv")
    np.testing.assert_allclose(cols["temperature"], [295.15, 373.15], rtol=1e-15)
    np.testing.assert_allclose(cols["D"], [2.6e-12, 3.0e-11], rtol=1e-15)
    with pytest.raises(FileFormatError, match=r"is\.csv: need >= 40 rows"):
        tio.read_impedance_spectrum(tmp_path / "is.csv", min_points=40)


# ----------------------------------------------------------------------------- micrographs

def _rgb(shape=(80, 120), seed=0):
    """An RGB micrograph whose grooves show in green/blue only (red flat), with colour noise."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(150, 230, size=shape + (3,)).astype(np.uint8)
    rgb[..., 0] = 200
    for y in (10, 26, 42, 58, 74):
        rgb[y, :, 1:] = 20
    return rgb


def luma(rgb):
    """ITU-R BT.601 luma, written out by hand (the documented rule)."""
    rgb = rgb.astype(float)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


@pytest.mark.parametrize("fmt", ["tif", "png", "rgba_tif", "bmp"])
def test_one_rgb_micrograph_gives_one_grey_image_through_run_and_boundaries(tmp_path, monkeypatch, fmt):
    from skimage import io as skio

    from tracerdiff import boundaries
    from tracerdiff.errors import InputError
    from tracerdiff.study.runner import load_study_data

    rgb = _rgb()
    path = tmp_path / f"optical.{fmt.split('_')[-1]}"
    if fmt == "rgba_tif":
        tifffile.imwrite(path, np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), photometric="rgb")
    elif fmt == "tif":
        tifffile.imwrite(path, rgb, photometric="rgb")
    else:
        skio.imsave(path, rgb, check_contrast=False)
    expected = luma(rgb)  # lossless formats: exactly the file's pixels
    # `tracerdiff boundaries --optical`: capture what reaches the analysis.
    from test_boundaries_inputs import _staircase

    i6, i7 = _staircase()
    for name, a in (("6Li", i6), ("7Li", i7)):
        tifffile.imwrite(tmp_path / f"{name}.tif", a.astype(np.uint32))
    seen = {}

    def capture(ds, **kwargs):
        seen["boundaries"] = kwargs["optical"]
        raise InputError("captured")

    monkeypatch.setattr(boundaries, "analyse_boundaries", capture)
    res = runner.invoke(app, ["boundaries", str(tmp_path / "6Li.tif"), str(tmp_path / "7Li.tif"), "--pixel-size",
                              "1um", "--d-bulk", "2.6e-8 cm^2/s", "--optical", str(path)])
    assert res.exit_code == 2 and "captured" in res.stderr
    # `tracerdiff run`: the study's data step, which hands ctx.optical to the analysis.
    (tmp_path / "study.toml").write_text(f"""
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
[[measurements.images]]
name = "img"
after = "ex"
li6 = "6Li.tif"
li7 = "7Li.tif"
pixel_size = "1 um"
optical = "{path.name}"
""")
    run_grey = load_study_data(tmp_path / "study.toml").optical["img"]
    np.testing.assert_array_equal(run_grey, seen["boundaries"])
    np.testing.assert_allclose(run_grey, expected, rtol=1e-12)
    # red alone (what `run` used to keep) would miss the grooves entirely
    assert np.ptp(rgb[..., 0]) == 0 and run_grey[10].mean() < 0.5 * run_grey[11].mean()


def test_micrograph_errors_name_the_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(FileFormatError, match=r"broken\.png: cannot read the micrograph"):
        tio.read_micrograph(tmp_path / "broken.png")
    with pytest.raises(FileFormatError, match=r"missing\.tif: file does not exist"):
        tio.read_micrograph(tmp_path / "missing.tif")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4, 5)))
    with pytest.raises(FileFormatError, match=r"cube\.npy"):
        tio.read_micrograph(tmp_path / "cube.npy")


@pytest.mark.parametrize("comment", ["# line scan, 5 scans summed", "# ION-TOF SurfaceLab export"])
def test_a_vendor_looking_comment_does_not_change_the_profile(files, tmp_path, comment):
    # Comments naming scans or the vendor route a file to the SurfaceLab reader (which also reads
    # species/mass header rows); it uses the same header and unit parsing, so the profile is the same.
    ref = profile_data(read_profile(files["semicolon_angstrom"][0]))
    text = files["semicolon_angstrom"][0].read_text().splitlines()
    p = tmp_path / "vendor.csv"
    p.write_text("\n".join([comment, *text[1:]]) + "\n")
    got = profile_data(read_profile(p))
    np.testing.assert_allclose(got.x, ref.x, rtol=X_RTOL)
    np.testing.assert_array_equal(got.c, ref.c)
