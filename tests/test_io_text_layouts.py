"""Text exports as instruments write them, generated with hypothesis (1000 cases per layout).

Each case writes a valid file in one of the layouts real exports use (CRLF or LF, trailing tabs,
decimal commas, ``inf`` in ratio columns, ``#`` column names or none) and checks that it is read
back with exactly the values written, or, for spectra and named-column tables, refused with one
line naming the file. The damaged-file fuzzing of the same layouts is in test_io_fuzz.py.
"""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracerdiff import io as tio
from tracerdiff.errors import FileFormatError
from tracerdiff.io import synth

CASES = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FOLDER = Path(tempfile.mkdtemp(prefix="tracerdiff-layouts-"))
SPECIES = [("^6Li+", 6.0151, "6Li"), ("Li+", 7.016, "7Li"), ("O-", 15.9949, "16O"), ("^18O-", 17.9992, "18O"),
           ("^13C-", 13.0034, "13C"), ("CN-", 26.003, "CN-"), ("^2H+", 2.0141, "2H"), ("Mg+", 23.985, "24Mg"),
           ("^26Mg+", 25.9826, "26Mg")]
values = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)


def _write(name: str, lines: list[str], *, crlf: bool, trailing: bool, sep: str = "\t") -> Path:
    end = "\r\n" if crlf else "\n"
    path = FOLDER / name
    path.write_bytes((end.join(ln + (sep if trailing and not ln.startswith("# ") else "") for ln in lines)
                      + end).encode("utf-8"))
    return path


def _num(v: float, comma: bool) -> str:
    text = "inf" if np.isinf(v) else f"{v:.6g}"
    return text.replace(".", ",") if comma else text


@CASES
@given(data=st.data(), n=st.integers(2, 30), crlf=st.booleans(), trailing=st.booleans(), comma=st.booleans(),
       depth=st.booleans(), ratio=st.booleans())
def test_surfacelab_depth_profiles(data, n, crlf, trailing, comma, depth, ratio):
    chosen = data.draw(st.lists(st.sampled_from(SPECIES), min_size=1, max_size=4, unique_by=lambda s: s[2]))
    axis = np.cumsum(data.draw(st.lists(st.floats(0.01, 100), min_size=n, max_size=n)))
    cols = {lab: np.array(data.draw(st.lists(values, min_size=n, max_size=n))) for lab, _, _ in chosen}
    if ratio:
        first = chosen[0][0]
        cols[f"{first} / ( total )"] = np.where(np.arange(n) % 3 == 0, np.inf, cols[first] / 7.0)
    labels = list(cols)
    masses = {lab: m for lab, m, _ in chosen}
    lines = ["# Profile Smoothing is Disabled",
             "#\t\t\t\t" + "\t".join(labels),
             "#\t\t\t\t" + "\t".join(_num(masses[k], comma) if k in masses else "N/A" for k in labels),
             "#Data Point #\t" + ("Depth (nm)" if depth else "Sputter Time (s)") + "\tDose (ions)\tFluence (ions/cm^2)\t"
             + "\t".join(["Intensity"] * len(labels))]
    for i in range(n):
        lines.append("\t".join([str(i + 1), _num(axis[i], comma), "1", "2"] + [_num(cols[k][i], comma) for k in labels]))
    ds = tio.read(_write("profile.txt", lines, crlf=crlf, trailing=trailing))
    coord = "x" if depth else "t"
    assert list(ds.dims) == [coord]
    expect_axis = np.array([float(f"{a:.6g}") for a in axis]) * (1e-3 if depth else 1.0)
    np.testing.assert_allclose(ds[coord].values, expect_axis, rtol=1e-12)
    for lab, _, name in chosen:
        np.testing.assert_array_equal(ds[name].values, [float(_num(v, False)) for v in cols[lab]])
    if ratio:
        assert np.isinf(ds[f"{chosen[0][0]} ÷ ( total )"].values[0])


@CASES
@given(data=st.data(), ny=st.integers(2, 6), nx=st.integers(2, 6), crlf=st.booleans(), trailing=st.booleans(),
       header=st.sampled_from(["none", "comment", "plain"]), scans=st.integers(0, 2), x_outer=st.booleans())
def test_text_images_as_triplets(data, ny, nx, crlf, trailing, header, scans, x_outer):
    nz = max(scans, 1)
    counts = np.array(data.draw(st.lists(st.integers(0, 10**6), min_size=nz * ny * nx, max_size=nz * ny * nx)))
    cube = counts.reshape(nz, ny, nx)
    names = ["x", "y"] + (["scan"] if scans else []) + ["counts"]
    lines = {"none": [], "comment": ["# " + "\t".join(names)], "plain": ["\t".join(names)]}[header]
    for z in range(nz):
        pairs = [(x, y) for x in range(nx) for y in range(ny)] if x_outer else [(x, y) for y in range(ny)
                                                                                 for x in range(nx)]
        for x, y in pairs:
            lines.append("\t".join([str(x), str(y)] + ([str(z)] if scans else []) + [str(cube[z, y, x])]))
    ds = tio.read(_write("triplets.txt", lines, crlf=crlf, trailing=trailing), pixel_size_um=0.5)
    assert ds.attrs["format"] == "surfacelab_image"
    np.testing.assert_array_equal(next(iter(ds.data_vars.values())).values, cube.sum(axis=0))


@CASES
@given(data=st.data(), ny=st.integers(2, 7), nx=st.integers(2, 7), crlf=st.booleans(), trailing=st.booleans(),
       fov=st.floats(1, 1000), sep=st.sampled_from(["\t", " ", ";", ","]))
def test_text_images_as_matrix_with_a_vendor_header(data, ny, nx, crlf, trailing, fov, sep):
    counts = np.array(data.draw(st.lists(st.integers(0, 10**6), min_size=ny * nx, max_size=ny * nx))).reshape(ny, nx)
    lines = ["# ION-TOF SurfaceLab ASCII image export", f"# Field of view: {fov:.6g} x {fov:.6g} um",
             f"# Image size: {nx} x {ny} pixels"] + [sep.join(str(v) for v in row) for row in counts]
    ds = tio.read(_write("matrix.txt", lines, crlf=crlf, trailing=trailing and sep != " ", sep=sep))
    np.testing.assert_array_equal(next(iter(ds.data_vars.values())).values, counts)
    assert ds.attrs["pixel_size_um"] == pytest.approx(float(f"{fov:.6g}") / nx, rel=1e-12)


@CASES
@given(data=st.data(), n=st.integers(1, 20), crlf=st.booleans(), trailing=st.booleans(), comment=st.booleans())
def test_spectra_are_refused_with_one_line(data, n, crlf, trailing, comment):
    rows = data.draw(st.lists(st.tuples(st.integers(0, 10**6), st.floats(0, 1000), st.integers(0, 10**6)),
                              min_size=n, max_size=n))
    head = ("# " if comment else "") + "Channel\tm/z\tIntensity"
    lines = ["# Binning: 200 channels", "# Deadtime Correction: on", head] + [f"{a}\t{b:.6f}\t{c}" for a, b, c in rows]
    path = _write("spectrum.txt", lines, crlf=crlf, trailing=trailing)
    with pytest.raises(FileFormatError, match="mass spectrum") as info:
        tio.read(path, pixel_size_um=1.0)
    assert "\n" not in str(info.value) and path.name in str(info.value)


NAMES = ["region", "mean", "sd", "n", "area", "label", "median", "grain", "perimeter", "sum"]


@CASES
@given(data=st.data(), n=st.integers(1, 20), crlf=st.booleans(), trailing=st.booleans(), comment=st.booleans(),
       sep=st.sampled_from(["\t", ",", ";", " "]))
def test_named_column_tables_are_never_count_images(data, n, crlf, trailing, comment, sep):
    names = data.draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=6, unique=True))
    rows = data.draw(st.lists(st.lists(st.integers(0, 1000), min_size=len(names), max_size=len(names)),
                              min_size=n, max_size=n))
    lines = [("# " if comment else "") + sep.join(names)] + [sep.join(map(str, r)) for r in rows]
    path = _write("stats.txt", lines, crlf=crlf, trailing=trailing and sep != " ", sep=sep)
    with pytest.raises(FileFormatError, match="looks like a table with named columns") as info:
        tio.read(path, pixel_size_um=1.0)
    assert "\n" not in str(info.value) and path.name in str(info.value) and names[0] in str(info.value)


def test_the_writer_of_the_real_layout_round_trips(tmp_path):
    t = np.array([0.0, 1.5, 3.0])
    path = synth.write_surfacelab_depth_profile(tmp_path / "p.txt", t, {"O-": (15.9949, [1.0, 2.0, 3.0]),
                                                                        "r": (None, [np.inf, 1.0, 2.0])},
                                                decimal_comma=True)
    ds = tio.read(path)
    np.testing.assert_array_equal(ds["t"].values, t)
    np.testing.assert_array_equal(ds["16O"].values, [1, 2, 3])
    assert np.isinf(ds["r"].values[0])
