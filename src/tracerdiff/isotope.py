"""Isotope fractions C = I_tracer/(I_tracer + I_other) (eqn 1; 6Li/7Li in the paper) with counting errors.

Any isotope pair works (18O/16O, 2H/1H, 26Mg/24Mg, ...): :func:`channel_in` finds a species in
any vendor notation, :func:`default_natural_fraction` gives the background C0 from natural
abundances, :func:`fraction_image` and :func:`pooled_fraction` take ``tracer``/``other``.

Counts are Poisson; given the total N = I6 + I7, I6 is binomial, so
``stderr(C) = sqrt(C (1 - C) / N)``. Where one channel is zero the binomial
error would be exactly zero, which would give that pixel infinite weight in a
fit; there we use the Agresti-Coull-style estimate p = (I6 + 1/2)/(N + 1).
Pixels with N = 0 have no C: they are masked (``numpy.ma``), never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tracerdiff.errors import InputError
from tracerdiff.results import Result


@dataclass(frozen=True, repr=False)
class IsotopeFraction(Result):
    """Isotope fraction map or profile with counting standard errors.

    Attributes
    ----------
    value, stderr
        Masked arrays (mask = no counts). Scalars come back as 0-d masked arrays.
    total
        I6 + I7 counts per pixel.
    dims, coords
        Dimension names and coordinates of the counts when they came as ``xarray.DataArray``
        (empty otherwise); :meth:`as_dataarray` puts them back on the maps.
    """

    value: np.ma.MaskedArray
    stderr: np.ma.MaskedArray
    total: np.ndarray
    dims: tuple = field(default=(), compare=False)
    coords: dict = field(default_factory=dict, compare=False)

    def as_dataarray(self, which: str = "value"):
        """``value`` (C), ``stderr`` or ``total`` as an :class:`xarray.DataArray` (NaN where there
        were no counts), with the input's dimensions and coordinates when it had them."""
        import xarray as xr

        if which not in ("value", "stderr", "total"):
            raise InputError(f"which must be 'value', 'stderr' or 'total', got {which!r}", source="which")
        data = getattr(self, which)
        data = np.ma.filled(np.ma.asarray(data, dtype=float), np.nan) if which != "total" else np.asarray(data)
        dims = self.dims if len(self.dims) == data.ndim else ("frame", "y", "x")[3 - data.ndim:] if data.ndim <= 3 \
            else tuple(f"dim_{i}" for i in range(data.ndim))
        coords = {k: v for k, v in self.coords.items() if k in dims}
        return xr.DataArray(data, dims=dims, coords=coords, name={"value": "C"}.get(which, f"C_{which}"),
                            attrs={"units": "" if which != "total" else "counts"})

    def _headline(self) -> tuple[str, str]:
        d = self.to_dict()
        return "mean C", "n/a" if d["mean"] is None else f"{d['mean']:.4g}"

    def _summary(self) -> list[tuple[str, str]]:
        d = self.to_dict()
        shape = "×".join(map(str, np.shape(self.value))) or "scalar"
        return [self._headline(), ("shape", shape + (f" ({', '.join(self.dims)})" if self.dims else "")),
                ("valid", f"{d['n_valid']} ({d['n_masked']} without counts)"),
                ("median stderr", "n/a" if d["median_stderr"] is None else f"{d['median_stderr']:.3g}")]

    def _rows(self):
        """One row per pixel (or point): its coordinates (or indices), C, stderr and counts."""
        value, stderr = self.as_dataarray("value"), self.as_dataarray("stderr")
        df = value.to_dataframe().join(stderr.to_dataframe()).reset_index()
        df["total"] = np.asarray(self.total, dtype=float).ravel()
        return df.to_dict("records"), {"C": "", "C_stderr": "", "total": "counts"}

    def _plot(self, ax) -> None:
        """The map (``imshow``) or profile of C; masked points left blank."""
        value = self.as_dataarray("value")
        if value.ndim == 2:
            image = value.plot.imshow(ax=ax, yincrease=False, add_colorbar=False)
            ax.figure.colorbar(image, ax=ax, label="C (tracer fraction)")
        elif value.ndim == 1:
            value.plot.line(ax=ax, marker=".", ls="")
        else:
            ax.text(0.5, 0.5, f"C of shape {value.shape}: {self.to_dict()}", ha="center", va="center", wrap=True)
            ax.axis("off")

    @property
    def valid(self) -> np.ndarray:
        """Boolean array, True where C is defined."""
        return ~np.ma.getmaskarray(self.value)

    def normalised(self, c0: float, cs: float) -> "IsotopeFraction":
        """(C - C0)/(Cs - C0): 0 at natural abundance, 1 at the solution's enrichment."""
        if not (np.isfinite(c0) and np.isfinite(cs)) or cs == c0:
            raise InputError(f"normalisation needs finite C0 != Cs, got C0={c0}, Cs={cs}")
        span = cs - c0
        return IsotopeFraction((self.value - c0) / span, self.stderr / abs(span), self.total, self.dims, self.coords)

    def to_dict(self) -> dict:
        v = self.value
        return {"n_valid": int(self.valid.sum()), "n_masked": int((~self.valid).sum()),
                "mean": float(v.mean()) if self.valid.any() else None,
                "median_stderr": float(np.ma.median(self.stderr)) if self.valid.any() else None}


def isotope_fraction(counts_6: np.ndarray | float, counts_7: np.ndarray | float, *,
                     name: str = "counts") -> IsotopeFraction:
    """C = I6/(I6 + I7) with its binomial counting error.

    Parameters
    ----------
    counts_6, counts_7 : numpy.ndarray or float
        Counts of the tracer and the other isotope (scalars or arrays of one shape).
    name : str
        Used in error messages (e.g. the file the counts came from).

    Raises
    ------
    InputError
        Negative or non-finite counts, or mismatched shapes.
    """
    try:
        i6 = np.asarray(counts_6, dtype=float)
        i7 = np.asarray(counts_7, dtype=float)
    except (TypeError, ValueError):
        raise InputError("counts must be numbers or numeric arrays", source=name) from None
    if i6.shape != i7.shape:
        raise InputError(f"tracer and other counts have different shapes {i6.shape} and {i7.shape}", source=name)
    if not (np.all(np.isfinite(i6)) and np.all(np.isfinite(i7))):
        raise InputError("counts contain NaN or infinity", source=name)
    if np.any(i6 < 0) or np.any(i7 < 0):
        raise InputError("counts must be non-negative", source=name)
    total = i6 + i7
    empty = total <= 0
    safe_total = np.where(empty, 1.0, total)
    c = np.where(empty, 0.0, i6 / safe_total)
    edge = (i6 == 0) | (i7 == 0)
    p = np.where(edge, (i6 + 0.5) / (safe_total + 1.0), c)
    err = np.sqrt(p * (1.0 - p) / safe_total)
    dims = tuple(getattr(counts_6, "dims", ()))
    coords = {k: np.asarray(v) for k, v in getattr(counts_6, "coords", {}).items() if k in dims}
    return IsotopeFraction(np.ma.masked_array(c, mask=empty), np.ma.masked_array(err, mask=empty), total,
                           dims, coords)


# ----------------------------------------------------------------------------- isotope maps

def dead_time_correct(counts, n_shots: int | float, *, name: str = "counts") -> np.ndarray:
    """ToF-SIMS dead-time (Poisson) correction: N_true = -n ln(1 - N/n).

    A ToF detector registers at most one ion of a mass per primary shot, so with ``n`` shots
    per pixel the observed count N is the number of shots with >= 1 ion; for Poisson arrivals
    the mean number of ions is -n ln(1 - N/n).

    Parameters
    ----------
    counts : numpy.ndarray
        Observed counts per pixel (summed over all scans).
    n_shots : int or float
        Primary shots per pixel over the same scans (shots per pixel per scan x scans).

    Raises
    ------
    InputError
        ``n_shots`` not positive, counts negative/non-finite, or any N >= n (saturated: the
        true count is unbounded).
    """
    n = float(n_shots)
    if not (np.isfinite(n) and n > 0):
        raise InputError(f"number of primary shots must be positive, got {n_shots!r}", source=name)
    obs = np.asarray(counts, dtype=float)
    if not np.all(np.isfinite(obs)) or np.any(obs < 0):
        raise InputError("counts must be finite and non-negative", source=name)
    if np.any(obs >= n):
        raise InputError(f"{int((obs >= n).sum())} pixel(s) have counts >= the {n:g} primary shots; the "
                         "detector is saturated there and no dead-time correction exists", source=name)
    return -n * np.log1p(-obs / n)


def dead_time_variance(counts, n_shots: float) -> np.ndarray:
    """Variance of the dead-time-corrected count: N / (1 - N/n).

    N is binomial over the n shots (var N = N (1 - N/n)) and dN_true/dN = 1/(1 - N/n).
    """
    obs = np.asarray(counts, dtype=float)
    return obs / (1.0 - obs / float(n_shots))


def bin_counts(counts, factor: int):
    """Sum ``factor`` x ``factor`` pixel blocks over the last two axes (y, x).

    Trailing rows/columns that do not fill a whole block are dropped (counts must not be
    invented). Works on NumPy and dask arrays; 3D stacks are binned frame by frame.
    """
    if int(factor) != factor or factor < 1:
        raise InputError(f"bin factor must be a positive integer, got {factor!r}")
    factor = int(factor)
    if factor == 1:
        return counts
    ny, nx = counts.shape[-2] // factor, counts.shape[-1] // factor
    if ny == 0 or nx == 0:
        raise InputError(f"bin factor {factor} is larger than the image {counts.shape[-2:]}")
    cropped = counts[..., : ny * factor, : nx * factor]
    lead = cropped.shape[:-2]
    return cropped.reshape(lead + (ny, factor, nx, factor)).sum(axis=(-3, -1))


def isotope_map(ds, *, tracer: str = "6Li", other: str = "7Li", bin: int = 1, mask=None,  # noqa: A002
                dead_time_shots: float | None = None, normalise: tuple[float, float] | None = None):
    """Isotope-fraction map C = I_tracer/(I_tracer + I_other) with counting errors, from an image Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Labelled image (:mod:`tracerdiff.io.image`) with count channels ``tracer`` and ``other``.
    bin : int
        Sum ``bin`` x ``bin`` pixel blocks before computing C (pixel size grows accordingly).
    mask : numpy.ndarray, optional
        Boolean array, True = exclude; either of the image's (y, x) shape (excluded pixels do
        not enter the bins) or of the binned shape.
    dead_time_shots : float, optional
        Primary shots per pixel over all scans; applies :func:`dead_time_correct` to both
        channels (before binning, since saturation is per pixel) and propagates its variance.
        ``"auto"`` takes ``primary_shots_per_pixel`` from the reader's metadata (IONTOF ITA).
    normalise : tuple of float, optional
        ``(C0, Cs)``: also return ``C_norm = (C - C0)/(Cs - C0)`` and its stderr.

    Returns
    -------
    xarray.Dataset
        Variables ``C``, ``C_stderr``, ``total`` (corrected counts) and ``valid`` (bool);
        C and its error are NaN exactly where ``valid`` is False (no counts or masked).
    """
    import json

    from tracerdiff.io.image import make_image

    source = ds.attrs.get("source_path") or "dataset"
    for ch in (tracer, other):
        if ch not in ds.data_vars:
            raise InputError(f"channel {ch!r} not in dataset; it has {sorted(ds.data_vars)}", source=source)
    a = np.asarray(ds[tracer].values, dtype=float)
    b = np.asarray(ds[other].values, dtype=float)
    if a.ndim not in (2, 3):
        raise InputError(f"isotope_map needs an image or stack, got dims {ds[tracer].dims}", source=source)
    isotope_fraction(a, b, name=str(source))  # validates finiteness, sign, shapes
    if isinstance(dead_time_shots, str):
        if dead_time_shots != "auto":
            raise InputError(f"dead_time_shots must be a number or 'auto', got {dead_time_shots!r}", source=source)
        shots = json.loads(ds.attrs.get("metadata_json", "{}") or "{}").get("primary_shots_per_pixel")
        if not shots:
            raise InputError("dead_time_shots='auto' needs primary_shots_per_pixel in the file's metadata "
                             "(IONTOF ITA); pass the number of shots instead", source=source)
        dead_time_shots = float(shots)
    if dead_time_shots is not None:
        corr_a = dead_time_correct(a, dead_time_shots, name=f"{source} [{tracer}]")  # raises if saturated
        corr_b = dead_time_correct(b, dead_time_shots, name=f"{source} [{other}]")
        var_a, var_b = dead_time_variance(a, dead_time_shots), dead_time_variance(b, dead_time_shots)
        a, b = corr_a, corr_b
    else:
        var_a, var_b = a.copy(), b.copy()
    keep = None
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape == a.shape[-2:]:
            keep = ~mask
            a, b, var_a, var_b = (v * keep for v in (a, b, var_a, var_b))
        elif bin > 1 and mask.shape == (a.shape[-2] // bin, a.shape[-1] // bin):
            pass
        else:
            raise InputError(f"mask of shape {mask.shape} fits neither the image {a.shape[-2:]} nor the binned "
                             "image", source=source)
    try:
        a, b, var_a, var_b = (bin_counts(v, bin) for v in (a, b, var_a, var_b))
    except InputError as exc:
        raise InputError(str(exc), source=source) from None
    frac = isotope_fraction(a, b, name=str(source))
    total = a + b
    valid = frac.valid.copy()
    if keep is not None:
        valid &= bin_counts(keep.astype(float), bin) > 0
    elif mask is not None:
        valid &= ~mask
    safe = np.where(total > 0, total, 1.0)
    # Delta method for C = a/(a+b): var C = (b^2 var_a + a^2 var_b)/(a+b)^4; equals C(1-C)/N for Poisson.
    err = np.sqrt(b**2 * var_a + a**2 * var_b) / safe**2
    # Where one channel is empty the delta method gives 0: use the binomial fallback, inflated
    # by the dead-time variance factor of the non-empty channel.
    edge = (a == 0) | (b == 0)
    inflate = np.where(total > 0, (var_a + var_b) / safe, 1.0)
    err = np.where(edge, np.ma.getdata(frac.stderr) * np.sqrt(np.maximum(inflate, 1.0)), err)
    c = np.where(valid, np.ma.getdata(frac.value), np.nan)
    err = np.where(valid, err, np.nan)
    px = float(ds.attrs.get("pixel_size_um", 1.0)) * bin
    out = make_image({"C": c, "C_stderr": err, "total": total, "valid": valid}, px,
                     source_path=str(ds.attrs.get("source_path", "")), sha256=str(ds.attrs.get("sha256", "")),
                     fmt=str(ds.attrs.get("format", "memory")),
                     origin_um=(float(ds["y"].values[0]) + 0.5 * (bin - 1) * px / bin,
                                float(ds["x"].values[0]) + 0.5 * (bin - 1) * px / bin),
                     metadata={"isotope_map": {"tracer": tracer, "other": other, "bin": int(bin),
                                               "dead_time_shots": dead_time_shots,
                                               "masked_pixels": int(mask.sum()) if mask is not None else 0},
                               "source_metadata": json.loads(ds.attrs.get("metadata_json", "{}") or "{}")})
    if normalise is not None:
        c0, cs = normalise
        norm = IsotopeFraction(np.ma.masked_array(np.nan_to_num(c), mask=~valid),
                               np.ma.masked_array(np.nan_to_num(err), mask=~valid), total).normalised(c0, cs)
        out["C_norm"] = (out["C"].dims, np.where(valid, np.ma.getdata(norm.value), np.nan))
        out["C_norm_stderr"] = (out["C"].dims, np.where(valid, np.ma.getdata(norm.stderr), np.nan))
    if "z" in ds.coords and "z" in out.coords:
        out = out.assign_coords(z=ds["z"].values)
    return out


# ----------------------------------------------------------------------------- any tracer/other pair

def channel_in(ds, name: str) -> str:
    """The variable of ``ds`` holding the species ``name`` in any notation (``"O-"`` finds ``"16O"``).

    Raises
    ------
    InputError
        No channel of that species; the message lists what the data has.
    """
    from tracerdiff.species import canonical_channel

    key = canonical_channel(name)
    if key in ds.data_vars:
        return key
    if str(name).strip() in ds.data_vars:
        return str(name).strip()
    raise InputError(f"no channel {name!r} (read as {key!r}); the data has {sorted(ds.data_vars)}",
                     source=ds.attrs.get("source_path") or "dataset")


def default_natural_fraction(tracer: str, other: str) -> float:
    """C0 of unexchanged material: a_tracer / (a_tracer + a_other), natural abundances from periodictable.

    Raises
    ------
    InputError
        No natural abundance is known for one of the species (give the natural fraction).
    """
    from tracerdiff.species import natural_fraction

    try:
        return natural_fraction(tracer, other)
    except ValueError as exc:
        raise InputError(str(exc), source="natural fraction") from None


def pooled_fraction(ds, *, tracer: str, other: str):
    """Σ tracer / Σ (tracer + other) over the whole field and all frames, with its binomial stderr.

    Returns
    -------
    (Measured, total counts)
    """
    from tracerdiff.quantity import Measured

    a, b = ds[channel_in(ds, tracer)].data, ds[channel_in(ds, other)].data
    sums = [x.sum(dtype=np.float64) for x in (a, b)]
    if any(hasattr(s, "compute") for s in sums):
        import dask

        sums = dask.compute(*sums)
    st, so = (float(s) for s in sums)
    n = st + so
    if not (np.isfinite(n) and n > 0):
        raise InputError(f"the {tracer} and {other} channels hold no counts", source=ds.attrs.get("source_path"))
    p = st / n
    return Measured(p, float(np.sqrt(p * (1 - p) / n)), "dimensionless"), n


def fraction_image(ds, *, tracer: str, other: str, bin: int = 1):  # noqa: A002
    """The isotope-fraction map (``C``, ``C_stderr``, ``total``, ``valid``) of any tracer/other pair.

    Frames of a depth stack are summed first (the boundary analyses take one 2D map).
    """
    t, o = channel_in(ds, tracer), channel_in(ds, other)
    if ds[t].ndim == 3:
        ds = ds.sum(dim="z", keep_attrs=True)
    out = isotope_map(ds, tracer=t, other=o, bin=bin)
    return out
