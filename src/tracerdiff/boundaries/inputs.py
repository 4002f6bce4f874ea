"""Checking and converting the inputs of the boundary analysis (images, user lines, remarks)."""

from __future__ import annotations

import math

import numpy as np

from tracerdiff.boundaries import segmentation
from tracerdiff.boundaries.optical import optical_grain_map
from tracerdiff.boundaries.options import SegmentationOptions
from tracerdiff.errors import InputError
from tracerdiff.isotope import IsotopeFraction, isotope_fraction
from tracerdiff.units import to_si

_NAN = math.nan


def as_fraction(data, pixel_size_um):
    """(C, stderr, valid, pixel_size_um, (y0, x0) origin um, name) from any accepted input."""
    origin = (0.0, 0.0)
    name = "image"
    if hasattr(data, "data_vars"):  # xarray.Dataset
        name = data.attrs.get("source_path") or name
        if pixel_size_um is None:
            pixel_size_um = data.attrs.get("pixel_size_um")
        if "y" in data.coords and "x" in data.coords and data["y"].size and data["x"].size:
            origin = (float(data["y"][0]), float(data["x"][0]))
        if "6Li" in data and "7Li" in data:
            i6, i7 = np.asarray(data["6Li"], dtype=float), np.asarray(data["7Li"], dtype=float)
            if i6.ndim == 3 and i6.shape == i7.shape:  # depth stack: sum the frames
                i6, i7 = i6.sum(axis=0), i7.sum(axis=0)
            data = isotope_fraction(i6, i7, name=name)
        elif "C" in data:
            c = np.asarray(data["C"], dtype=float)
            err = np.asarray(data["C_stderr"], dtype=float) if "C_stderr" in data else None
            data = c if err is None else IsotopeFraction(np.ma.masked_invalid(c), np.ma.masked_invalid(err),
                                                         np.ones_like(c))
        else:
            raise InputError(f"the image has neither '6Li'/'7Li' counts nor a 'C' map "
                             f"(variables: {sorted(data.data_vars)})", source=name)
    if pixel_size_um is None:
        raise InputError("pixel size is required (e.g. pixel_size_um=1.0)", source="pixel_size")
    try:
        if isinstance(pixel_size_um, str):  # text with a unit, as on the command line
            pixel_size_um = to_si(pixel_size_um, "length", default_unit="um", name="pixel_size") * 1e6
        pixel_size_um = float(pixel_size_um)
    except (TypeError, ValueError):
        raise InputError(f"pixel size {pixel_size_um!r} is not a number", source="pixel_size") from None
    if not (math.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise InputError(f"pixel size must be positive, got {pixel_size_um!r}", source="pixel_size")
    if isinstance(data, IsotopeFraction):
        valid = data.valid
        c = np.where(valid, np.ma.getdata(data.value), _NAN)
        err = np.where(valid, np.ma.getdata(data.stderr), _NAN)
    else:
        c = np.asarray(data, dtype=float)
        if c.ndim != 2:  # checked before the row differences below need two axes
            raise InputError(f"boundary analysis needs a 2D image, got shape {c.shape}", source=name)
        valid = np.isfinite(c)
        # No counts given: estimate the (uniform) noise from neighbour differences, robustly.
        d = np.diff(np.where(valid, c, np.nan), axis=1)
        d = d[np.isfinite(d)]
        noise = 1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2) if d.size else _NAN
        err = np.where(valid, noise if noise > 0 else 1e-3, _NAN)
    if c.ndim != 2:
        raise InputError(f"boundary analysis needs a 2D image, got shape {c.shape}", source=name)
    if not valid.any():
        raise InputError("no pixel has any counts or a finite C (all-zero, empty or all-NaN image): "
                         "nothing to analyse", source=name)
    if valid.sum() < 64:
        raise InputError(f"only {int(valid.sum())} pixels have counts; too few to analyse", source=name)
    return c, err, valid, pixel_size_um, origin, name


def parse_line(line, pixel_size_um: float, origin, default_width_px: float):
    """((x0, y0, x1, y1) in pixels, width in pixels) from "x0,y0,x1,y1[,width]" in micrometres."""
    try:
        vals = [float(v) for v in (line.split(",") if isinstance(line, str) else line)]
    except (TypeError, ValueError):
        vals = []  # letters or empty fields: same message as a wrong count
    if len(vals) not in (4, 5) or not all(math.isfinite(v) for v in vals):
        raise InputError(f"a line is x0,y0,x1,y1[,width] in micrometres, got {line!r}", source="line")
    x0, y0, x1, y1 = ((vals[0] - origin[1]) / pixel_size_um, (vals[1] - origin[0]) / pixel_size_um,
                      (vals[2] - origin[1]) / pixel_size_um, (vals[3] - origin[0]) / pixel_size_um)
    width = vals[4] / pixel_size_um if len(vals) == 5 else default_width_px
    if not width > 0:
        raise InputError(f"line width must be positive, got {line!r}", source="line")
    return (x0, y0, x1, y1), width


def source_edge_note(source_edge: str, c: np.ndarray, valid: np.ndarray) -> str:
    """"" or a warning that the given source edge contradicts the large-scale C trend."""
    try:
        trend = segmentation.detect_source_edge(c, valid)
    except InputError:
        return ""  # no clear trend: nothing to contradict
    if trend == source_edge:
        return ""
    # With the wrong edge every step has the wrong sign and is flagged; say so once, up front.
    return f"the large-scale C trend points to the {trend} edge, not the given {source_edge} edge"


def optical_size_note(optical_shape, image_shape) -> str:
    """"" or why the optical image does not match the SIMS field; InputError if it covers too little.

    Sizes are given as width x height in pixels, as in the line messages."""
    o, c = tuple(optical_shape[:2]), tuple(image_shape)
    if len(o) == 2 and o[0] >= c[0] and o[1] >= c[1]:
        return ""  # the field is located inside it
    size = lambda shape: " x ".join(map(str, shape[::-1])) + " px"  # noqa: E731
    if len(o) < 2 or o[0] < c[0] / 2 or o[1] < c[1] / 2:
        # Padded with its median, most of the field would have no boundaries at all.
        raise InputError(f"the optical image ({size(o)}) covers less than half of the SIMS field "
                         f"({size(c)}, width x height); it must have the SIMS pixel size", source="optical")
    return (f"optical image {size(o)} is smaller than the SIMS field {size(c)} (width x height; "
            "it must have the SIMS pixel size)")


def grain_labels(c: np.ndarray, cf: np.ndarray, ef: np.ndarray, valid: np.ndarray, *, labels=None, optical=None,
                 options: SegmentationOptions | None = None):
    """Grain labels (0 where no counts) from given labels, a registered micrograph, or the C map
    (segmented with ``options``).

    Returns
    -------
    labels, shift, note
        int32 labels, the optical image's (dy, dx) shift or None, and a remark for the result's message.
    """
    shift, note = None, ""
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != c.shape or not np.issubdtype(labels.dtype, np.integer):
            raise InputError(f"labels must be an integer image of shape {c.shape}, got {labels.dtype} "
                             f"{labels.shape}", source="labels")
    elif optical is not None:
        note = optical_size_note(np.shape(optical), c.shape)
        gm = optical_grain_map(optical, cf, ef, valid)
        labels, shift, uncovered, reg = gm.labels, gm.registration.shift_px, gm.uncovered, gm.registration
        placed = (f"SIMS field located at row {reg.offset_px[0]:.1f}, column {reg.offset_px[1]:.1f} of the "
                  f"{np.shape(optical)[1]} x {np.shape(optical)[0]} px optical image")
        if abs(reg.scale - 1) > 0.005 or abs(reg.rotation_deg) > 0.1:
            note = "; ".join(m for m in (note, f"{placed}, scale {reg.scale:.3f} optical px per SIMS px, "
                                               f"rotated {reg.rotation_deg:+.2f} deg") if m)
        elif np.shape(optical)[0] > c.shape[0] or np.shape(optical)[1] > c.shape[1]:
            note = placed
        uncovered = float(np.mean(uncovered[valid]))
        if uncovered > 0:
            note = "; ".join(m for m in (note, f"the registered optical image leaves {100 * uncovered:.1f} % of "
                                               "the SIMS field uncovered (no grains there)") if m)
    else:
        opts = options if options is not None else SegmentationOptions()
        labels = segmentation.segment_grains(cf, ef, valid, smoothing_px=opts.smoothing_px, merge_z=opts.merge_z,
                                             h_minimum=opts.h_minimum)
    return np.where(valid, labels, 0).astype(np.int32), shift, note
