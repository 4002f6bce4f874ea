"""Depth profiles (isotope-exchange depth profiling, IEDP): sputter time -> depth, any tracer/other pair.

A SIMS depth profile is recorded against sputter time. With a constant sputter rate r the depth
is z = r t; a crater depth d measured afterwards (profilometry) gives r = d / t_end, the time of
the last point. Either makes a profile along ``x`` (depth, um) that the erfc, surface-exchange
and closed-evolution fits take. A constant rate is an assumption: through layers of different
materials it is not, and the depth scale is then only approximate.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from tracerdiff.errors import InputError
from tracerdiff.io.image import LI6, LI7, make_profile, metadata
from tracerdiff.isotope import channel_in, isotope_fraction


def to_depth(ds: xr.Dataset, *, sputter_rate: float | None = None, crater_depth: float | None = None) -> xr.Dataset:
    """A profile against sputter time (dimension ``t``) as a depth profile (``x``, um).

    Parameters
    ----------
    sputter_rate : float, optional
        m/s (constant over the profile).
    crater_depth : float, optional
        m, the depth reached at the last point; the rate is ``crater_depth / t_last``.

    Raises
    ------
    InputError
        Neither or both given, not positive, or the profile is not against sputter time.
    """
    source = ds.attrs.get("source_path") or "profile"
    if "t" not in ds.dims:
        raise InputError("profile is not against sputter time; it has dimensions "
                         f"{dict(ds.sizes)}", source=source)
    if (sputter_rate is None) == (crater_depth is None):
        raise InputError("give the sputter rate or the crater depth (one of them) to turn sputter time into depth",
                         source="--sputter-rate")
    t = np.asarray(ds["t"].values, dtype=float)
    if crater_depth is not None:
        if not (math.isfinite(crater_depth) and crater_depth > 0):
            raise InputError(f"crater depth must be positive, got {crater_depth!r} m", source="--crater-depth")
        if not t.size or not t[-1] > 0:
            raise InputError("the last sputter time is not positive; the crater depth gives no rate", source=source)
        rate = crater_depth / t[-1]
    else:
        rate = float(sputter_rate)
        if not (math.isfinite(rate) and rate > 0):
            raise InputError(f"sputter rate must be positive, got {sputter_rate!r} m/s", source="--sputter-rate")
    meta = metadata(ds)
    meta["depth_scale"] = {"sputter_rate_m_s": rate, "from": "crater depth" if crater_depth else "sputter rate",
                           "crater_depth_m": crater_depth}
    out = make_profile(t * rate * 1e6, {k: np.asarray(v.values) for k, v in ds.data_vars.items()},
                       source_path=source, sha256=str(ds.attrs.get("sha256", "")),
                       fmt=str(ds.attrs.get("format", "memory")), metadata=meta)
    out.attrs["profile_axis"] = "depth"
    return out


def fraction_profile(ds: xr.Dataset, *, tracer: str, other: str) -> xr.Dataset:
    """A ``C``/``C_stderr`` profile from the tracer and other channels (points without counts dropped).

    The stderr is binomial, which assumes the channels hold counts; exports of count rates
    or dead-time-corrected intensities make it approximate.
    """
    t, o = channel_in(ds, tracer), channel_in(ds, other)
    a, b = np.asarray(ds[t].values, dtype=float), np.asarray(ds[o].values, dtype=float)
    frac = isotope_fraction(a, b, name=f"{ds.attrs.get('source_path') or 'profile'} [{t}, {o}]")
    keep = frac.valid
    dim = next(iter(ds[t].dims))
    coord = np.asarray(ds[dim].values, dtype=float)[keep]
    meta = metadata(ds)
    meta["fraction"] = {"tracer": t, "other": o, "dropped_points": int((~keep).sum())}
    channels = {"C": np.ma.getdata(frac.value)[keep], "C_stderr": np.ma.getdata(frac.stderr)[keep]}
    if dim == "t":
        from tracerdiff.io.image import make_time_profile

        return make_time_profile(coord, channels, source_path=str(ds.attrs.get("source_path", "")),
                                 sha256=str(ds.attrs.get("sha256", "")), fmt=str(ds.attrs.get("format", "memory")),
                                 metadata=meta)
    out = make_profile(coord, channels, source_path=str(ds.attrs.get("source_path", "")),
                       sha256=str(ds.attrs.get("sha256", "")), fmt=str(ds.attrs.get("format", "memory")),
                       metadata=meta)
    if "profile_axis" in ds.attrs:
        out.attrs["profile_axis"] = ds.attrs["profile_axis"]
    return out


def prepare_profile(ds: xr.Dataset, *, tracer: str | None = None, other: str | None = None,
                    sputter_rate: float | None = None, crater_depth: float | None = None) -> xr.Dataset:
    """What the fits take: a depth/position profile with ``C`` (or 6Li/7Li counts).

    ``tracer``/``other`` pick the channels (default 6Li/7Li, kept as counts); a profile against
    sputter time needs ``sputter_rate`` or ``crater_depth``.
    """
    if tracer is not None or other is not None:
        tracer, other = tracer or LI6, other or LI7
        if not ({"C"} <= set(ds.data_vars) and tracer == LI6 and other == LI7):
            ds = fraction_profile(ds, tracer=tracer, other=other)
    if "t" in ds.dims:
        if sputter_rate is None and crater_depth is None:
            raise InputError("the profile is against sputter time; give --sputter-rate (e.g. '0.2 nm/s') or "
                             "--crater-depth (e.g. '1.5 um') to turn it into depth",
                             source=ds.attrs.get("source_path") or "profile")
        ds = to_depth(ds, sputter_rate=sputter_rate, crater_depth=crater_depth)
    elif sputter_rate is not None or crater_depth is not None:
        raise InputError("the profile already has a length axis; --sputter-rate/--crater-depth apply only to "
                         "profiles against sputter time", source="--sputter-rate")
    return ds


def describe(ds: xr.Dataset) -> dict:
    """Axis name and unit of a profile, for ``inspect``."""
    if "t" in ds.dims:
        return {"name": "sputter_time", "unit": "s"}
    axis = ds.attrs.get("profile_axis", "position")
    return {"name": "depth" if axis == "depth" else "position", "unit": "um"}


__all__ = ["to_depth", "fraction_profile", "prepare_profile", "describe"]
