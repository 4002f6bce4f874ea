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
                    other: str = LI7) -> xr.Dataset:
    """Combine two single-channel files (TIFF or text matrix) into one tracer/other image (``6Li``/``7Li``).

    Row 0 of each file is the top of the image. Provenance of both files is kept in
    ``metadata_json`` (``source_path`` lists both, joined by ``" | "``).

    Raises
    ------
    InputError
        The two images have different shapes (the message names both files).
    FileFormatError
        Either file is unreadable or holds more than one channel.
    """
    first = _one_channel(path_6, pixel_size_um, tracer)
    second = _one_channel(path_7, pixel_size_um, other)
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
    return make_image({tracer: np.asarray(a.values), other: np.asarray(b.values)}, float(pixel_size_um),
                      source_path=f"{path_6} | {path_7}", sha256=f"{first.attrs['sha256']} | {second.attrs['sha256']}",
                      fmt="count_pair", metadata=meta)


def _one_channel(path, pixel_size_um, name: str) -> xr.Dataset:
    """A one-channel file, its data named ``name``; a vendor file keeps just that channel."""
    ds = read(path, pixel_size_um=pixel_size_um)
    if name in ds.data_vars:
        return ds[[name]]
    if len(ds.data_vars) == 1:
        return ds.rename({next(iter(ds.data_vars)): name})
    raise FileFormatError(f"holds channels {sorted(ds.data_vars)}, none of them {name}", source=path)
