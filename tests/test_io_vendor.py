"""Vendor readers on minimal valid files built from each format's documented structure.

The files come from :mod:`tracerdiff.io.synth`; what a real instrument file holds beyond
those parts is untested (see that module's docstring).
"""

import json
import os

import numpy as np
import pytest

from tracerdiff import io as tio
from tracerdiff.errors import FileFormatError
from tracerdiff.io import synth
from tracerdiff.io.iontof import check_block_tree

RNG = np.random.default_rng(20240731)
SCANS6 = RNG.poisson(4, size=(3, 4, 6)).astype(np.uint32)
SCANS7 = RNG.poisson(40, size=(3, 4, 6)).astype(np.uint32)


@pytest.fixture
def ita(tmp_path):
    return synth.write_ita(tmp_path / "m.ita", {"^6Li+": SCANS6, "^7Li+": SCANS7, "Na+": SCANS6 + 1},
                           {"^6Li+": 6.0151, "^7Li+": 7.016, "Na+": 22.99}, fov_um=60.0, shots_per_pixel=25)


def test_ita_sums_scans_and_reads_field_of_view(ita):
    ds = tio.read(ita)
    assert set(ds.data_vars) == {"6Li", "7Li"}  # default: the lithium pair, by peak name
    np.testing.assert_array_equal(ds["6Li"].values, SCANS6.sum(axis=0))
    np.testing.assert_array_equal(ds["7Li"].values, SCANS7.sum(axis=0))
    assert ds.attrs["pixel_size_um"] == pytest.approx(10.0)  # 60 um over 6 pixels
    meta = json.loads(ds.attrs["metadata_json"])
    assert meta["scans"] == 3 and meta["primary_shots_per_pixel"] == 75
    assert meta["peaks"]["6Li"]["cmass"] == pytest.approx(6.0151)


@pytest.mark.parametrize("lazy", [False, True])
def test_ita_stack_keeps_scans(ita, lazy):
    ds = tio.read(ita, stack=True, lazy=lazy)
    assert ds["7Li"].dims == ("z", "y", "x")
    assert hasattr(ds["7Li"].data, "dask") == lazy
    np.testing.assert_array_equal(ds["7Li"].values, SCANS7)


def test_ita_picks_channels_by_mass_when_names_differ(tmp_path):
    path = synth.write_ita(tmp_path / "m.ita", {"peak A": SCANS6, "peak B": SCANS7},
                           {"peak A": 6.05, "peak B": 6.98}, fov_um=30.0)
    ds = tio.read(path)
    np.testing.assert_array_equal(ds["6Li"].values, SCANS6.sum(axis=0))
    np.testing.assert_array_equal(ds["7Li"].values, SCANS7.sum(axis=0))


def test_ita_missing_peak_lists_what_is_there(tmp_path):
    path = synth.write_ita(tmp_path / "m.ita", {"Na+": SCANS6}, {"Na+": 22.99}, fov_um=30.0)
    with pytest.raises(FileFormatError, match=r"m.ita.*no peak for '6Li'.*Na\+"):
        tio.read(path)


def test_ita_cyclic_block_pointer_is_refused_not_looped(ita):
    raw = bytearray(ita.read_bytes())
    # Root folder's "next block" field (after 8-byte magic, 25-byte header, 0-byte name, 33 bytes) -> itself
    raw[8 + 25 + 33: 8 + 25 + 41] = (8).to_bytes(8, "little")
    ita.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match="cyclic"):
        check_block_tree(ita)
    with pytest.raises(FileFormatError, match="m.ita"):
        tio.read(ita)


def test_bif6_channels_by_mass_window(tmp_path):
    path = synth.write_bif6(tmp_path / "e.bif6", [
        (0, float("nan"), 0.0, 0.0, SCANS6[0] + SCANS7[0]),
        (5, 6.02, 5.95, 6.08, SCANS6[0]),
        (9, 7.01, 6.95, 7.08, SCANS7[0]),
        (12, 23.0, 22.9, 23.1, SCANS6[1])])
    ds = tio.read(path, pixel_size_um=1.5)
    assert list(ds.data_vars) == ["TIC", "6Li", "7Li", "23.000u"]
    np.testing.assert_array_equal(ds["7Li"].values, SCANS7[0])
    assert ds.attrs["pixel_size_um"] == 1.5
    only = tio.read(path, pixel_size_um=1.5, channels=["6Li", "7Li"])
    assert list(only.data_vars) == ["6Li", "7Li"]


def test_bif6_truncated_names_sizes(tmp_path):
    path = synth.write_bif6(tmp_path / "e.bif6", [(0, 0.0, 0.0, 0.0, SCANS6[0])])
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(FileFormatError, match="e.bif6.*bytes"):
        tio.read(path, pixel_size_um=1.0)


@pytest.mark.parametrize("bpp", [2, 4])
@pytest.mark.parametrize("stack", [False, True])
def test_cameca_image(tmp_path, bpp, stack):
    path = synth.write_cameca_im(tmp_path / "n.im", {"6Li": SCANS6, "7Li": SCANS7, "12C": SCANS6 * 2},
                                 [6.015, 7.016, 12.0], raster_um=12.0, bytes_per_pixel=bpp)
    ds = tio.read(path, stack=stack, channels=["6Li", "7Li"])
    expected = SCANS6 if stack else SCANS6.sum(axis=0)
    np.testing.assert_array_equal(ds["6Li"].values, expected)
    assert ds.attrs["pixel_size_um"] == pytest.approx(2.0)  # 12 um raster over 6 pixels
    assert json.loads(ds.attrs["metadata_json"])["labels"] == ["6Li", "7Li", "12C"]
    assert "Anal_param_nano" in ds.attrs["reader_warnings"]  # minimal file lacks that section; recorded


def test_cameca_declared_size_must_match(tmp_path):
    path = synth.write_cameca_im(tmp_path / "n.im", {"6Li": SCANS6}, [6.015], raster_um=5.0)
    path.write_bytes(path.read_bytes() + b"\x00" * 8)
    with pytest.raises(FileFormatError, match="n.im.*declares"):
        tio.read(path)


def test_surfacelab_image_and_stack(tmp_path):
    path = synth.write_surfacelab_image(tmp_path / "run - 6Li+.txt", SCANS6, channel="6Li+", mass=6.015,
                                        fov_um=(30.0, 20.0))
    ds = tio.read(path)
    np.testing.assert_array_equal(ds["6Li"].values, SCANS6.sum(axis=0))
    assert ds.attrs["pixel_size_um"] == pytest.approx(5.0)
    np.testing.assert_array_equal(tio.read(path, stack=True)["6Li"].values, SCANS6)


def test_surfacelab_channel_from_mass_and_units(tmp_path):
    path = tmp_path / "exp.txt"
    lines = ["# Peak: Li (7.02 u)", "# Field of view (x): 0.04 mm", "# Image size: 2 x 2 pixels", "# x y counts",
             "0 0 1", "1 0 2", "0 1 3", "1 1 4"]
    path.write_text("\n".join(lines) + "\n")
    ds = tio.read(path)
    np.testing.assert_array_equal(ds["7Li"].values, [[1, 2], [3, 4]])
    assert ds.attrs["pixel_size_um"] == pytest.approx(20.0)


def test_surfacelab_incomplete_export_is_refused(tmp_path):
    path = tmp_path / "exp.txt"
    path.write_text("# Field of view: 10 um\n# Image size: 3 x 3 pixels\n0\t0\t5\n1\t0\t6\n")
    with pytest.raises(FileFormatError, match="every pixel"):
        tio.read(path)


def test_surfacelab_profiles(tmp_path):
    x = np.array([0.0, 250.0, 500.0])
    ls = synth.write_surfacelab_profile(tmp_path / "ls.txt", x, {"6Li+": np.array([90, 50, 10]),
                                                                 "7Li+": np.array([10, 50, 90])})
    ds = tio.read(ls)
    np.testing.assert_array_equal(ds["x"].values, x)
    np.testing.assert_array_equal(ds["7Li"].values, [10, 50, 90])
    dp = synth.write_surfacelab_profile(tmp_path / "dp.txt", x, {"6Li+": np.array([1, 2, 3])}, position="Depth",
                                        unit="nm")
    np.testing.assert_allclose(tio.read(dp)["x"].values, x / 1000)
    tp = synth.write_surfacelab_profile(tmp_path / "tp.txt", x, {"6Li+": np.array([1, 2, 3])}, position="Time",
                                        unit="s")
    timed = tio.read(tp)  # against sputter time: dimension t (s), no length scale until converted
    assert dict(timed.sizes) == {"t": 3} and timed.attrs["profile_axis"] == "sputter_time"
    np.testing.assert_array_equal(timed["t"].values, x)


def test_every_reader_leaves_input_folder_untouched(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    synth.write_ita(folder / "a.ita", {"6Li+": SCANS6, "7Li+": SCANS7}, {"6Li+": 6.015, "7Li+": 7.016}, fov_um=6.0)
    synth.write_bif6(folder / "b.bif6", [(5, 6.015, 5.9, 6.1, SCANS6[0])])
    synth.write_cameca_im(folder / "c.im", {"6Li": SCANS6}, [6.015], raster_um=6.0)
    synth.write_surfacelab_image(folder / "d.txt", SCANS6[0], channel="6Li+", mass=6.015, fov_um=(6.0, 4.0))
    np.save(folder / "e.npy", SCANS6)
    import tifffile

    tifffile.imwrite(folder / "f.tif", SCANS6[0])
    for path in list(folder.iterdir()):
        os.chmod(path, 0o444)  # a reader that opened for writing would fail here
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size, tio.sha256_file(p)) for p in folder.iterdir()}
    for path in sorted(folder.iterdir()):
        tio.read(path, pixel_size_um=1.0, channels=["6Li"], stack=True, lazy=True).load()
        tio.read(path, pixel_size_um=1.0, channels=["6Li"])
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size, tio.sha256_file(p)) for p in folder.iterdir()}
    assert after == before
