"""Grain-boundary conductance D*gb/delta from the concentration steps of a tracer image.

In a slow-boundary polycrystal the isotope fraction C changes in steps at the grain
boundaries; the step ΔC_gb and the bulk gradient next to it give
``D*gb/delta = D*bulk * (dC/dn|bulk) / ΔC_gb`` (eqns 2-3, via
:func:`tracerdiff.models.dgb_over_delta_from_step`). :func:`analyse_boundaries` finds the
grains (from the C map or a registered optical micrograph), fits every boundary segment
along its normal, flags untrustworthy ones and summarises the rest; :func:`analyse_lines`
is the paper's manual path along user lines. Their options are grouped in
:class:`SegmentationOptions`, :class:`StepFitOptions` and :class:`QualityOptions`.
"""

from tracerdiff.boundaries.analysis import analyse_boundaries, analyse_lines
from tracerdiff.boundaries.grain_metrics import BoundaryScore, GrainMatch, boundary_f1, merged_split_fractions
from tracerdiff.boundaries.optical import OpticalGrainMap, optical_grain_map
from tracerdiff.boundaries.optical_segment import OpticalSegmentation
from tracerdiff.boundaries.options import QualityOptions, SegmentationOptions, StepFitOptions
from tracerdiff.boundaries.registration import OpticalRegistration, RegistrationOptions
from tracerdiff.boundaries.result import BoundaryAnalysis, BoundaryStep, PopulationEstimate
from tracerdiff.boundaries.segmentation import BoundarySegment, boundary_segments, segment_grains
from tracerdiff.boundaries.step import StepFit, fit_step
from tracerdiff.boundaries.summary import BoundarySummary, summarise

__all__ = ["analyse_boundaries", "analyse_lines", "SegmentationOptions", "StepFitOptions", "QualityOptions",
           "BoundaryAnalysis", "BoundaryStep", "PopulationEstimate", "BoundarySegment", "BoundarySummary",
           "StepFit", "boundary_segments", "fit_step", "segment_grains", "summarise", "BoundaryScore", "GrainMatch",
           "boundary_f1", "merged_split_fractions", "OpticalGrainMap", "optical_grain_map", "OpticalSegmentation",
           "OpticalRegistration", "RegistrationOptions"]
