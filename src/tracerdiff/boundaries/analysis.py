"""``analyse_boundaries`` (automatic) and ``analyse_lines`` (user lines): D*gb/delta at grain boundaries."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.boundaries import gradients, inputs, sampling, step
from tracerdiff.boundaries import segmentation as seg_mod
from tracerdiff.boundaries.kind import boundary_ridge_check
from tracerdiff.boundaries.options import QualityOptions, SegmentationOptions, StepFitOptions
from tracerdiff.boundaries.prepare import PreparedImage, as_positive_width, join_notes, prepare_image
from tracerdiff.boundaries.result import BoundaryAnalysis, BoundaryStep
from tracerdiff.boundaries.summary import binned_profile, summarise
from tracerdiff.errors import InputError
from tracerdiff.models import dgb_over_delta_from_step
from tracerdiff.models.harrison import BoundaryKindWarning
from tracerdiff.quantity import Measured

_NAN = math.nan
REASON_FAST = "boundaries are fast paths (ridge along them): the step model does not apply"


class _Site(NamedTuple):
    """Where a fitted boundary is and how it lies (pixel units, except ``xy_um``/``length_um``)."""

    grains: tuple[int, int]
    xy_um: tuple[float, float]
    length_um: float
    orientation_deg: float
    cos: float
    normal: tuple[float, float]
    source: str


def _make_step(fit, prep: PreparedImage, site: _Site, *, reason: str, samples) -> BoundaryStep:
    """A BoundaryStep from a step fit in pixel units: SI gradient, eqn 3 where step and gradient are > 0."""
    m_per_px = prep.px * 1e-6
    gradient = Measured(fit.gradient / m_per_px, fit.gradient_se / m_per_px, "gradient")
    delta_c = Measured(fit.step, fit.step_se, "dimensionless")
    dgb_over_delta = Measured(_NAN, _NAN, "conductance")
    dgb = Measured(_NAN, _NAN, "diffusivity")
    if fit.step > 0 and fit.gradient > 0 and math.isfinite(fit.step_se) and math.isfinite(fit.gradient_se):
        res = dgb_over_delta_from_step(prep.d_bulk, gradient, delta_c, thickness=prep.thickness)
        dgb_over_delta = res.dgb_over_delta
        dgb = res.dgb if res.dgb is not None else dgb
    # Only the plot reads the samples, and it bins them per pixel of s: keep that binned profile
    # (at most ~20 values a side) instead of every pixel of the strip (~6x more on average), which
    # at 10^5 boundaries was most of a large map's memory. The plot draws the same points.
    prof = binned_profile(*samples) if samples is not None else (np.zeros(0),) * 3
    normal = site.normal
    return BoundaryStep(grains=site.grains, x_um=site.xy_um[0], y_um=site.xy_um[1], length_um=site.length_um,
                        orientation_deg=site.orientation_deg,
                        flux_angle_deg=float(np.degrees(np.arccos(min(site.cos, 1.0)))),
                        dgb_over_delta=dgb_over_delta, dgb=dgb, delta_c=delta_c, gradient=gradient,
                        accepted=not reason, reason=reason, source=site.source, pixel_size_um=prep.px,
                        normal=(float(normal[0]), float(normal[1])), coef_down=fit.coef_down,
                        coef_up=fit.coef_up, profile_s=prof[0], profile_c=prof[1], profile_se=prof[2],
                        profile_binned=True)


#: Peak memory of the step analysis per image pixel (bytes) and its fixed part, measured by
#: benchmarks/bench_memory.py (CLI: 0.24 GB at 512^2, 1.04 GB at 2048^2, ~195 B/px above 1024^2); ~25 % margin.
BYTES_PER_PIXEL = 250.0
FIXED_BYTES = 0.25e9


def _require_memory(data) -> None:
    """Refuse an image whose analysis cannot fit in memory, before any large allocation."""
    from tracerdiff.resources import require_memory

    if hasattr(data, "sizes"):
        shape = tuple(int(data.sizes[d]) for d in ("y", "x") if d in data.sizes)
    else:
        shape = tuple(getattr(getattr(data, "value", data), "shape", ()))
    if len(shape) < 2:  # user lines (analyse_lines) sample a few strips only and are not checked
        return
    n_px = int(np.prod(shape[-2:], dtype=np.int64))
    require_memory(FIXED_BYTES + BYTES_PER_PIXEL * n_px,
                   what=f"the boundary analysis of a {shape[-1]} x {shape[-2]} px image",
                   reduce="bin the image (e.g. 2 x 2 pixels, 4x less memory) or analyse a smaller field")


def analyse_lines(data, lines, *, d_bulk, thickness=None, pixel_size_um=None, source_edge: str = "auto",
                  width=None, step_fit: StepFitOptions | None = None,
                  quality: QualityOptions | None = None) -> BoundaryAnalysis:
    """D*gb/delta along user lines, each crossing one grain boundary (the paper's manual path).

    Parameters
    ----------
    data : xarray.Dataset, IsotopeFraction or numpy.ndarray
        As in :func:`analyse_boundaries`.
    lines : str or sequence of str
        Lines ``"x0,y0,x1,y1[,width]"`` (micrometres), or sequences of those numbers.
    d_bulk : Measured, str or float
        Bulk tracer diffusivity (text such as ``"2.6e-8 cm^2/s"``, or SI float).
    thickness : Measured, str, float or None
        Boundary thickness delta (gives D*gb); optional.
    pixel_size_um : float, str or None
        Overrides the dataset's ``pixel_size_um`` attribute (required for bare arrays).
    source_edge : str
        "auto" (from the large-scale C trend), "top", "bottom", "left" or "right".
    width : float, str or None
        Averaging width of lines without their own, micrometres (default 5 pixels).
    step_fit : StepFitOptions, optional
        Fit set-up; lines always use the local gradient.
    quality : QualityOptions, optional
        Flagging and summary rules.

    Returns
    -------
    BoundaryAnalysis
        One entry per line (source "line").
    """
    fit_opts = step_fit if step_fit is not None else StepFitOptions()
    quality = quality if quality is not None else QualityOptions()
    width = as_positive_width(width)
    if isinstance(lines, str):  # one line given as text, not a list of them
        lines = [lines]
    if not lines:
        raise InputError("give at least one line x0,y0,x1,y1[,width] (micrometres)", source="line")
    prep = prepare_image(data, d_bulk=d_bulk, thickness=thickness, pixel_size_um=pixel_size_um,
                         source_edge=source_edge, include_flagged=quality.include_flagged)
    if prep.early is not None:
        return prep.early
    results = [_line_step(prep, line, width, fit_opts, quality) for line in lines]
    return assemble_analysis(results, prep.empty, quality.include_flagged, prep.note)


def _line_step(prep: PreparedImage, line, width, fit_opts: StepFitOptions, quality: QualityOptions) -> BoundaryStep:
    """The step fit along one user line."""
    src = prep.source_dir
    xy, w = inputs.parse_line(line, prep.px, prep.origin, 5.0 if width is None else width / prep.px)
    try:
        pos, pc, pe, cos = sampling.line_samples(prep.cf, prep.ef, xy, src, width_px=w)
        x_b, fit = sampling.locate_step(pos, pc, pe, exclude_px=fit_opts.exclude_px, degree=fit_opts.degree,
                                        shared_gradient=fit_opts.shared_gradient,
                                        min_depth_px=fit_opts.min_depth_px)
    except InputError as exc:
        # The profile code speaks in pixels; name the line as the user wrote it (micrometres).
        raise InputError(f"{line!r} (µm), in pixels: {exc.message}", source="line") from None
    e = np.array([xy[2] - xy[0], xy[3] - xy[1]]) / math.hypot(xy[2] - xy[0], xy[3] - xy[1])
    start = np.array(xy[:2]) if e @ np.asarray(src) >= 0 else np.array(xy[2:])
    e = e if e @ np.asarray(src) >= 0 else -e
    cross = start + x_b * e
    reason = step.quality_reason(fit, normal_cos=cos, min_cos=quality.min_cos, noise_sigmas=quality.noise_sigmas)
    keep = np.abs(pos - x_b) >= fit_opts.exclude_px
    site = _Site(grains=(0, 0), xy_um=prep.to_um(*cross), length_um=w * prep.px,
                 orientation_deg=float(np.degrees(np.arctan2(-e[0], -e[1])) % 180.0), cos=cos, normal=e,
                 source="line")
    return _make_step(fit, prep, site, reason=reason, samples=(pos[keep] - x_b, pc[keep], pe[keep]))


def analyse_boundaries(data, *, d_bulk, thickness=None, pixel_size_um=None, source_edge: str = "auto",
                       optical=None, labels=None, segmentation: SegmentationOptions | None = None,
                       step_fit: StepFitOptions | None = None,
                       quality: QualityOptions | None = None) -> BoundaryAnalysis:
    """D*gb/delta at every grain boundary of a tracer image, found automatically.

    Parameters
    ----------
    data : xarray.Dataset, IsotopeFraction or numpy.ndarray
        ``xarray.Dataset`` with "6Li"/"7Li" counts (or a "C" map), an
        :class:`~tracerdiff.isotope.IsotopeFraction`, or a 2D array of C.
    d_bulk : Measured, str or float
        Bulk tracer diffusivity (text such as ``"2.6e-8 cm^2/s"``, or SI float).
    thickness : Measured, str, float or None
        Boundary thickness delta (gives D*gb); optional.
    pixel_size_um : float, str or None
        Overrides the dataset's ``pixel_size_um`` attribute (required for bare arrays).
    source_edge : str
        "auto" (from the large-scale C trend), "top", "bottom", "left" or "right".
    optical : numpy.ndarray, optional
        Etched-surface micrograph: boundaries are taken from it after registering it to the C map.
    labels : numpy.ndarray, optional
        Grain label image (ints, 0 = none) of the image's shape, e.g. from EBSD; used instead
        of finding grains.
    segmentation : SegmentationOptions, optional
        How grains are found in the C map.
    step_fit : StepFitOptions, optional
        How each boundary's step and gradient are fitted.
    quality : QualityOptions, optional
        Flagging and summary rules.

    Returns
    -------
    BoundaryAnalysis
        One entry per boundary segment (source "auto").

    See Also
    --------
    analyse_lines : the paper's manual path along user lines.
    """
    seg_opts = segmentation if segmentation is not None else SegmentationOptions()
    fit_opts = step_fit if step_fit is not None else StepFitOptions()
    quality = quality if quality is not None else QualityOptions()
    _require_memory(data)
    prep = prepare_image(data, d_bulk=d_bulk, thickness=thickness, pixel_size_um=pixel_size_um,
                         source_edge=source_edge, include_flagged=quality.include_flagged)
    if prep.early is not None:
        return prep.early
    from_c_map = labels is None and optical is None
    labels_given = labels
    labels, shift, optical_note = inputs.grain_labels(prep.c, prep.cf, prep.ef, prep.valid, labels=labels,
                                                      optical=optical, options=seg_opts)
    prep = dataclasses.replace(prep, note=join_notes(prep.note, optical_note))
    prep.empty.update(labels=labels, optical_shift_px=shift)
    segments = seg_mod.boundary_segments(labels, max_length_px=seg_opts.max_segment_px)
    if not segments:
        where = "the C map" if from_c_map else ("the optical image" if labels_given is None else "the given labels")
        return prep.nothing_found(f"no grain boundary with a visible step was found in {where} "
                                  "(one grain only); nothing to analyse")
    results = _segment_steps(prep, labels, segments, fit_opts, quality, from_c_map=from_c_map)
    include_flagged = quality.include_flagged
    note = prep.note
    kind = boundary_ridge_check(prep.cf, prep.valid, labels, prep.source_dir, exclude_px=fit_opts.exclude_px)
    if kind.fast:
        # Fast boundaries make ridges, not steps: any "step" fitted here is an artefact of the
        # ridge's flanks, so no D*gb/delta is reported (issue 17).
        warnings.warn(kind.message, BoundaryKindWarning, stacklevel=2)
        results = [dataclasses.replace(b, accepted=False, reason=REASON_FAST) for b in results]
        include_flagged = False
        note = join_notes(kind.message, note)
    return assemble_analysis(results, prep.empty, include_flagged, note)


def _segment_steps(prep: PreparedImage, labels, segments, fit_opts: StepFitOptions, quality: QualityOptions, *,
                   from_c_map: bool) -> list[BoundaryStep]:
    """The step fit of every boundary segment, with its quality checks."""
    cf, ef, valid, src = prep.cf, prep.ef, prep.valid, prep.source_dir
    on_boundary = _on_boundary(labels)
    # Distance from each pixel centre to the nearest boundary line (boundary pixels sit 0.5 px from it).
    distance = ndi.distance_transform_edt(~on_boundary) + 0.5
    interior = valid & (distance >= fit_opts.exclude_px)
    if fit_opts.gradient != "local":
        slope_px = interior
        if fit_opts.step_sigmas:
            # Steps the segmentation missed or misplaced would leak into the slope fits.
            slope_px = interior & ~gradients.step_pixels(cf, ef, valid, src, n_sigma=fit_opts.step_sigmas)
        g_cen, g_slope, g_se = gradients.grain_slopes(cf, ef, labels, slope_px, src, tile_px=fit_opts.tile_px)
        centres = np.array([seg.center for seg in segments], dtype=float)
        reg_g, reg_se = gradients.regional_slope(centres, g_cen, g_slope, g_se, radius_px=fit_opts.regional_radius_px,
                                                 source_dir=src, across_factor=fit_opts.regional_across)
    auto_fit = dict(degree=fit_opts.degree, shared_gradient=fit_opts.shared_gradient,
                    min_depth_px=fit_opts.min_depth_px)
    noise_sigmas = quality.noise_sigmas
    results = []
    for i, seg in enumerate(segments):
        smp = sampling.strip_samples(cf, ef, labels, distance, seg, src, depth_px=fit_opts.depth_px,
                                     exclude_px=fit_opts.exclude_px)
        fit = step.fit_step_auto(smp.s, smp.c, smp.sigma, t=smp.t, **auto_fit)
        normal, _ = sampling.oriented_normal(seg.tangent, src)
        local = fit
        if fit_opts.gradient != "local" and not fit.reason:
            g_n, se_n = _chosen_gradient(fit, reg_g[i] * smp.normal_cos, reg_se[i] * smp.normal_cos,
                                         combine=fit_opts.gradient == "combined")
            if math.isfinite(g_n) and se_n > 0:
                fit = step.fit_step_fixed_gradient(smp.s, smp.c, smp.sigma, g_n, se_n, t=smp.t,
                                                   min_depth_px=fit_opts.min_depth_px)
        reason = step.quality_reason(fit, normal_cos=smp.normal_cos, min_cos=quality.min_cos,
                                     noise_sigmas=noise_sigmas)
        if not reason and not local.step > noise_sigmas * local.step_se:
            # A slope borrowed from the neighbourhood can turn local curvature into a spurious
            # step; a boundary must also show its step with its own free slope.
            reason = step.REASON_NOISE
        if not reason and from_c_map and quality.significance_exclude_px > fit_opts.exclude_px:
            # The segmentation puts boundaries where the smoothed C happens to rise steeply, so
            # a boundary invented on pure noise shows a "step" in the pixels next to it. The
            # step must also be significant without them.
            far = np.abs(smp.s) >= quality.significance_exclude_px
            check = step.fit_step_auto(smp.s[far], smp.c[far], smp.sigma[far], t=smp.t[far], **auto_fit)
            if check.reason or not check.step > noise_sigmas * check.step_se:
                reason = step.REASON_NOISE
        site = _Site(grains=(smp.downstream, smp.upstream), xy_um=prep.to_um(*seg.center),
                     length_um=seg.length * prep.px, orientation_deg=seg.orientation_deg, cos=smp.normal_cos,
                     normal=normal, source="auto")
        results.append(_make_step(fit, prep, site, reason=reason, samples=(smp.s, smp.c, smp.sigma)))
    return results


def _on_boundary(labels: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another label."""
    from skimage.segmentation import find_boundaries

    return find_boundaries(labels, connectivity=1, mode="thick")


def _chosen_gradient(local, g_regional: float, se_regional: float, *, combine: bool) -> tuple[float, float]:
    """The regional normal gradient, or its inverse-variance mean with the local one."""
    if not (math.isfinite(g_regional) and se_regional > 0):
        return (local.gradient, local.gradient_se) if combine else (_NAN, _NAN)
    if not combine or not (math.isfinite(local.gradient_se) and local.gradient_se > 0):
        return g_regional, se_regional
    w_l, w_r = local.gradient_se ** -2, se_regional ** -2
    return (w_l * local.gradient + w_r * g_regional) / (w_l + w_r), (w_l + w_r) ** -0.5


def assemble_analysis(results, empty, include_flagged, note: str = "") -> BoundaryAnalysis:
    """The analysis of ``results`` (summary over the accepted ones, or all with ``include_flagged``);
    ``note`` (e.g. about the optical image) is kept in the message. Used by the tiled analysis too."""
    chosen = [b.dgb_over_delta.value for b in results if b.accepted or include_flagged]
    summary = summarise(np.array(chosen, dtype=float))
    message = ""
    if summary.n == 0:
        message = (f"none of the {len(results)} boundaries passed the quality checks "
                   "(see each boundary's reason)") if results else "no boundary analysed"
    message = join_notes(message, note)
    empty = {k: v for k, v in empty.items() if k != "summary"}
    return BoundaryAnalysis(tuple(results), summary=summary, message=message, **empty)
