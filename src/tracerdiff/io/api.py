"""The one door for every file tracerdiff reads.

* :func:`read` - count images, depth stacks and profiles of any supported format
  (:data:`FORMATS`, chosen by content);
* :func:`read_line_scan` - a line scan or depth profile (refuses images);
* :func:`read_micrograph` - an optical micrograph as grey (:mod:`.micrograph` states the
  colour-to-grey rule);
* :func:`read_series_table` - a CSV of values against temperature with units in the header;
* :func:`read_impedance_spectrum` - frequency, Z', Z'';
* :func:`read_count_pair` / :func:`read_tracer_pair` - two channels from one or two files.

:data:`KINDS` maps what a file holds to its reader. Tables are parsed by one reader
(:func:`tracerdiff.io.tabular.read_numeric_table`, pandas). Every failure is a
:class:`~tracerdiff.errors.FileFormatError` (or :class:`~tracerdiff.errors.InputError`)
naming the file and the problem.
"""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import xarray as xr

from tracerdiff.errors import FileFormatError, InputError
from tracerdiff.io._base import check_readable, sha256_file, wrap_errors
from tracerdiff.io.detect import extension_format, sniff
from tracerdiff.io.image import LI6, LI7, make_image

# format name -> (module, function, human name); vendor modules import lazily.
_READERS = {
    "tiff": ("tracerdiff.io.plain", "read_tiff", "TIFF"),
    "text_matrix": ("tracerdiff.io.plain", "read_text_matrix", "text matrix"),
    "csv_profile": ("tracerdiff.io.plain", "read_csv_profile", "CSV profile"),
    "npy": ("tracerdiff.io.plain", "read_npy", "NumPy .npy"),
    "npz": ("tracerdiff.io.plain", "read_npz", "NumPy .npz"),
    "hdf5": ("tracerdiff.io.hdf", "read_hdf5", "tracerdiff HDF5"),
    "surfacelab": ("tracerdiff.io.surfacelab", "read_surfacelab", "SurfaceLab ASCII export"),
    "text_spectrum": ("tracerdiff.io.surfacelab", "refuse_spectrum", "mass spectrum"),
    "text_table": ("tracerdiff.io.surfacelab", "refuse_table", "text table"),
    "iontof": ("tracerdiff.io.iontof", "read_ita", "IONTOF ITA/ITM"),
    "bif6": ("tracerdiff.io.iontof", "read_bif6", "IONTOF BIF6"),
    "cameca": ("tracerdiff.io.cameca", "read_cameca", "Cameca .im"),
}

FORMATS = tuple(_READERS)
_STACKABLE = {"iontof", "cameca", "surfacelab"}


def read(path: str | Path, *, pixel_size_um: float | None = None, channels=None, lazy: bool = False,
         stack: bool = False, format: str | None = None) -> xr.Dataset:  # noqa: A002 - mirrors the attr name
    """Read any supported file into the labelled image/profile type (:mod:`tracerdiff.io.image`).

    Parameters
    ----------
    path : str or pathlib.Path
        The raw file; it is opened read-only and never written.
    pixel_size_um : float, str or None
        Pixel size for formats that do not record one (TIFF without resolution tags, text,
        .npy, BIF6); overrides the file's value otherwise.
    channels : sequence of str or str, optional
        Channel names to keep (``"6Li"``, ``"7Li"``, ...); for one-channel files, the name to
        give the data (default ``"counts"``). IONTOF ITA/ITM default to ``("6Li", "7Li")``.
    lazy : bool
        Return dask-backed arrays (depth stacks are never loaded whole).
    stack : bool
        For ITA/ITM and Cameca files: keep one frame per scan/plane along ``z`` instead of
        summing them (TIFF/npy/HDF5 stacks are always returned as stored).
    format : str, optional
        Force a reader (one of :data:`FORMATS`) instead of detecting it.

    Raises
    ------
    FileFormatError
        The file is missing, unreadable, corrupt, or of no supported format; the message
        names the file.
    """
    p = check_readable(path)
    fmt = format or sniff(p)
    if fmt == "netcdf3":
        raise FileFormatError("NetCDF3 classic files are not supported; tracerdiff writes and reads "
                              "NetCDF4/HDF5", source=p)
    if fmt == "text":
        raise FileFormatError("text file with binary content", source=p)
    if fmt not in _READERS:
        raise InputError(f"unknown format {fmt!r}; choose one of {list(_READERS)}", source=p)
    module, func, human = _READERS[fmt]
    notes: list[str] = []
    # Hash in a thread while the reader parses (hashlib releases the GIL on large blocks).
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(sha256_file, p)
        try:
            with wrap_errors(p, human, caught_warnings=notes):
                reader = getattr(importlib.import_module(module), func)
                extra = {"stack": stack} if fmt in _STACKABLE else {}
                ds = reader(p, pixel_size_um=pixel_size_um, channels=channels, lazy=lazy, sha256="", **extra)
        except FileFormatError as exc:
            claimed = extension_format(p)
            if format is None and claimed not in (None, "text", fmt):
                # A mislabelled file: say that first, or the user is puzzled by a text-parser message
                # about their ".tif".
                raise FileFormatError(f"is not a {claimed} file (its bytes lack the {claimed} signature); "
                                      f"read as {human} instead: {exc.message}", source=p) from None
            raise
        if fmt != "hdf5":  # our own HDF5 files carry the raw file's provenance: keep it
            ds.attrs["sha256"] = digest.result()
        else:
            digest.result()
    if notes and fmt != "hdf5":
        ds.attrs["reader_warnings"] = "; ".join(dict.fromkeys(notes))[:2000]
    return ds


def read_tracer_pair(first: str | Path, second: str | Path | None = None, *, tracer: str = LI6, other: str = LI7,
                     pixel_size_um: float | None = None) -> xr.Dataset:
    """The tracer and other channels from one vendor file holding both, or from two one-channel files.

    Channel names are matched in any notation (``"^18O-"``, ``"18O"``); the result has the
    canonical names. With two files, the first holds the tracer.

    Raises
    ------
    FileFormatError
        A file is unreadable, or the single file lacks one of the channels (the message lists
        what it has).
    """
    from tracerdiff.species import canonical_channel

    t, o = canonical_channel(tracer), canonical_channel(other)
    if t == o:
        raise InputError(f"tracer and other are the same species ({t})", source="--other")
    if second is not None:
        return read_count_pair(first, second, pixel_size_um=pixel_size_um, tracer=t, other=o)
    ds = read(first, pixel_size_um=pixel_size_um)
    missing = [name for name in (t, o) if name not in ds.data_vars]
    if missing:
        raise FileFormatError(f"has no {' or '.join(missing)} channel (it has {sorted(ds.data_vars)}); name the "
                              "channels with --tracer/--other or give two files", source=first)
    return ds[[t, o]]


def read_count_pair(path_6: str | Path, path_7: str | Path, *, pixel_size_um: float, tracer: str = LI6,
                    other: str = LI7, lazy: bool = False) -> xr.Dataset:
    """Combine two single-channel files (TIFF or text matrix) into one tracer/other image (``6Li``/``7Li``).

    Row 0 of each file is the top of the image. Provenance of both files is kept in
    ``metadata_json`` (``source_path`` lists both, joined by ``" | "``). With ``lazy`` the
    channels stay dask arrays where the reader can defer the read (uncompressed TIFF, .npy),
    for an analysis in tiles (:func:`tracerdiff.boundaries.tiled.analyse_boundaries_tiled`).

    Raises
    ------
    InputError
        The two images have different shapes (the message names both files).
    FileFormatError
        Either file is unreadable or holds more than one channel.
    """
    first = _one_channel(path_6, pixel_size_um, tracer, lazy=lazy)
    second = _one_channel(path_7, pixel_size_um, other, lazy=lazy)
    a, b = first[tracer], second[other]
    if a.shape != b.shape:
        raise InputError(f"{tracer} image {path_6} has shape {tuple(a.shape)} but {other} image {path_7} has "
                         f"{tuple(b.shape)}; they must cover the same pixels")
    meta = {"files": {tracer: {"path": str(path_6), "sha256": first.attrs["sha256"],
                               "format": first.attrs["format"]},
                      other: {"path": str(path_7), "sha256": second.attrs["sha256"],
                              "format": second.attrs["format"]}}}
    if pixel_size_um is None:
        pixel_size_um = first.attrs["pixel_size_um"]
    return make_image({tracer: _array(a), other: _array(b)}, float(pixel_size_um),
                      source_path=f"{path_6} | {path_7}", sha256=f"{first.attrs['sha256']} | {second.attrs['sha256']}",
                      fmt="count_pair", metadata=meta)


def _array(da: xr.DataArray):
    """The channel's data: a dask array stays lazy, anything else becomes numpy."""
    data = da.data
    return data if hasattr(data, "dask") else np.asarray(data)


def _one_channel(path, pixel_size_um, name: str, *, lazy: bool = False) -> xr.Dataset:
    """A one-channel file, its data named ``name``; a vendor file keeps just that channel."""
    ds = read(path, pixel_size_um=pixel_size_um, lazy=lazy)
    if name in ds.data_vars:
        return ds[[name]]
    if len(ds.data_vars) == 1:
        return ds.rename({next(iter(ds.data_vars)): name})
    raise FileFormatError(f"holds channels {sorted(ds.data_vars)}, none of them {name}", source=path)


def read_line_scan(path: str | Path, *, channels=None) -> xr.Dataset:
    """A line scan or depth profile (dimension ``x`` in um, or ``t`` in s), its columns as read.

    Counts stay counts (:mod:`tracerdiff.profiles` turns them into the isotope fraction);
    positions are in micrometres whatever the file's unit. Any format :func:`read` knows is
    accepted (plain CSV/TSV/semicolon tables, SurfaceLab exports, .npz with ``x_um``, ...).

    Raises
    ------
    FileFormatError
        Unreadable file, or a file holding an image rather than a profile.
    """
    try:
        ds = read(path, channels=channels)
    except InputError as exc:
        if "does not record a pixel size" in str(exc):  # TIFF, text matrix, .npy: images
            raise FileFormatError("holds an image, not a line profile; give a line scan such as a CSV "
                                  "with columns x_um,I6Li,I7Li or x_um,C", source=path) from None
        raise
    if set(ds.dims) == {"t"}:
        return ds
    if set(ds.dims) != {"x"}:
        raise FileFormatError(f"expected a line profile along x, got dimensions {dict(ds.sizes)}", source=path)
    return ds


def read_micrograph(path: str | Path, *, pixel_size_um: float | None = None) -> np.ndarray:
    """An optical micrograph as a 2D grey float array on its own pixel grid (row 0 = top).

    Colour becomes grey by ITU-R BT.601 luma of the stored values (the rule is stated in
    :mod:`tracerdiff.io.micrograph`); ``tracerdiff run`` and ``tracerdiff boundaries
    --optical`` both read micrographs here.

    Parameters
    ----------
    path : str or Path
        PNG, JPEG, BMP, GIF, or any image :func:`read` reads (TIFF incl. RGB, .npy, HDF5, ...).
        Opened read-only.
    pixel_size_um : float, optional
        For formats that record no pixel size; the grey values do not depend on it.

    Raises
    ------
    FileFormatError
        Missing or unreadable file, or not a 2D grey or RGB image; the message names the file.
    """
    from tracerdiff.io.micrograph import PHOTO_SUFFIXES, grey_from_dataset, read_photo

    p = check_readable(path)
    if p.suffix.lower() in PHOTO_SUFFIXES:
        return read_photo(p)
    return grey_from_dataset(read(p, pixel_size_um=pixel_size_um if pixel_size_um is not None else 1.0), p)


def read_series_table(path: str | Path, **options) -> dict:
    """A CSV of values against temperature, in SI (see :func:`tracerdiff.io.table.read_series_csv`)."""
    from tracerdiff.io.table import read_series_csv

    return read_series_csv(path, **options)


def read_impedance_spectrum(path: str | Path, *, min_points: int = 3):
    """Frequency (Hz) and complex impedance (ohm) (see :func:`tracerdiff.io.spectrum.read_impedance_spectrum`)."""
    from tracerdiff.io.spectrum import read_impedance_spectrum as _read

    return _read(path, min_points=min_points)


#: What a file holds -> the function that reads it.
KINDS = {"image": read, "line_scan": read_line_scan, "micrograph": read_micrograph,
         "series_table": read_series_table, "impedance_spectrum": read_impedance_spectrum}


def read_as(kind: str, path: str | Path, **options):
    """Read ``path`` as ``kind`` (a key of :data:`KINDS`)."""
    if kind not in KINDS:
        raise InputError(f"unknown kind of file {kind!r}; choose one of {list(KINDS)}", source=path)
    return KINDS[kind](path, **options)

