"""Plain-format readers: TIFF, text matrix, CSV profile, .npy/.npz, HDF5 round trip, count pairs."""

import json
import os

import numpy as np
import pytest
import tifffile
import xarray as xr

from tracerdiff import io as tio
from tracerdiff.errors import FileFormatError, InputError

COUNTS = np.arange(12, dtype=np.uint16).reshape(3, 4)  # hand-derivable: row 0 = 0..3 = top of image
STACK = np.arange(30, dtype=np.uint32).reshape(2, 3, 5)


def test_tiff_with_resolution_tags_gives_pixel_size_and_orientation(tmp_path):
    # 20000 px/cm = 0.5 um per pixel
    tifffile.imwrite(tmp_path / "a.tif", COUNTS, resolution=(20000, 20000), resolutionunit="CENTIMETER")
    ds = tio.read(tmp_path / "a.tif")
    assert ds.attrs["pixel_size_um"] == pytest.approx(0.5)
    np.testing.assert_array_equal(ds["counts"].values, COUNTS)
    assert ds["counts"].dims == ("y", "x")
    np.testing.assert_allclose(ds["x"].values, [0.0, 0.5, 1.0, 1.5])
    assert ds.attrs["sha256"] == tio.sha256_file(tmp_path / "a.tif")
    assert ds.attrs["format"] == "tiff"


@pytest.mark.parametrize("how", ["shaped", "appended", "imagej", "zlib"])
@pytest.mark.parametrize("lazy", [False, True])
def test_multipage_tiff_is_a_depth_stack(tmp_path, how, lazy):
    path = tmp_path / "s.tif"
    if how == "appended":
        for frame in STACK:
            tifffile.imwrite(path, frame, append=True)
    elif how == "imagej":
        tifffile.imwrite(path, STACK.astype(np.uint16), imagej=True, resolution=(4, 4), metadata={"unit": "um"})
    else:
        tifffile.imwrite(path, STACK, photometric="minisblack", compression="zlib" if how == "zlib" else None)
    ds = tio.read(path, pixel_size_um=None if how == "imagej" else 1.0, lazy=lazy, channels="7Li")
    assert ds["7Li"].dims == ("z", "y", "x")
    assert hasattr(ds["7Li"].data, "dask") == lazy
    np.testing.assert_array_equal(ds["7Li"].values, STACK)
    if how == "imagej":
        assert ds.attrs["pixel_size_um"] == pytest.approx(0.25)


def test_colour_tiff_gives_one_channel_per_plane(tmp_path):
    rgb = np.arange(60, dtype=np.uint8).reshape(4, 5, 3)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    ds = tio.read(tmp_path / "rgb.tif", pixel_size_um=1.0)
    assert list(ds.data_vars) == ["R", "G", "B"]
    np.testing.assert_array_equal(ds["G"].values, rgb[..., 1])
    assert ds["R"].dims == ("y", "x")


def test_colour_stack_tiff_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((2, 4, 5, 3), np.uint8), photometric="rgb")
    with pytest.raises(FileFormatError, match="RGB"):
        tio.read(tmp_path / "rgb.tif", pixel_size_um=1.0)


def test_tiff_without_pixel_size_needs_one(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", COUNTS)
    with pytest.raises(InputError, match="pixel_size_um"):
        tio.read(tmp_path / "a.tif")


@pytest.mark.parametrize("sep", [" ", ",", "\t", ";"])
def test_text_matrix(tmp_path, sep):
    path = tmp_path / "m.txt"
    path.write_text("# counts\n" + "\n".join(sep.join(str(v) for v in row) for row in COUNTS) + "\n")
    ds = tio.read(path, pixel_size_um=2.0, channels="6Li")
    np.testing.assert_array_equal(ds["6Li"].values, COUNTS)
    np.testing.assert_allclose(ds["y"].values, [0, 2, 4])


def test_commented_text_matrix_is_not_mistaken_for_a_vendor_export(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("# 6Li counts, 2 x 5 pixels, field of view 10 um\n1 2 3 4 5\n6 7 8 9 10\n")
    ds = tio.read(path, pixel_size_um=2.0)
    assert ds.attrs["format"] == "text_matrix" and ds["counts"].shape == (2, 5)


def test_ragged_text_matrix_is_a_format_error(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("1 2 3\n4 5\n")
    with pytest.raises(FileFormatError, match="m.txt"):
        tio.read(path, pixel_size_um=1.0)


@pytest.mark.parametrize("header,factor", [("x_um", 1.0), ("x [nm]", 1e-3), ("x (mm)", 1e3), ("Distance/um", 1.0)])
def test_csv_profile_units(tmp_path, header, factor):
    path = tmp_path / "p.csv"
    path.write_text(f'"{header}",I6Li,I7Li,C\n0,10,90,0.1\n2,50,50,0.5\n4,90,10,0.9\n')
    ds = tio.read(path)
    np.testing.assert_allclose(ds["x"].values, np.array([0, 2, 4]) * factor)
    np.testing.assert_array_equal(ds["6Li"].values, [10, 50, 90])
    np.testing.assert_array_equal(ds["C"].values, [0.1, 0.5, 0.9])
    assert set(ds.data_vars) == {"6Li", "7Li", "C"}


def test_csv_profile_without_length_unit_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("x,I6Li\n0,1\n1,2\n")
    with pytest.raises(FileFormatError, match="x_um"):
        tio.read(path)


@pytest.mark.parametrize("lazy", [False, True])
def test_npy_2d_and_3d(tmp_path, lazy):
    np.save(tmp_path / "a.npy", STACK)
    ds = tio.read(tmp_path / "a.npy", pixel_size_um=0.5, lazy=lazy)
    np.testing.assert_array_equal(ds["counts"].values, STACK)
    assert ds["counts"].dims == ("z", "y", "x")


def test_npy_object_arrays_are_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="allow_pickle"):
        tio.read(tmp_path / "o.npy", pixel_size_um=1.0)


def test_npz_channels_and_pixel_size(tmp_path):
    np.savez_compressed(tmp_path / "a.npz", **{"6Li": COUNTS, "7Li": COUNTS * 2, "pixel_size_um": 0.25})
    ds = tio.read(tmp_path / "a.npz")
    assert ds.attrs["pixel_size_um"] == 0.25
    np.testing.assert_array_equal(ds["7Li"].values, COUNTS * 2)
    only = tio.read(tmp_path / "a.npz", channels=["7Li"])
    assert list(only.data_vars) == ["7Li"]
    with pytest.raises(FileFormatError, match="channel '8Li' not in file"):
        tio.read(tmp_path / "a.npz", channels=["8Li"])


def test_npz_profile(tmp_path):
    np.savez(tmp_path / "p.npz", x_um=np.array([0.0, 1.0, 2.0]), C=np.array([0.9, 0.5, 0.1]))
    ds = tio.read(tmp_path / "p.npz")
    assert ds["C"].dims == ("x",)
    np.testing.assert_array_equal(ds["x"].values, [0.0, 1.0, 2.0])


@pytest.mark.parametrize("lazy", [False, True])
def test_hdf5_round_trip_is_exact(tmp_path, lazy):
    ds = tio.make_image({"6Li": STACK, "7Li": STACK[::-1].copy()}, 0.7, source_path="/raw/a.ita",
                        sha256="ab" * 32, fmt="iontof", metadata={"masses": [6.015, 7.016], "note": "µm"})
    out = tio.write(ds, tmp_path / "o.h5")
    assert not list(tmp_path.glob(".o.h5.*"))  # temp file moved into place, none left over
    back = tio.read(out, lazy=lazy)
    xr.testing.assert_identical(back.load(), ds)
    assert back["6Li"].dtype == np.uint32
    assert json.loads(back.attrs["metadata_json"])["note"] == "µm"


def test_hdf5_profile_round_trip(tmp_path):
    ds = tio.make_profile(np.array([0.0, 1.5, 3.0]), {"C": np.array([1.0, 0.5, 0.25])}, fmt="csv_profile")
    back = tio.read(tio.write(ds, tmp_path / "p.nc"))
    xr.testing.assert_identical(back, ds)


def test_hdf5_pixel_size_override_regrids(tmp_path):
    ds = tio.make_image({"6Li": COUNTS}, 1.0)
    path = tio.write(ds, tmp_path / "o.h5")
    same = tio.read(path, pixel_size_um=1.0)
    xr.testing.assert_identical(same, ds)
    other = tio.read(path, pixel_size_um=0.25)
    np.testing.assert_allclose(other["x"].values, [0.0, 0.25, 0.5, 0.75])
    assert other.attrs["pixel_size_um"] == 0.25 and other["x"].attrs["units"] == "um"


def test_foreign_hdf5_is_refused(tmp_path):
    import h5py

    with h5py.File(tmp_path / "f.h5", "w") as h5:
        h5["data"] = np.zeros((2, 2))
    with pytest.raises(FileFormatError, match="not written by tracerdiff"):
        tio.read(tmp_path / "f.h5")


def test_write_refuses_unstorable_attrs(tmp_path):
    ds = tio.make_image({"6Li": COUNTS}, 1.0)
    ds.attrs["bad"] = {"a": 1}
    with pytest.raises(InputError, match="bad"):
        tio.write(ds, tmp_path / "o.h5")
    assert not list(tmp_path.iterdir())


def test_read_count_pair(tmp_path):
    tifffile.imwrite(tmp_path / "six.tif", COUNTS)
    np.savetxt(tmp_path / "seven.txt", COUNTS[::-1], fmt="%d")
    ds = tio.read_count_pair(tmp_path / "six.tif", tmp_path / "seven.txt", pixel_size_um=1.0)
    np.testing.assert_array_equal(ds["6Li"].values, COUNTS)
    np.testing.assert_array_equal(ds["7Li"].values, COUNTS[::-1])  # row 0 stays row 0
    assert ds.attrs["format"] == "count_pair"


def test_read_count_pair_shape_mismatch_names_both_files(tmp_path):
    tifffile.imwrite(tmp_path / "six.tif", COUNTS)
    tifffile.imwrite(tmp_path / "seven.tif", COUNTS[:2])
    with pytest.raises(InputError) as err:
        tio.read_count_pair(tmp_path / "six.tif", tmp_path / "seven.tif", pixel_size_um=1.0)
    assert "six.tif" in str(err.value) and "seven.tif" in str(err.value)


def test_content_wins_over_extension(tmp_path):
    np.save(tmp_path / "a.npy", COUNTS)
    os.rename(tmp_path / "a.npy", tmp_path / "looks_like.tif")
    ds = tio.read(tmp_path / "looks_like.tif", pixel_size_um=1.0)
    assert ds.attrs["format"] == "npy"


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"\x01\x02\x03\x04\x00garbage", "unrecognised")])
def test_unknown_content_is_a_clear_error(tmp_path, content, match):
    path = tmp_path / "x.bin"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=match) as err:
        tio.read(path)
    assert "x.bin" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match="does not exist"):
        tio.read(tmp_path / "nope.tif")


@pytest.mark.parametrize("kind", ["npy", "tiff", "hdf5"])
def test_lazy_stack_never_holds_the_whole_file(tmp_path, monkeypatch, kind):
    import tracemalloc

    import tracerdiff.io._base as base

    monkeypatch.setattr(base, "LAZY_CHUNK_BYTES", 1024**2)  # 32 frames of 128x128 uint16 per chunk
    # 16 MiB of many small frames, so dask's per-chunk partial sums (uint64, one frame each) stay small
    stack = np.full((512, 128, 128), 3, dtype=np.uint16)
    path = tmp_path / f"s.{kind}"
    if kind == "npy":
        np.save(path, stack)
    elif kind == "tiff":
        tifffile.imwrite(path, stack, photometric="minisblack")
    else:
        tio.write(tio.make_image({"counts": stack}, 1.0), path)
    del stack
    px = None if kind == "hdf5" else 1.0
    tio.read(path, pixel_size_um=px, lazy=True)  # warm up: first-time imports are not the file's cost
    tracemalloc.start()
    try:
        ds = tio.read(path, pixel_size_um=px, lazy=True)
        opened = tracemalloc.get_traced_memory()[1]
        total = ds["counts"].sum("z").values
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total[0, 0] == 3 * 512
    assert opened < 4 * 1024**2, f"opening allocated {opened / 1e6:.1f} MB"  # the file is 16 MiB
    assert peak < 8 * 1024**2, f"summing allocated {peak / 1e6:.1f} MB"


@pytest.mark.parametrize("frames", [3, 4])
def test_three_or_four_frame_stack_saved_as_planar_rgb_gets_a_fix_it_message(tmp_path, frames):
    # tifffile.imwrite(path, (3|4, y, x) array) stores separate-plane RGB(A), not 3/4 pages (with only a
    # DeprecationWarning); the old message ("expected ... a (pages, y, x) stack") described the file the
    # user thought they had. Written here explicitly as what that default produces.
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((frames, 8, 8), np.uint16), photometric="rgb", planarconfig="separate",
                     extrasamples=("unassalpha",) if frames == 4 else None)
    with pytest.raises(FileFormatError, match="separate-plane colour image, not as a depth stack.*minisblack"):
        tio.read(path, pixel_size_um=1.0)
    tifffile.imwrite(path, np.zeros((frames, 8, 8), np.uint16), photometric="minisblack")
    assert tio.read(path, pixel_size_um=1.0).sizes["z"] == frames
