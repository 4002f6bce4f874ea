"""Compressed 2D TIFFs read lazily, strip by strip or tile by tile (tracerdiff.io.tiffsegments)."""

import hashlib
import pickle

import dask.array as da
import numpy as np
import pytest
import tifffile

import tracerdiff.io as tio
import tracerdiff.io.plain as plain
from tracerdiff.errors import FileFormatError
from tracerdiff.io.tiffsegments import TiffSegmentSource

# Every pixel distinct (mod 65521), so a misplaced strip or tile cannot go unnoticed.
IMAGE = (np.arange(1000 * 700, dtype=np.int64) % 65521).reshape(1000, 700).astype(np.uint16)
LAYOUTS = {
    "strips": dict(compression="zlib", rowsperstrip=64),
    "strips-predictor": dict(compression="zlib", predictor=True, rowsperstrip=37),  # 37 divides nothing here
    "tiles": dict(compression="zlib", tile=(128, 128)),  # 1000 x 700 px: the edge tiles are padded
}


def _write(tmp_path, layout, image=IMAGE):
    path = tmp_path / f"{layout}.tif"
    tifffile.imwrite(path, image, **LAYOUTS[layout])
    return path


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(plain, "LAZY_BLOCK_PX", 256)  # several blocks per axis on the 1000 x 700 image


@pytest.fixture
def decodes(monkeypatch):
    calls = []
    make_decoder = tifffile.TiffPage.__dict__["decode"].func  # a cached property returning the decoder

    def counting(self):
        decode = make_decoder(self)

        def wrapped(data, index, **kwargs):
            calls.append(index)
            return decode(data, index, **kwargs)
        return wrapped

    monkeypatch.setattr(tifffile.TiffPage, "decode", property(counting))
    return calls


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_lazy_compressed_tiff_equals_the_eager_read(tmp_path, small_blocks, layout):
    path = _write(tmp_path, layout)
    lazy = tio.read(path, pixel_size_um=1.0, lazy=True)
    eager = tio.read(path, pixel_size_um=1.0)
    name = next(iter(lazy.data_vars))
    data = lazy[name].data
    assert isinstance(data, da.Array)
    assert len(data.chunks[0]) > 1  # really split into blocks
    seg = LAYOUTS[layout].get("tile", (LAYOUTS[layout].get("rowsperstrip"), 700))
    # Block edges fall on segment edges: no segment is decoded by two blocks.
    assert all(c % seg[0] == 0 for c in data.chunks[0][:-1])
    assert all(c % seg[1] == 0 for c in data.chunks[1][:-1])
    np.testing.assert_array_equal(data.compute(), IMAGE)
    np.testing.assert_array_equal(eager[name].values, IMAGE)
    np.testing.assert_array_equal(data[5:300:3, 100:650:7].compute(), IMAGE[5:300:3, 100:650:7])


@pytest.mark.parametrize("layout, expected", [("tiles", 1), ("strips", 1), ("strips-predictor", 2)])
def test_a_small_slice_decodes_only_the_segments_it_overlaps(tmp_path, small_blocks, decodes, layout, expected):
    path = _write(tmp_path, layout)
    src = TiffSegmentSource(path, page=0, shape=IMAGE.shape, dtype=IMAGE.dtype,
                            segment_shape=LAYOUTS[layout].get("tile", (LAYOUTS[layout].get("rowsperstrip"), 700)),
                            segments_per_axis=tifffile.TiffFile(path).pages[0].chunked)
    decodes.clear()
    # rows 30-49: one 64-row strip, one 128 x 128 tile; with 37-row strips rows 30-49 span two.
    np.testing.assert_array_equal(src[30:50, 10:20], IMAGE[30:50, 10:20])
    assert len(decodes) == expected


def test_lazy_compressed_tiff_is_summed_without_holding_the_image(tmp_path, monkeypatch):
    import tracemalloc

    monkeypatch.setattr(plain, "LAZY_BLOCK_PX", 512)
    image = np.full((4096, 2048), 3, dtype=np.uint16)  # 16 MiB decoded
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, image, compression="zlib", tile=(256, 256))
    del image
    tio.read(path, pixel_size_um=1.0, lazy=True)  # warm up: first-time imports are not the file's cost
    tracemalloc.start()
    try:
        ds = tio.read(path, pixel_size_um=1.0, lazy=True)
        total = int(ds[next(iter(ds.data_vars))].data.sum(dtype=np.int64).compute())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == 3 * 4096 * 2048
    # One 512 x 512 block is 0.5 MiB; dask may hold a few at once. The whole image would be 16 MiB.
    assert peak < 6 * 1024**2, f"summing allocated {peak / 1e6:.1f} MB"


def test_the_source_pickles_as_its_layout_not_its_pixels(tmp_path):
    path = _write(tmp_path, "tiles")
    data = tio.read(path, pixel_size_um=1.0, lazy=True)
    src = TiffSegmentSource(path, page=0, shape=IMAGE.shape, dtype=IMAGE.dtype, segment_shape=(128, 128),
                            segments_per_axis=(8, 6))
    assert len(pickle.dumps(src)) < 1024  # the image is 1.4 MB
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(src))[:], IMAGE)
    assert data is not None


def test_a_corrupt_segment_is_an_error_naming_the_file_and_the_file_is_not_changed(tmp_path, small_blocks):
    path = _write(tmp_path, "strips")
    with tifffile.TiffFile(path) as tf:
        offset, count = int(tf.pages[0].dataoffsets[3]), int(tf.pages[0].databytecounts[3])
    raw = bytearray(path.read_bytes())
    raw[offset:offset + count] = b"\xff" * count  # not a zlib stream
    path.write_bytes(bytes(raw))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    ds = tio.read(path, pixel_size_um=1.0, lazy=True)  # opening reads no pixels
    data = ds[next(iter(ds.data_vars))].data
    np.testing.assert_array_equal(data[:64].compute(), IMAGE[:64])  # strip 0 is intact
    with pytest.raises(FileFormatError, match=str(path.name)):
        data.compute()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_slices_outside_the_source_protocol_are_refused(tmp_path):
    path = _write(tmp_path, "tiles")
    src = TiffSegmentSource(path, page=0, shape=IMAGE.shape, dtype=IMAGE.dtype, segment_shape=(128, 128),
                            segments_per_axis=(8, 6))
    with pytest.raises(TypeError):
        src[3]
    with pytest.raises(TypeError):
        src[::-1]
    assert src[10:10, :].shape == (0, 700)
