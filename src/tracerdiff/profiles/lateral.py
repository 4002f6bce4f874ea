"""The laterally averaged C̄(y) of a tracer image: the input of a type-B analysis from an image."""

from __future__ import annotations

import math

import numpy as np

from tracerdiff.errors import InputError
from tracerdiff.profiles.load import MIN_POINTS, ProfileData

_EDGES = ("top", "bottom", "left", "right")


def laterally_averaged(c, *, pixel_size_um: float, source_edge: str, source: str = "image") -> ProfileData:
    """Average a C map along lines parallel to the wetted edge: C̄ against depth y.

    Parameters
    ----------
    c : numpy.ndarray
        2D map of C (NaN where there are no counts), row 0 at the top.
    pixel_size_um : float
        Pixel size (um); depths are pixel centres, ``(i + 1/2) h`` from the edge.
    source_edge : str
        ``"top"``, ``"bottom"``, ``"left"`` or ``"right"``: where the tracer came from.

    Returns
    -------
    ProfileData
        Depth (m), C̄ and its standard error from the scatter along each line (grain-to-grain
        variation included); lines with fewer than 3 valid pixels are dropped.
    """
    arr = np.asarray(c, float)
    if arr.ndim != 2:
        raise InputError(f"the C map must be 2D, got shape {arr.shape}", source=source)
    if source_edge not in _EDGES:
        raise InputError(f"source edge must be one of {_EDGES}, got {source_edge!r}", source="source_edge")
    if not (math.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise InputError(f"pixel size must be positive, got {pixel_size_um!r} um", source="pixel_size_um")
    lines = {"top": arr, "bottom": arr[::-1], "left": arr.T, "right": arr.T[::-1]}[source_edge]
    n = np.sum(np.isfinite(lines), axis=1)
    keep = n >= 3
    if keep.sum() < MIN_POINTS:
        raise InputError(f"only {int(keep.sum())} lines have 3 or more valid pixels", source=source)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(lines[keep], axis=1)
        err = np.nanstd(lines[keep], axis=1, ddof=1) / np.sqrt(n[keep])
    y = (np.flatnonzero(keep) + 0.5) * pixel_size_um * 1e-6
    err = np.where(err > 0, err, np.nan)
    if np.isnan(err).any():  # a flat line (e.g. noise-free): no usable scatter, fit unweighted
        return ProfileData(y, np.clip(mean, 0.0, None), None, source)
    return ProfileData(y, np.clip(mean, 0.0, None), err, source)
