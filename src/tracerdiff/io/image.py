"""The one labelled type every reader returns and every analysis takes.

An image (or depth stack, or line profile) is an :class:`xarray.Dataset`:

* one data variable per isotope / mass channel, holding **counts**
  (names ``"6Li"``, ``"7Li"`` for lithium; any string for other channels);
* dimension names ``("y", "x")`` for images (row 0 = top of the field of view),
  ``("z", "y", "x")`` for depth stacks and ``("x",)`` for line profiles;
* coordinates ``x``/``y`` in **micrometres** (pixel centres; ``z`` is the
  scan/frame index), because that is how users address positions;
* attrs: ``pixel_size_um`` (float), ``source_path`` (str), ``sha256`` (str, of
  the raw file; "" for in-memory data), ``format`` (reader name) and
  ``metadata_json`` (str, JSON of anything else: acquisition data, masses,
  and for synthetic images the ground truth under key ``"truth"``).

Attrs stay flat strings/numbers so the dataset round-trips through HDF5/NetCDF.
Isotope-fraction data (C instead of counts) use a variable named ``"C"``.
"""

from __future__ import annotations

import json
from typing import Mapping

import numpy as np
import xarray as xr

from tracerdiff.errors import InputError

LI6, LI7 = "6Li", "7Li"


def make_image(channels: Mapping[str, np.ndarray], pixel_size_um: float, *, source_path: str = "",
               sha256: str = "", fmt: str = "memory", metadata: Mapping | None = None,
               origin_um: tuple[float, float] = (0.0, 0.0)) -> xr.Dataset:
    """Wrap 2D (y, x) or 3D (z, y, x) count arrays as a labelled image.

    Parameters
    ----------
    channels : dict of str to numpy.ndarray
        Channel name -> array; all of the same shape.
    pixel_size_um : float
        Pixel edge length in micrometres (> 0).
    metadata : dict, optional
        JSON-serialisable extras (stored as ``attrs["metadata_json"]``).
    origin_um : tuple of float
        (y0, x0) position of the first pixel centre, micrometres.
    """
    if not channels:
        raise InputError("an image needs at least one channel", source=source_path or None)
    if not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise InputError(f"pixel size must be positive, got {pixel_size_um!r}", source=source_path or None)
    arrays = {name: np.asarray(a) if not hasattr(a, "dask") and not hasattr(a, "chunks") else a
              for name, a in channels.items()}
    shapes = {name: tuple(a.shape) for name, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise InputError(f"channels have different shapes: {shapes}", source=source_path or None)
    shape = next(iter(shapes.values()))
    if len(shape) == 2:
        dims = ("y", "x")
    elif len(shape) == 3:
        dims = ("z", "y", "x")
    else:
        raise InputError(f"images must be 2D or 3D, got shape {shape}", source=source_path or None)
    coords = {"y": origin_um[0] + pixel_size_um * np.arange(shape[-2]),
              "x": origin_um[1] + pixel_size_um * np.arange(shape[-1])}
    if len(shape) == 3:
        coords["z"] = np.arange(shape[0])
    ds = xr.Dataset({name: (dims, a) for name, a in arrays.items()}, coords=coords)
    ds["x"].attrs["units"] = "um"
    ds["y"].attrs["units"] = "um"
    ds.attrs.update(pixel_size_um=float(pixel_size_um), source_path=str(source_path), sha256=str(sha256),
                    format=str(fmt), metadata_json=json.dumps(dict(metadata or {}), sort_keys=True))
    return ds


def _profile_channels(axis: np.ndarray, channels: Mapping[str, np.ndarray], *, dim: str, what: str,
                      source_path: str) -> dict:
    """Channels of a 1D profile as xarray data variables along ``dim``, each checked against the axis."""
    if axis.ndim != 1:
        raise InputError(f"profile {what} must be one-dimensional", source=source_path or None)
    data = {}
    for name, a in channels.items():
        a = np.asarray(a)
        if a.shape != axis.shape:
            raise InputError(f"channel {name!r} has {a.shape} values for {axis.shape} {what}",
                             source=source_path or None)
        data[name] = ((dim,), a)
    return data


def make_profile(x_um: np.ndarray, channels: Mapping[str, np.ndarray], *, source_path: str = "",
                 sha256: str = "", fmt: str = "memory", metadata: Mapping | None = None) -> xr.Dataset:
    """Wrap a line profile: positions (um) and channels (counts, or ``"C"``) along ``x``."""
    x = np.asarray(x_um, dtype=float)
    ds = xr.Dataset(_profile_channels(x, channels, dim="x", what="positions", source_path=source_path),
                    coords={"x": x})
    ds["x"].attrs["units"] = "um"
    step = float(np.median(np.diff(x))) if x.size > 1 else float("nan")
    ds.attrs.update(pixel_size_um=step, source_path=str(source_path), sha256=str(sha256), format=str(fmt),
                    metadata_json=json.dumps(dict(metadata or {}), sort_keys=True))
    return ds


def metadata(ds: xr.Dataset) -> dict:
    """The decoded ``metadata_json`` attribute (empty dict when absent)."""
    return json.loads(ds.attrs.get("metadata_json", "{}") or "{}")


def make_time_profile(t_s: np.ndarray, channels: Mapping[str, np.ndarray], *, source_path: str = "",
                      sha256: str = "", fmt: str = "memory", metadata: Mapping | None = None) -> xr.Dataset:
    """Wrap a depth profile recorded against sputter time: dimension ``t`` in seconds.

    It has no length scale yet; :func:`tracerdiff.profiles.depth.to_depth` turns it into a
    depth profile (``x`` in micrometres) given a sputter rate or the crater depth.
    """
    t = np.asarray(t_s, dtype=float)
    ds = xr.Dataset(_profile_channels(t, channels, dim="t", what="sputter times", source_path=source_path),
                    coords={"t": t})
    ds["t"].attrs["units"] = "s"
    ds.attrs.update(pixel_size_um=float("nan"), source_path=str(source_path), sha256=str(sha256), format=str(fmt),
                    profile_axis="sputter_time", metadata_json=json.dumps(dict(metadata or {}), sort_keys=True))
    return ds


def data_kind(ds: xr.Dataset) -> str:
    """``"image"`` (y, x or z, y, x) or ``"profile"`` (along x = depth/position, or t = sputter time)."""
    return "profile" if set(ds.dims) <= {"x"} or set(ds.dims) <= {"t"} else "image"
