"""Line-scan profiles: validated and turned into (x, C, sigma_C).

Files are read by :func:`tracerdiff.io.read_line_scan` (the one line-scan parser,
:func:`tracerdiff.io.plain.read_csv_profile`), which returns the columns as read with
positions in micrometres; this module turns counts into the isotope fraction and refuses
profiles the fits cannot use. Typical layouts (comma, tab, ``;`` or spaces; ``#``
comments)::

    x_um,I6Li,I7Li        (counts; C and its binomial error follow from them)
    x_angstrom;C          (isotope fraction, no counting error known)
    x [um]  C  C_stderr   (isotope fraction with its standard error)

C may be the raw isotope fraction or a normalised fraction; either way it must lie in
[0, 1] (the erfc fit treats Cs and C0 as free parameters).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from tracerdiff.errors import InputError
from tracerdiff.io.image import LI6, LI7, make_profile
from tracerdiff.isotope import isotope_fraction

#: The fewest points a profile may have: the erfc fit has up to four free parameters.
MIN_POINTS = 5


def read_profile(path: str | Path) -> xr.Dataset:
    """Read a line scan (any layout :func:`tracerdiff.io.read_line_scan` reads) and validate it.

    Returns
    -------
    xarray.Dataset
        ``x`` in micrometres and the file's channels (``"6Li"``/``"7Li"`` counts, or ``"C"``
        and ``"C_stderr"``); a depth profile against sputter time keeps its ``t`` axis (see
        :func:`tracerdiff.profiles.depth.prepare_profile`) and is validated once it has a depth.

    Raises
    ------
    FileFormatError
        Missing or unreadable file, no position column, non-numeric cells, an image file.
    InputError
        Too few points, non-monotonic positions, C outside [0, 1], negative counts.
    """
    from tracerdiff.io import read_line_scan

    ds = read_line_scan(path)
    if "t" not in ds.dims:
        check_profile(ds)
    return ds


@dataclass(frozen=True)
class ProfileData:
    """A validated profile in SI: positions (m, increasing), C and its stderr.

    ``c_stderr`` is None when the file gives C without counts or errors; fits
    are then unweighted and their errors come from the scatter of residuals.
    """

    x: np.ndarray
    c: np.ndarray
    c_stderr: np.ndarray | None
    source: str = ""

    @property
    def weights(self) -> np.ndarray | None:
        """1/sigma for weighted least squares (None when unweighted)."""
        return None if self.c_stderr is None else 1.0 / self.c_stderr

    def __len__(self) -> int:
        return self.x.size


def check_profile(ds: xr.Dataset) -> None:
    """Refuse profiles the fits cannot use; see :func:`profile_data`."""
    profile_data(ds)


def profile_data(ds: xr.Dataset | ProfileData) -> ProfileData:
    """Validated (x [m], C, sigma_C) from a labelled profile.

    Counts give C = I6/(I6 + I7) and its binomial error (points without counts
    are dropped). Positions must be strictly monotonic; a decreasing scan is
    reversed.

    Raises
    ------
    InputError
        Fewer than :data:`MIN_POINTS` usable points, non-monotonic or
        non-finite positions, C outside [0, 1] or non-finite, missing channels.
    """
    if isinstance(ds, ProfileData):
        return ds
    source = str(ds.attrs.get("source_path", "")) or "profile"
    if "t" in ds.dims:
        raise InputError("the profile is against sputter time, not depth; give a sputter rate or the crater "
                         "depth (--sputter-rate / --crater-depth) to turn it into a depth profile", source=source)
    if "x" not in ds.coords:
        raise InputError("profile has no 'x' coordinate", source=source)
    x_um = np.asarray(ds["x"].values, dtype=float)
    if LI6 in ds and LI7 in ds:
        frac = isotope_fraction(ds[LI6].values, ds[LI7].values, name=source)
        keep = frac.valid
        c = np.asarray(frac.value.data, dtype=float)
        err = np.asarray(frac.stderr.data, dtype=float)
    elif "C" in ds:
        c = np.asarray(ds["C"].values, dtype=float)
        keep = np.ones(c.shape, dtype=bool)
        err = np.asarray(ds["C_stderr"].values, dtype=float) if "C_stderr" in ds else None
    else:
        raise InputError(f"profile needs channels '{LI6}' and '{LI7}' or 'C', has {list(ds.data_vars)[:12]}; "
                         "name the isotopes with --tracer/--other (e.g. --tracer 18O --other 16O)", source=source)
    if x_um.ndim != 1 or x_um.size != c.size:
        raise InputError("profile must be one-dimensional along x", source=source)
    if not np.all(np.isfinite(x_um)):
        raise InputError("positions contain NaN or infinity", source=source)
    if not np.all(np.isfinite(c)):
        raise InputError("C contains NaN or infinity", source=source)
    if c.size and (c.min() < 0 or c.max() > 1):
        bad = int(np.argmax((c < 0) | (c > 1)))
        raise InputError(f"C must lie in [0, 1]; point {bad} (x = {x_um[bad]:g} um) has C = {c[bad]:g}",
                         source=source)
    if err is not None and not (np.all(np.isfinite(err)) and np.all(err[keep] > 0)):
        raise InputError("C_stderr must be positive and finite", source=source)
    step = np.diff(x_um)
    if step.size and not (np.all(step > 0) or np.all(step < 0)):
        bad = int(np.argmax(step <= 0) if step[0] > 0 else np.argmax(step >= 0)) + 1
        raise InputError(f"positions must be strictly monotonic; point {bad} (x = {x_um[bad]:g} um) "
                         "breaks the order or repeats a position", source=source)
    x_um, c = x_um[keep], c[keep]
    err = None if err is None else err[keep]
    if x_um.size < MIN_POINTS:
        raise InputError(f"profile has {x_um.size} usable points; at least {MIN_POINTS} are needed",
                         source=source)
    if x_um[0] > x_um[-1]:
        x_um, c = x_um[::-1], c[::-1]
        err = None if err is None else err[::-1]
    return ProfileData(x_um * 1e-6, c.copy(), None if err is None else err.copy(), source)


def profile_from_counts(x_um, counts_6, counts_7, *, source: str = "", metadata=None) -> xr.Dataset:
    """Convenience: a labelled count profile (positions in um), validated."""
    ds = make_profile(x_um, {LI6: np.asarray(counts_6), LI7: np.asarray(counts_7)}, source_path=source,
                      metadata=metadata)
    check_profile(ds)
    return ds


def profile_from_fraction(x_um, c, *, c_stderr=None, source: str = "", metadata=None) -> xr.Dataset:
    """Convenience: a labelled C profile (positions in um), validated."""
    channels = {"C": np.asarray(c, dtype=float)}
    if c_stderr is not None:
        channels["C_stderr"] = np.asarray(c_stderr, dtype=float)
    ds = make_profile(x_um, channels, source_path=source, metadata=metadata)
    check_profile(ds)
    return ds
