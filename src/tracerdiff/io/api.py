"""The one door: :func:`read` any supported file, :func:`read_count_pair`, :func:`write`."""

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
    path
        The raw file; it is opened read-only and never written.
    pixel_size_um
        Pixel size for formats that do not record one (TIFF without resolution tags, text,
        .npy, BIF6); overrides the file's value otherwise.
    channels
        Channel names to keep (``"6Li"``, ``"7Li"``, ...); for one-channel files, the name to
        give the data (default ``"counts"``). IONTOF ITA/ITM default to ``("6Li", "7Li")``.
    lazy
        Return dask-backed arrays (depth stacks are never loaded whole).
    stack
        For ITA/ITM and Cameca files: keep one frame per scan/plane along ``z`` instead of
        summing them (TIFF/npy/HDF5 stacks are always returned as stored).
    format
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
                detail = str(exc).removeprefix(f"{exc.source}: ") if exc.source else str(exc)
                raise FileFormatError(f"is not a {claimed} file (its bytes lack the {claimed} signature); "
                                      f"read as {human} instead: {detail}", source=p) from None
            raise
        if fmt != "hdf5":  # our own HDF5 files carry the raw file's provenance: keep it
            ds.attrs["sha256"] = digest.result()
        else:
            digest.result()
    if notes and fmt != "hdf5":
        ds.attrs["reader_warnings"] = "; ".join(dict.fromkeys(notes))[:2000]
    return ds


def read_count_pair(path_6: str | Path, path_7: str | Path, *, pixel_size_um: float) -> xr.Dataset:
    """Combine two single-channel files (TIFF or text matrix) into one ``6Li``/``7Li`` image.

    Row 0 of each file is the top of the image. Provenance of both files is kept in
    ``metadata_json`` (``source_path`` lists both, joined by ``" | "``).

    Raises
    ------
    InputError
        The two images have different shapes (the message names both files).
    FileFormatError
        Either file is unreadable or holds more than one channel.
    """
    first = read(path_6, pixel_size_um=pixel_size_um, channels=LI6)
    second = read(path_7, pixel_size_um=pixel_size_um, channels=LI7)
    a, b = first[LI6], second[LI7]
    if a.shape != b.shape:
        raise InputError(f"6Li image {path_6} has shape {tuple(a.shape)} but 7Li image {path_7} has "
                         f"{tuple(b.shape)}; they must cover the same pixels")
    meta = {"files": {LI6: {"path": str(path_6), "sha256": first.attrs["sha256"], "format": first.attrs["format"]},
                      LI7: {"path": str(path_7), "sha256": second.attrs["sha256"],
                            "format": second.attrs["format"]}}}
    return make_image({LI6: np.asarray(a.values), LI7: np.asarray(b.values)}, float(pixel_size_um),
                      source_path=f"{path_6} | {path_7}", sha256=f"{first.attrs['sha256']} | {second.attrs['sha256']}",
                      fmt="count_pair", metadata=meta)
