"""HDF5/NetCDF4 files written by tracerdiff (h5netcdf engine): atomic write, exact round trip."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import xarray as xr

from tracerdiff.errors import FileFormatError, InputError
from tracerdiff.io._base import frames_per_chunk, guard_size

_REQUIRED_ATTRS = ("pixel_size_um", "source_path", "sha256", "format", "metadata_json")
_ATTR_TYPES = (str, int, float, np.integer, np.floating)


def write(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a labelled image/profile to HDF5 (NetCDF4 via h5netcdf) atomically.

    The file is written to a temporary file in the target folder and moved into place
    with :func:`os.replace`, so readers never see a half-written file. Depth stacks are
    chunked one frame per chunk so they can be read back lazily.

    Raises
    ------
    InputError
        ``ds`` is not a Dataset or has attributes HDF5 cannot hold.
    """
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"write() needs an xarray.Dataset, got {type(ds).__name__}", source=path)
    path = Path(path)
    for key, value in ds.attrs.items():
        if not isinstance(value, _ATTR_TYPES):
            raise InputError(f"attribute {key!r} of type {type(value).__name__} cannot be stored; "
                             "attrs must be str/int/float (put structures in metadata_json)", source=path)
    slashed = [str(n) for n in ds.variables if "/" in str(n)]
    if slashed:  # HDF5 reads "/" as a group separator
        raise InputError(f"variable names {slashed[:3]} contain '/', which HDF5 cannot store; rename them",
                         source=path)
    encoding = {}
    for name, var in ds.data_vars.items():
        if var.dims[:1] == ("z",) and var.ndim == 3:
            encoding[name] = {"chunksizes": (1,) + tuple(var.shape[1:])}
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError("output folder does not exist", source=path)
    if path.is_dir():
        raise InputError("output is a folder; give a file name such as image.h5", source=path)
    from tracerdiff.errors import OutputError
    from tracerdiff.report.atomic import write_file_atomic

    try:
        write_file_atomic(path, lambda tmp: to_netcdf(ds, tmp, encoding=encoding))
    except OutputError as exc:  # e.g. disk full: name the output, not the temporary file
        raise InputError(f"cannot write the output ({exc.message})", source=path) from None
    return path


def to_netcdf(ds: xr.Dataset, target: str | Path, *, encoding: dict | None = None) -> None:
    """``ds.to_netcdf(target, engine="h5netcdf")``, with bytes that depend on the data alone.

    h5netcdf writes a placeholder dataset for each dimension and deletes it when the dimension's
    coordinate is written; HDF5 frees (and reuses) the placeholder's file space only when its last
    handle closes. A sampler that holds the writing thread's frames for a moment keeps such a
    handle alive past the delete (a frame keeps its locals after its function returns), and the
    same data come out in another layout. dask's worker profiler is one: every 10 ms it takes the
    frames of each task thread, and on a loaded machine holds them for milliseconds, so an image
    written in a worker could differ from the in-process one (first at byte 594: the x coordinate
    where the y coordinate should be). Off the main thread the write therefore runs on a private
    thread that nothing samples. The main thread (never a task thread) writes itself, so that
    Ctrl-C stops a long write at once.
    """
    if threading.current_thread() is threading.main_thread():
        ds.to_netcdf(target, engine="h5netcdf", encoding=encoding or {})
        return
    failure: list[BaseException] = []

    def run():
        try:
            ds.to_netcdf(target, engine="h5netcdf", encoding=encoding or {})
        except BaseException as exc:  # pylint: disable=broad-exception-caught
            # re-raised below in the caller's thread, with its own type
            failure.append(exc)

    thread = threading.Thread(target=run, name="tracerdiff-hdf5-writer")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def read_hdf5(path: Path, *, pixel_size_um=None, channels=None, lazy=False, sha256="") -> xr.Dataset:
    """Read an HDF5/NetCDF4 file written by :func:`write` (lazily as dask arrays when ``lazy``).

    The stored ``source_path``/``sha256`` (provenance of the original raw file) are kept, so
    the round trip is exact; ``pixel_size_um`` and ``channels`` select/override as elsewhere.
    """
    import h5py

    with h5py.File(path, "r") as h5:  # cheap check that this is ours before xarray decodes it
        missing = [a for a in _REQUIRED_ATTRS if a not in h5.attrs]
        if missing:
            raise FileFormatError(f"HDF5 file was not written by tracerdiff (missing attributes {missing})",
                                  source=path)
        plain = packed = 0
        z_chunk = None
        for obj in h5.values():
            if isinstance(obj, h5py.Dataset) and obj.shape is not None:
                nbytes = int(np.prod(obj.shape, dtype=np.int64)) * obj.dtype.itemsize
                if len(obj.shape) == 3 and z_chunk is None:
                    z_chunk = frames_per_chunk(obj.shape, obj.dtype.itemsize)
                if obj.compression is None:
                    plain += nbytes
                else:
                    packed += nbytes
    # Uncompressed datasets must fit in the file; compressed ones only under the absolute cap.
    guard_size(path, plain, what="HDF5 datasets", lazy=lazy)
    guard_size(path, plain + packed, what="HDF5 datasets", lazy=lazy, available=plain + packed)
    if lazy:
        ds = xr.open_dataset(path, engine="h5netcdf", chunks={"z": z_chunk} if z_chunk else {})
    else:
        with xr.open_dataset(path, engine="h5netcdf") as opened:
            ds = opened.load()
    if channels is not None:
        wanted = [channels] if isinstance(channels, str) else list(channels)
        absent = [c for c in wanted if c not in ds.data_vars]
        if absent:
            raise FileFormatError(f"channels {absent} not in file; it has {sorted(ds.data_vars)}", source=path)
        ds = ds[wanted]
    if pixel_size_um is not None and float(pixel_size_um) != float(ds.attrs["pixel_size_um"]):
        ds = _override_pixel_size(ds, float(pixel_size_um), path)
    return ds


def _override_pixel_size(ds: xr.Dataset, px: float, path: Path) -> xr.Dataset:
    """Re-grid x/y coordinates to a caller-given pixel size (as other readers let it override)."""
    if "y" not in ds.dims:
        raise InputError("a profile's positions are explicit; pixel_size_um cannot override them", source=path)
    if not (np.isfinite(px) and px > 0):
        raise InputError(f"pixel size must be positive and finite, got {px!r}", source=path)
    coords = {d: float(ds[d].values[0]) + px * np.arange(ds.sizes[d]) for d in ("y", "x")}
    out = ds.assign_coords(coords)
    for d in ("y", "x"):
        out[d].attrs = dict(ds[d].attrs)
    out.attrs["pixel_size_um"] = px
    return out

