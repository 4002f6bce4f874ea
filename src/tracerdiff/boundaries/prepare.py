"""The start shared by every boundary analysis: checked inputs, the C map, the source edge, the empty result.

:func:`tracerdiff.boundaries.analyse_boundaries`, :func:`tracerdiff.boundaries.analyse_lines`
and :func:`tracerdiff.inversion.invert_boundaries` all begin here, so they check their
inputs, find the exchanged edge and report an image without boundaries in the same way.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from tracerdiff.boundaries import inputs, segmentation
from tracerdiff.boundaries.result import BoundaryAnalysis
from tracerdiff.boundaries.summary import summarise
from tracerdiff.errors import InputError, SourceEdgeWarning
from tracerdiff.models._common import positive
from tracerdiff.quantity import Measured


def join_notes(*parts: str) -> str:
    """Remarks joined into one message, empty ones left out."""
    return "; ".join(p for p in parts if p)


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """A tracer image ready for a boundary analysis (pixel units inside; see :func:`prepare_image`).

    Attributes
    ----------
    c, err, valid : numpy.ndarray
        Isotope fraction, its standard error (NaN outside ``valid``) and the valid pixels.
    cf, ef : numpy.ndarray
        ``c`` and ``err`` with the invalid pixels filled from their neighbours.
    px : float
        Pixel size, micrometres.
    origin : tuple of float
        (y0, x0) of pixel (0, 0), micrometres.
    d_bulk, thickness : Measured
        Checked bulk diffusivity and boundary thickness (None when not given).
    source_edge : str
        The exchanged edge ("top", ...), or "unknown" when it could not be found.
    note : str
        A remark for the result's message (e.g. a given edge that disagrees with the C trend).
    early : BoundaryAnalysis or None
        The result to return at once (no source edge found), else None.
    empty : dict
        Fields of an empty :class:`BoundaryAnalysis` of this image, updated as the analysis goes.
    """

    c: np.ndarray
    err: np.ndarray
    valid: np.ndarray
    cf: np.ndarray
    ef: np.ndarray
    px: float
    origin: tuple
    d_bulk: Measured
    thickness: Measured | None
    source_edge: str
    note: str = ""
    early: BoundaryAnalysis | None = None
    empty: dict = field(default_factory=dict)

    @property
    def source_dir(self) -> tuple[float, float]:
        """Unit vector (x, y) pointing from the image towards the exchanged edge."""
        return segmentation.EDGE_DIRECTIONS[self.source_edge]

    def to_um(self, x: float, y: float) -> tuple[float, float]:
        """(x, y) micrometres of pixel coordinates (x, y)."""
        return self.origin[1] + x * self.px, self.origin[0] + y * self.px

    def nothing_found(self, message: str) -> BoundaryAnalysis:
        """The empty result of this image with ``message`` (and the pending note)."""
        return BoundaryAnalysis((), message=join_notes(message, self.note), **self.empty)


def prepare_image(data, *, d_bulk, thickness=None, pixel_size_um=None, source_edge: str = "auto",
                  include_flagged: bool = False) -> PreparedImage:
    """Check the inputs of a boundary analysis and find the exchanged edge.

    Parameters
    ----------
    data : xarray.Dataset, IsotopeFraction or numpy.ndarray
        The tracer image (see :func:`tracerdiff.boundaries.analyse_boundaries`).
    d_bulk : Measured, str or float
        Bulk tracer diffusivity (SI floats in m^2/s).
    thickness : Measured, str, float or None
        Boundary thickness delta (SI floats in m).
    pixel_size_um : float, str or None
        Overrides the dataset's ``pixel_size_um`` attribute.
    source_edge : str
        "auto", "top", "bottom", "left" or "right".
    include_flagged : bool
        Kept in the result.

    Returns
    -------
    PreparedImage
        With ``early`` set to the (empty) result when no source edge could be found.
    """
    d_bulk = positive(d_bulk, "diffusivity", name="d_bulk")
    if thickness is not None:
        thickness = positive(thickness, "length", name="thickness")
    c, err, valid, px, origin, _ = inputs.as_fraction(data, pixel_size_um)
    empty = dict(summary=summarise(np.zeros(0)), labels=np.zeros(c.shape, np.int32), c=c, pixel_size_um=px,
                 include_flagged=include_flagged, origin_um=origin)
    note = ""
    early = None
    if source_edge == "auto":
        try:
            source_edge = segmentation.detect_source_edge(c, valid)
        except InputError as exc:
            source_edge = "unknown"
            early = BoundaryAnalysis((), source_edge="unknown", message=f"{exc}; no boundary analysed", **empty)
    elif source_edge not in segmentation.EDGE_DIRECTIONS:
        raise InputError(f"source edge must be auto, top, bottom, left or right, got {source_edge!r}",
                         source="source_edge")
    else:
        note = inputs.source_edge_note(source_edge, c, valid)
        if note:
            warnings.warn(note, SourceEdgeWarning, stacklevel=3)
    if early is None:
        empty["source_edge"] = source_edge
    cf = segmentation.fill_invalid(c, valid)
    ef = segmentation.fill_invalid(err, valid)
    return PreparedImage(c=c, err=err, valid=valid, cf=cf, ef=ef, px=px, origin=origin, d_bulk=d_bulk,
                         thickness=thickness, source_edge=source_edge, note=note, early=early, empty=empty)


def as_positive_width(width) -> float | None:
    """A user line's averaging width (micrometres, or text with a unit), checked; None stays None."""
    if width is None:
        return None
    try:
        width = float(width)
    except (TypeError, ValueError):
        width = _width_text(width)
    if not (math.isfinite(width) and width > 0):
        raise InputError("line width must be a positive number of micrometres", source="width")
    return width


def _width_text(width) -> float:
    """Micrometres of a width given as text with a unit (``"5um"``); NaN if it is not one."""
    from tracerdiff.units import to_si

    if not isinstance(width, str):
        return math.nan
    try:
        return to_si(width, "length", default_unit="um", name="width") * 1e6
    except InputError:
        return math.nan
