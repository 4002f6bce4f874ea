"""Readers for plain formats: TIFF (incl. multi-page), text matrices, CSV profiles, NumPy .npy/.npz."""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path

import numpy as np
import xarray as xr

from tracerdiff.errors import FileFormatError, InputError
from tracerdiff.io._base import (MAX_EAGER_BYTES, canonical_channel, frames_per_chunk,
                                 guard_size, lazy_from_file, lazy_from_memmap, select_channels)
from tracerdiff.io.image import make_image, make_profile

_LENGTH_TO_UM = {"um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
                 "micrometre": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6, "a": 1e-4, "å": 1e-4}
#: Block edge (pixels) of a lazily read 2D image: a tile of a large map reads only the blocks it covers.
LAZY_BLOCK_PX = 1024
_POSITION_NAMES = {"x", "position", "distance", "depth", "pos", "d", "z", "y", "r"}


def pixel_size(path: Path, from_file: float | None, override: float | None) -> float:
    """The pixel size to use: the caller's override, else the file's, else an error."""
    value = override if override is not None else from_file
    if value is None:
        raise InputError("the file does not record a pixel size: pass pixel_size_um", source=path)
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"pixel size must be positive and finite, got {value!r}", source=path)
    return value


def single_channel_name(channels, path: Path) -> str:
    """Name for the data of a one-channel file: the single requested name, else ``"counts"``."""
    if channels is None:
        return "counts"
    names = [channels] if isinstance(channels, str) else list(channels)
    if len(names) != 1:
        raise FileFormatError(f"file holds one channel but {len(names)} names were requested", source=path)
    return canonical_channel(names[0])


# ----------------------------------------------------------------------------- TIFF

def _tiff_pixel_size_um(tf) -> float | None:
    page = tf.pages[0]
    tags = page.tags
    xres = tags.get("XResolution")
    unit = tags.get("ResolutionUnit")
    if xres is None:
        return None
    num, den = xres.value if isinstance(xres.value, tuple) else (xres.value, 1)
    if not num or not den:
        return None
    per_unit = num / den  # pixels per resolution unit
    unit_code = int(unit.value) if unit is not None else 2
    ij_unit = (tf.imagej_metadata or {}).get("unit", "") if tf.is_imagej else ""
    if unit_code == 3:  # centimetre
        return 1e4 / per_unit
    if unit_code == 2 and not ij_unit:  # inch, the TIFF default; 72 dpi means "not set"
        return None if per_unit in (72.0, 96.0, 1.0) else 25400.0 / per_unit
    if str(ij_unit).lower() in ("micron", "um", "µm", "\\u00B5m", "μm"):
        return 1.0 / per_unit
    return None


def read_tiff(path: Path, *, pixel_size_um=None, channels=None, lazy=False, sha256="") -> xr.Dataset:
    """Read a single- or multi-page TIFF of counts (pages become a depth stack ``z``)."""
    import tifffile

    from tracerdiff.io.tiffcheck import check_tiff_structure

    check_tiff_structure(path)
    with tifffile.TiffFile(path) as tf:  # tifffile opens the file "rb"
        if not tf.pages:
            raise FileFormatError("TIFF has no pages", source=path)
        series = tf.series[0]
        shape, dtype = tuple(series.shape), np.dtype(series.dtype)
        # Pages appended one by one form one series each: stack equal 2D series as a depth stack.
        stacked = len(tf.series) > 1 and all(len(s.shape) == 2 and tuple(s.shape) == shape and s.dtype == dtype
                                             for s in tf.series)
        if stacked:
            shape = (len(tf.series),) + shape
        colour = series.axes.endswith("S") and len(shape) == 3 and shape[-1] in (3, 4) and not stacked
        if series.axes.startswith("S") and len(shape) == 3 and shape[0] in (3, 4):
            # tifffile.imwrite stores a (3|4, y, x) array this way unless told photometric="minisblack"
            raise FileFormatError(f"TIFF stores {shape[0]} planes of {shape[1]} x {shape[2]} as one separate-plane "
                                  "colour image, not as a depth stack; re-save the stack with "
                                  "photometric='minisblack' (one page per frame) or as .npy", source=path)
        if len(shape) not in (2, 3) or ("S" in series.axes and not colour):  # "S": samples per pixel
            raise FileFormatError(f"TIFF holds an array of shape {shape} (axes {series.axes}); expected (y, x) "
                                  "counts, a (pages, y, x) stack or an RGB(A) micrograph", source=path)
        compressed = any(int(p.compression) != 1 for p in tf.pages[:1])
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        segments = None
        if lazy and len(shape) == 2 and not colour and not stacked and series.dataoffset is None:
            # Compressed or scattered: read per strip or tile (each decode bounded by its segment).
            from tracerdiff.io.tiffsegments import lazy_tiff_page

            segments = lazy_tiff_page(path, series.pages[0], block_px=LAZY_BLOCK_PX,
                                      name=f"tiff-{path}-{path.stat().st_mtime_ns}")
        guard_size(path, nbytes, what="TIFF image data", lazy=lazy,
                   available=nbytes if segments is not None else MAX_EAGER_BYTES if compressed else None)
        size = _tiff_pixel_size_um(tf)
        meta = {"tiff_pages": shape[0] if len(shape) == 3 else 1, "dtype": str(dtype)}
        if tf.is_imagej:
            meta["imagej"] = {k: v for k, v in (tf.imagej_metadata or {}).items()
                              if isinstance(v, (str, int, float))}
        if stacked and lazy:
            data = _lazy_tiff_series(path, shape, dtype)
        elif stacked:
            data = np.stack([s.asarray() for s in tf.series])
        elif lazy and len(shape) == 3 and not colour:
            data = _lazy_tiff_pages(path, series, shape, dtype)
        elif segments is not None:
            data = segments
        elif lazy and len(shape) == 2 and series.dataoffset is not None:
            # One uncompressed, contiguous image: read by blocks of rows when computed (a large
            # mosaic analysed tile by tile never needs all of it in memory).
            data = lazy_from_file(path, series.dataoffset, shape, np.dtype(tf.byteorder + dtype.char),
                                  (min(shape[0], LAZY_BLOCK_PX), min(shape[1], LAZY_BLOCK_PX)),
                                  name=f"tiff-{path}-{path.stat().st_mtime_ns}")
        else:
            data = series.asarray()
    px = pixel_size(path, size, pixel_size_um)
    if colour:  # optical micrographs: one channel per colour plane
        planes = {c: np.asarray(data)[..., i] for i, c in enumerate("RGBA"[: shape[-1]])}
        meta["colour"] = True
        return make_image(select_channels(planes, channels, path), px, source_path=str(path), sha256=sha256,
                          fmt="tiff", metadata=meta)
    name = single_channel_name(channels, path)
    return make_image({name: data}, px, source_path=str(path), sha256=sha256, fmt="tiff", metadata=meta)


def _read_tiff_page(path: str, index: int, *, series: int | None = None) -> np.ndarray:
    import tifffile

    from tracerdiff.io._base import wrap_errors

    with wrap_errors(path, "TIFF"), tifffile.TiffFile(path) as tf:  # runs at compute time: wrap here too
        return tf.series[series].asarray() if series is not None else tf.series[0].pages[index].asarray()


def _lazy_tiff_series(path: Path, shape, dtype):
    import dask
    import dask.array as da

    return da.stack([da.from_delayed(dask.delayed(_read_tiff_page)(str(path), 0, series=i), shape=shape[1:],
                                     dtype=dtype) for i in range(shape[0])])


def _lazy_tiff_pages(path: Path, series, shape, dtype):
    """Dask array over a TIFF stack without loading it: memory-map contiguous data, else read per page."""
    import dask
    import dask.array as da
    import tifffile

    if series.dataoffset is not None:
        mm = tifffile.memmap(str(path), mode="r", series=0)
        return lazy_from_memmap(mm, (frames_per_chunk(shape, dtype.itemsize),) + tuple(shape[1:]),
                                name=f"tiff-{path}-{path.stat().st_mtime_ns}")
    if len(series.pages) == shape[0]:
        pages = [da.from_delayed(dask.delayed(_read_tiff_page)(str(path), i), shape=shape[1:], dtype=dtype)
                 for i in range(shape[0])]
        return da.stack(pages)
    return da.from_array(series.asarray(), chunks=(1,) + tuple(shape[1:]))  # compressed volume: eager


# ----------------------------------------------------------------------------- text

def read_text_matrix(path: Path, *, pixel_size_um=None, channels=None, lazy=False, sha256="") -> xr.Dataset:
    """Read a whitespace/comma/semicolon/tab separated matrix of counts; row 0 = top of the image.

    Parsed by the one table reader (:func:`tracerdiff.io.tabular.read_numeric_table`), without a header.
    """
    from tracerdiff.io.tabular import read_numeric_table

    arr = read_numeric_table(path, header=False, finite=True, what="text matrix").values
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise FileFormatError(f"text matrix of shape {arr.shape} is not an image", source=path)
    if np.all(arr == np.round(arr)) and arr.min() >= 0 and arr.max() < 2**63:
        arr = arr.astype(np.int64)
    px = pixel_size(path, None, pixel_size_um)
    name = single_channel_name(channels, path)
    return make_image({name: arr}, px, source_path=str(path), sha256=sha256, fmt="text_matrix",
                      metadata={"rows": int(arr.shape[0]), "columns": int(arr.shape[1])})


_HEADER_UNIT = re.compile(r"^(?P<name>.*?)\s*(?:\[(?P<u1>[^\]]*)\]|\((?P<u2>[^)]*)\)|/\s*(?P<u3>\S+))\s*$")


_NAMED_POSITION = re.compile(r"^(x|position|distance|depth)\s*[_\[(/]\s*([^\])]*)[\])]?$", re.IGNORECASE)


def split_header(col: str) -> tuple[str, str | None]:
    """``"x_um"`` / ``"x [um]"`` / ``"Depth (nm)"`` / ``"x/um"`` / ``"x_angstrom"`` -> (name, unit or None).

    A ``_unit`` suffix counts as a unit only when it is a length unit (``C_stderr`` is a name).
    """
    col = col.strip().strip('"').strip("'")
    m = _HEADER_UNIT.match(col)
    if m and m.group("name"):
        unit = m.group("u1") or m.group("u2") or m.group("u3")
        return m.group("name").strip(), unit.strip()
    if "_" in col:
        base, _, unit = col.rpartition("_")
        if length_factor_um(unit) is not None:
            return base, unit
    return col, None


def length_factor_um(unit: str | None) -> float | None:
    """Micrometres per ``unit`` (``"mm"`` -> 1000, ``"angstrom"`` -> 1e-4), or None if it is not a length unit.

    Common spellings are looked up; anything else is given to pint (``"micrometer"``, ``"mil"``).
    """
    if unit is None or not unit.strip():
        return None
    key = unit.strip().lower()
    if key in _LENGTH_TO_UM:
        return _LENGTH_TO_UM[key]
    if not re.fullmatch(r"[a-zA-Z]+", key):  # pint would evaluate "um/s", "1/cm", ...: only bare names
        return None
    from tracerdiff.errors import InputError as _InputError
    from tracerdiff.units import to_si

    try:
        return to_si(f"1 {key}", "length") * 1e6
    except _InputError:
        return None


def profile_from_table(header: list[str], arr: np.ndarray, path: Path, *, channels, sha256: str, fmt: str,
                       metadata: dict | None = None) -> xr.Dataset:
    """Build a line profile from a table: the position column and one channel per other column.

    The position is the first column with a length unit (``x_um``, ``x [um]``,
    ``Depth (nm)``, ``x_angstrom``); the other columns keep their values as read (counts,
    or C and C_stderr), named by :func:`canonical_channel` (``I6Li`` -> ``6Li``), with their
    header units in ``metadata["units"]``.
    """
    parsed = [split_header(h) for h in header]
    pos_index = next((i for i, (_, unit) in enumerate(parsed) if length_factor_um(unit) is not None), None)
    if pos_index is None:
        named = next((m for m in (_NAMED_POSITION.match(h.strip()) for h in header) if m), None)
        if named is not None:
            raise FileFormatError(f"position column {named.group(0)!r}: unknown length unit {named.group(2)!r} "
                                  "(use e.g. um, nm, mm, angstrom)", source=path)
        raise FileFormatError(f"no position column with a length unit among {list(header)}; name it e.g. "
                              "'x_um', 'x_angstrom' or 'x [um]'", source=path)
    x = arr[:, pos_index] * length_factor_um(parsed[pos_index][1])
    data = {}
    units = {}
    for i, (name, unit) in enumerate(parsed):
        if i == pos_index:
            continue
        key = canonical_channel(name)
        if not key or key in data:
            raise FileFormatError(f"empty or duplicate column name {header[i]!r}", source=path)
        data[key] = arr[:, i]
        if unit:
            units[key] = unit
    if not data:
        raise FileFormatError("profile has a position column but no data columns", source=path)
    data = select_channels(data, channels, path)
    meta = dict(metadata or {})
    meta.update(columns=list(header), units=units, position_column=header[pos_index])
    return make_profile(x, data, source_path=str(path), sha256=sha256, fmt=fmt, metadata=meta)


def read_csv_profile(path: Path, *, pixel_size_um=None, channels=None, lazy=False, sha256="") -> xr.Dataset:
    """Read a line scan: a header naming the columns with units, then rows of numbers.

    The one line-scan parser (``tracerdiff.profiles.read_profile`` and the study runner use it
    through :func:`tracerdiff.io.read`). Accepted: tab, comma, semicolon or whitespace
    separators; ``#``/``%``/``//`` comment lines; position headers ``x_um``, ``x_mm``,
    ``x_angstrom``, ``x [um]``, ``Depth (nm)``, ``x/um``; channel columns ``I6Li``/``I7Li`` or
    ``6Li``/``7Li`` (counts) or ``C`` (+ ``C_stderr``), or any other species. Values are
    returned as read (positions converted to micrometres); :mod:`tracerdiff.profiles` turns
    counts into the isotope fraction.
    """
    from tracerdiff.io.tabular import read_numeric_table

    table = read_numeric_table(path, header=True, finite=True, what="line scan")
    return profile_from_table(table.header, table.values, path, channels=channels, sha256=sha256,
                              fmt="csv_profile", metadata={"separator": table.separator or "whitespace"})


# ----------------------------------------------------------------------------- NumPy

def _npy_header(fh, path: Path, what: str):
    version = np.lib.format.read_magic(fh)
    reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in reader:
        raise FileFormatError(f"{what}: unsupported .npy version {version}", source=path)
    shape, fortran, dtype = reader[version](fh)
    if dtype.hasobject:
        raise FileFormatError(f"{what}: object arrays are refused (allow_pickle=False)", source=path)
    return shape, fortran, dtype


def read_npy(path: Path, *, pixel_size_um=None, channels=None, lazy=False, sha256="") -> xr.Dataset:
    """Read a 2D image or 3D stack from ``.npy`` (memory-mapped and dask-chunked when ``lazy``)."""
    with open(path, "rb") as fh:
        shape, _, dtype = _npy_header(fh, path, "npy")
        offset = fh.tell()
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    guard_size(path, nbytes, what="npy array", available=path.stat().st_size - offset, lazy=lazy)
    if lazy:
        mm = np.load(path, mmap_mode="r", allow_pickle=False)
        chunks = (frames_per_chunk(mm.shape, mm.dtype.itemsize),) + mm.shape[1:] if mm.ndim == 3 else mm.shape
        data = lazy_from_memmap(mm, chunks, name=f"npy-{sha256 or path}-{path.stat().st_mtime_ns}")
    else:
        data = np.load(path, allow_pickle=False)
    px = pixel_size(path, None, pixel_size_um)
    name = single_channel_name(channels, path)
    return make_image({name: data}, px, source_path=str(path), sha256=sha256, fmt="npy",
                      metadata={"dtype": str(dtype)})


def read_npz(path: Path, *, pixel_size_um=None, channels=None, lazy=False, sha256="") -> xr.Dataset:
    """Read ``.npz``: one array per channel; optional 0-d ``pixel_size_um``; a 1D ``x_um`` makes a profile."""
    arrays = {}
    total = 0
    with zipfile.ZipFile(path) as zf:  # opened "rb"
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as fh:
                shape, _, dtype = _npy_header(fh, path, info.filename)
                header_len = fh.tell()
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            guard_size(path, nbytes, what=f"npz member {info.filename}", available=info.file_size - header_len)
            total += nbytes
            if total > MAX_EAGER_BYTES:
                raise FileFormatError("npz members exceed the eager-read limit", source=path)
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                arrays[key] = npz[key]
    if not arrays:
        raise FileFormatError("npz archive holds no arrays", source=path)
    size = None
    if "pixel_size_um" in arrays:
        value = arrays.pop("pixel_size_um")
        if value.shape != () or value.dtype.kind not in "iuf":
            raise FileFormatError("npz entry pixel_size_um must be a number", source=path)
        size = float(value)
    if "x_um" in arrays:
        x = arrays.pop("x_um")
        data = select_channels({canonical_channel(k): v for k, v in arrays.items()}, channels, path)
        return make_profile(x, data, source_path=str(path), sha256=sha256, fmt="npz")
    data = select_channels({canonical_channel(k): v for k, v in arrays.items()}, channels, path)
    px = pixel_size(path, size, pixel_size_um)
    return make_image(data, px, source_path=str(path), sha256=sha256, fmt="npz",
                      metadata={"members": sorted(data)})
