"""Options of the boundary analyses: segmentation, step fit and quality checks.

Each group is a frozen dataclass with the defaults of :func:`tracerdiff.boundaries.analyse_boundaries`
and :func:`tracerdiff.boundaries.analyse_lines`; a bad value raises
:class:`~tracerdiff.errors.InputError` naming the field when the object is made. Change one
field with ``dataclasses.replace(StepFitOptions(), gradient="local")`` or
``StepFitOptions(gradient="local")``. The measurements behind the defaults are on the
validation page of the documentation.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from tracerdiff.errors import InputError

GRADIENTS = ("local", "regional", "combined")
DEGREES = (1, 2, 3, "auto")


def _number(value, name: str, *, lo: float = 0.0, strict: bool = False, allow_none: bool = False) -> None:
    """Refuse a value that is not a finite number >= lo (> lo if ``strict``)."""
    if value is None and allow_none:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < lo or (strict and value == lo):
        raise InputError(f"must be a finite number {'>' if strict else '>='} {lo:g}, got {value!r}", source=name)


@dataclass(frozen=True)
class SegmentationOptions:
    """How grains are found in the C map (see :func:`tracerdiff.boundaries.segment_grains`).

    The defaults over-segment on purpose (no merging of flat boundaries, shallow seeds, 2 px
    smoothing): a spurious boundary shows no step and is flagged, while a real boundary merged
    away hides its step in the grain-slope fits.

    Attributes
    ----------
    smoothing_px : float
        Gaussian smoothing of C before the watershed, pixels.
    merge_z : float
        Neighbouring grains whose boundary step is below this many noise units are merged (0: none).
    h_minimum : float
        Depth of the seeds (h-minima of the edge strength).
    max_segment_px : float
        Boundary segments longer than this are split, pixels.
    """

    smoothing_px: float = 2.0
    merge_z: float = 0.0
    h_minimum: float = 0.05
    max_segment_px: float = 40.0

    def __post_init__(self):
        _number(self.smoothing_px, "smoothing_px")
        _number(self.merge_z, "merge_z")
        _number(self.h_minimum, "h_minimum")
        _number(self.max_segment_px, "max_segment_px", strict=True)


@dataclass(frozen=True)
class StepFitOptions:
    """How the step of C and the bulk gradient are fitted at a boundary
    (see :func:`tracerdiff.boundaries.fit_step`).

    Attributes
    ----------
    exclude_px : float
        Pixels within this distance of any boundary are left out of the fits (the PSF blurs
        each step over a few pixels).
    depth_px : float
        How far the fits reach into each grain, pixels.
    degree : int or str
        Polynomial degree of C in each grain (1, 2, 3), or ``"auto"``: the paper's quadratic
        where the curvature is significant, a straight line elsewhere.
    shared_gradient : bool
        One gradient on both sides of the boundary (the paper's model).
    min_depth_px : float
        Least reach of the samples on each side, pixels.
    gradient : str
        How dC/dn at an automatically found boundary is estimated: ``"local"`` (the two grains
        next to it), ``"regional"`` (grain slopes pooled within ``regional_radius_px``) or
        ``"combined"`` (inverse-variance mean of both). User lines always use ``"local"``.
    regional_radius_px : float
        Taper radius of the regional pooling, pixels.
    tile_px : float or None
        Length of the line pieces of the grain-slope fits (None: whole runs), pixels.
    regional_across : float
        Pooling reach across the transport direction relative to along it (1: isotropic).
    step_sigmas : float or None
        Pixels on a step of C found directly (derivative above this many noise standard
        errors) are left out of the grain-slope fits; None: only the segmentation's boundaries.
    """

    exclude_px: float = 3.0
    depth_px: float = 20.0
    degree: int | str = "auto"
    shared_gradient: bool = True
    min_depth_px: float = 3.0
    gradient: str = "combined"
    regional_radius_px: float = 24.0
    tile_px: float | None = 8.0
    regional_across: float = 1.0
    step_sigmas: float | None = None

    def __post_init__(self):
        if self.gradient not in GRADIENTS:
            raise InputError(f"gradient must be local, regional or combined, got {self.gradient!r}", source="gradient")
        if isinstance(self.degree, bool) or self.degree not in DEGREES:
            raise InputError(f"degree must be 1, 2, 3 or 'auto', got {self.degree!r}", source="degree")
        if not isinstance(self.shared_gradient, bool):
            raise InputError(f"must be True or False, got {self.shared_gradient!r}", source="shared_gradient")
        _number(self.exclude_px, "exclude_px")
        _number(self.depth_px, "depth_px", strict=True)
        _number(self.min_depth_px, "min_depth_px")
        _number(self.regional_radius_px, "regional_radius_px", strict=True)
        _number(self.tile_px, "tile_px", strict=True, allow_none=True)
        _number(self.regional_across, "regional_across", strict=True)
        _number(self.step_sigmas, "step_sigmas", allow_none=True)


@dataclass(frozen=True)
class QualityOptions:
    """Which boundaries are flagged, and which enter the summary.

    Attributes
    ----------
    max_flux_angle_deg : float
        Boundaries whose normal is more than this far from the transport direction are flagged.
    noise_sigmas : float
        Steps smaller than this many standard errors are flagged.
    significance_exclude_px : float
        Boundaries found in the C map itself must also show a significant step (free local
        slope) without the pixels closer than this: a boundary invented on noise shows a
        spurious step next to it.
    include_flagged : bool
        Summarise all boundaries with a finite positive D*gb/delta, flagged ones included.
    """

    max_flux_angle_deg: float = 70.0
    noise_sigmas: float = 2.0
    significance_exclude_px: float = 5.0
    include_flagged: bool = False

    def __post_init__(self):
        _number(self.max_flux_angle_deg, "max_flux_angle_deg")
        if self.max_flux_angle_deg > 90:
            raise InputError(f"must be at most 90, got {self.max_flux_angle_deg!r}", source="max_flux_angle_deg")
        _number(self.noise_sigmas, "noise_sigmas")
        _number(self.significance_exclude_px, "significance_exclude_px")
        if not isinstance(self.include_flagged, bool):
            raise InputError(f"must be True or False, got {self.include_flagged!r}", source="include_flagged")

    @property
    def min_cos(self) -> float:
        """Cosine of ``max_flux_angle_deg``: the least |n . e| of an accepted boundary."""
        return math.cos(math.radians(self.max_flux_angle_deg))
