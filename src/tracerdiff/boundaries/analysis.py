"""``analyse_boundaries``: every boundary of a tracer image (or user lines) -> D*gb/delta."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.boundaries import gradients, inputs, sampling, segmentation, step
from tracerdiff.boundaries.kind import boundary_ridge_check
from tracerdiff.boundaries.result import BoundaryAnalysis, BoundaryStep
from tracerdiff.boundaries.summary import summarise
from tracerdiff.errors import InputError
from tracerdiff.models import dgb_over_delta_from_step
from tracerdiff.models._common import positive
from tracerdiff.models.harrison import BoundaryKindWarning
from tracerdiff.quantity import Measured

_NAN = math.nan
REASON_FAST = "boundaries are fast paths (ridge along them): the step model does not apply"


def _make_step(fit, *, reason, d_bulk, thickness, pixel_size_um, grains, xy_um, length_um, orientation,
               cos, normal, samples, source) -> BoundaryStep:
    """A BoundaryStep from a step fit in pixel units: SI gradient, eqn 3 where step and gradient are > 0."""
    m_per_px = pixel_size_um * 1e-6
    gradient = Measured(fit.gradient / m_per_px, fit.gradient_se / m_per_px, "gradient")
    delta_c = Measured(fit.step, fit.step_se, "dimensionless")
    dgb_over_delta = Measured(_NAN, _NAN, "conductance")
    dgb = Measured(_NAN, _NAN, "diffusivity")
    if fit.step > 0 and fit.gradient > 0 and math.isfinite(fit.step_se) and math.isfinite(fit.gradient_se):
        res = dgb_over_delta_from_step(d_bulk, gradient, delta_c, thickness=thickness)
        dgb_over_delta = res.dgb_over_delta
        dgb = res.dgb if res.dgb is not None else dgb
    prof = samples if samples is not None else (np.zeros(0),) * 3
    return BoundaryStep(grains=grains, x_um=xy_um[0], y_um=xy_um[1], length_um=length_um,
                        orientation_deg=orientation, flux_angle_deg=float(np.degrees(np.arccos(min(cos, 1.0)))),
                        dgb_over_delta=dgb_over_delta, dgb=dgb, delta_c=delta_c, gradient=gradient,
                        accepted=not reason, reason=reason, source=source, pixel_size_um=pixel_size_um,
                        normal=(float(normal[0]), float(normal[1])), coef_down=fit.coef_down,
                        coef_up=fit.coef_up, profile_s=prof[0], profile_c=prof[1], profile_se=prof[2])


#: Peak memory of the step analysis per image pixel (bytes) and its fixed part, measured by
#: benchmarks/bench_memory.py (CLI: 0.24 GB at 512^2, 1.04 GB at 2048^2, ~195 B/px above 1024^2); ~25 % margin.
BYTES_PER_PIXEL = 250.0
FIXED_BYTES = 0.25e9


def _require_memory(data, lines) -> None:
    """Refuse an image whose analysis cannot fit in memory, before any large allocation."""
    from tracerdiff.resources import require_memory

    if hasattr(data, "sizes"):
        shape = tuple(int(data.sizes[d]) for d in ("y", "x") if d in data.sizes)
    else:
        shape = tuple(getattr(getattr(data, "value", data), "shape", ()))
    if len(shape) < 2 or lines:  # user lines sample a few strips only
        return
    n_px = int(np.prod(shape[-2:], dtype=np.int64))
    require_memory(FIXED_BYTES + BYTES_PER_PIXEL * n_px,
                   what=f"the boundary analysis of a {shape[-1]} x {shape[-2]} px image",
                   reduce="bin the image (e.g. 2 x 2 pixels, 4x less memory) or analyse a smaller field")


def analyse_boundaries(data, *, d_bulk, thickness=None, pixel_size_um=None, source_edge: str = "auto",
                       optical=None, labels=None, lines=None, width: float | None = None, include_flagged: bool = False,
                       exclude_px: float = 3.0, depth_px: float = 20.0, degree: int | str = "auto",
                       shared_gradient: bool = True, gradient: str = "combined",
                       regional_radius_px: float = 24.0, tile_px: float | None = 8.0, max_flux_angle_deg: float = 70.0,
                       noise_sigmas: float = 2.0, min_depth_px: float = 3.0, smoothing_px: float = 2.0,
                       merge_z: float = 0.0, h_minimum: float = 0.05, max_segment_px: float = 40.0,
                       step_sigmas: float | None = None, regional_across: float = 1.0,
                       significance_exclude_px: float = 5.0) -> BoundaryAnalysis:
    """D*gb/delta at every grain boundary of a tracer image (or along user lines).

    Parameters
    ----------
    data
        ``xarray.Dataset`` with "6Li"/"7Li" counts (or a "C" map), an
        :class:`~tracerdiff.isotope.IsotopeFraction`, or a 2D array of C.
    d_bulk
        Bulk tracer diffusivity (Measured, text such as ``"2.6e-8 cm^2/s"``, or SI float).
    thickness
        Boundary thickness delta (gives D*gb); optional.
    pixel_size_um
        Overrides the dataset's ``pixel_size_um`` attribute (required for bare arrays).
    source_edge
        "auto" (from the large-scale C trend), "top", "bottom", "left" or "right".
    optical
        Optional etched-surface micrograph (2D array at the SIMS pixel size): boundaries are
        taken from it after registering it to the C map by phase correlation.
    labels
        Optional grain label image (ints, 0 = none) of the image's shape, e.g. from EBSD or a
        previous segmentation; used instead of finding grains.
    lines
        User lines ``"x0,y0,x1,y1[,width]"`` (micrometres) each crossing one boundary (the paper's
        manual path); when given, no automatic detection is done.
    width
        Averaging width of user lines, micrometres (default 5 pixels). Automatic segments are
        averaged over their whole length (at most ``max_segment_px``).
    include_flagged
        Summarise all boundaries with a finite positive D*gb/delta, flagged ones included.
    exclude_px, depth_px, degree, shared_gradient, min_depth_px
        Fit set-up (see :func:`tracerdiff.boundaries.step.fit_step` and ``fit_step_auto``):
        pixels within ``exclude_px`` of any boundary are left out (the PSF blurs each step over
        a few pixels, and the step is ~100x the gradient per pixel, so even 1 % leakage biases
        the gradient), fits reach ``depth_px`` into each grain; ``degree="auto"`` uses the
        paper's quadratic where the curvature is significant and a straight line elsewhere.
    gradient
        How dC/dn at an automatically found boundary is estimated: ``"local"`` (the paper's
        fit of the two grains next to it only), ``"regional"`` (grain slopes along the
        transport direction pooled within ``regional_radius_px`` and projected on the normal,
        see :mod:`tracerdiff.boundaries.gradients`) or ``"combined"`` (inverse-variance mean of
        both; the local fit dominates where it is precise). With a regional part, ΔC is
        refitted with that slope fixed. User lines always use "local".
    regional_radius_px, tile_px, regional_across
        Taper radius of the regional pooling, length of the line pieces of the grain slope
        fits (None: whole runs), and the pooling reach across the transport direction relative
        to along it (1: isotropic; larger values lowered the medians on simulated images).
    max_flux_angle_deg, noise_sigmas
        Flag boundaries whose normal is more than this far from the transport direction,
        and steps smaller than ``noise_sigmas`` standard errors.
    smoothing_px, merge_z, h_minimum, max_segment_px
        Segmentation controls (see :func:`tracerdiff.boundaries.segmentation.segment_grains`);
        segments longer than ``max_segment_px`` are split. The defaults over-segment on
        purpose (no merging of flat boundaries, shallow seeds, 2 px smoothing): a spurious
        boundary shows no step and is flagged, while a real boundary merged away hides its
        step in the grain-slope fits (median 1.66-1.75x truth with 1.0/1.0/0.2 on simulated
        3000-count images, 0.87-1.13x with these).
    significance_exclude_px
        Boundaries found in the C map itself must also show a significant step (free local
        slope) without the pixels closer than this: the segmentation places boundaries where
        the noisy C happens to rise steeply, so a boundary invented on noise shows a spurious
        step next to it.
    step_sigmas
        Pixels on a step of C found directly (derivative along the transport direction above
        this many noise standard errors, see :func:`tracerdiff.boundaries.gradients.step_pixels`)
        are left out of the grain-slope fits; None: only the segmentation's boundaries are.
    """
    d_bulk = positive(d_bulk, "diffusivity", name="d_bulk")
    if thickness is not None:
        thickness = positive(thickness, "length", name="thickness")
    if width is not None:
        try:
            width = float(width)
        except (TypeError, ValueError):
            width = _NAN
        if not (math.isfinite(width) and width > 0):
            raise InputError("line width must be a positive number of micrometres", source="width")
    _require_memory(data, lines)
    c, err, valid, px, origin, name = inputs.as_fraction(data, pixel_size_um)
    if gradient not in ("local", "regional", "combined"):
        raise InputError(f"gradient must be local, regional or combined, got {gradient!r}", source="gradient")
    if degree not in (1, 2, 3, "auto"):
        raise InputError(f"degree must be 1, 2, 3 or 'auto', got {degree!r}", source="degree")
    note = ""  # a remark kept in the result's message (source edge, optical image size)
    empty = dict(summary=summarise(np.zeros(0)), labels=np.zeros(c.shape, np.int32), c=c, pixel_size_um=px,
                 include_flagged=include_flagged)
    if source_edge == "auto":
        try:
            source_edge = segmentation.detect_source_edge(c, valid)
        except InputError as exc:
            return BoundaryAnalysis((), source_edge="unknown", message=f"{exc}; no boundary analysed", **empty)
    elif source_edge not in segmentation.EDGE_DIRECTIONS:
        raise InputError(f"source edge must be auto, top, bottom, left or right, got {source_edge!r}",
                         source="source_edge")
    else:
        note = inputs.source_edge_note(source_edge, c, valid)
    empty["source_edge"] = source_edge
    src = segmentation.EDGE_DIRECTIONS[source_edge]
    cf = segmentation.fill_invalid(c, valid)
    ef = segmentation.fill_invalid(err, valid)
    min_cos = math.cos(math.radians(max_flux_angle_deg))
    to_um = lambda x, y: (origin[1] + x * px, origin[0] + y * px)  # noqa: E731

    if isinstance(lines, str):  # one line given as text, not a list of them
        lines = [lines]
    if lines:
        results = []
        for line in lines:
            xy, w = inputs.parse_line(line, px, origin, 5.0 if width is None else width / px)
            try:
                pos, pc, pe, cos = sampling.line_samples(cf, ef, xy, src, width_px=w)
                x_b, fit = sampling.locate_step(pos, pc, pe, exclude_px=exclude_px, degree=degree,
                                                shared_gradient=shared_gradient, min_depth_px=min_depth_px)
            except InputError as exc:
                # The profile code speaks in pixels; name the line as the user wrote it (micrometres).
                detail = str(exc)[len(exc.source) + 2:] if exc.source else str(exc)
                raise InputError(f"{line!r} (µm), in pixels: {detail}",
                                 source="line") from None
            e = np.array([xy[2] - xy[0], xy[3] - xy[1]]) / math.hypot(xy[2] - xy[0], xy[3] - xy[1])
            start = np.array(xy[:2]) if e @ np.asarray(src) >= 0 else np.array(xy[2:])
            e = e if e @ np.asarray(src) >= 0 else -e
            cross = start + x_b * e
            reason = step.quality_reason(fit, normal_cos=cos, min_cos=min_cos, noise_sigmas=noise_sigmas)
            keep = np.abs(pos - x_b) >= exclude_px
            results.append(_make_step(fit, reason=reason, d_bulk=d_bulk, thickness=thickness, pixel_size_um=px,
                                      grains=(0, 0), xy_um=to_um(*cross), length_um=w * px,
                                      orientation=float(np.degrees(np.arctan2(-e[0], -e[1])) % 180.0), cos=cos,
                                      normal=e, samples=(pos[keep] - x_b, pc[keep], pe[keep]), source="line"))
        return _finish(results, empty, include_flagged, note)

    from_c_map = labels is None and optical is None
    labels_given = labels
    labels, shift, optical_note = inputs.grain_labels(c, cf, ef, valid, labels=labels, optical=optical,
                                                      smoothing_px=smoothing_px, merge_z=merge_z, h_minimum=h_minimum)
    note = "; ".join(m for m in (note, optical_note) if m)
    empty.update(labels=labels, optical_shift_px=shift)
    segments = segmentation.boundary_segments(labels, max_length_px=max_segment_px)
    if not segments:
        where = "the C map" if from_c_map else ("the optical image" if labels_given is None else "the given labels")
        return BoundaryAnalysis((), message=f"no grain boundary with a visible step was found in {where} "
                                "(one grain only); nothing to analyse" + (f"; {note}" if note else ""), **empty)
    on_boundary = _on_boundary(labels)
    # Distance from each pixel centre to the nearest boundary line (boundary pixels sit 0.5 px from it).
    distance = ndi.distance_transform_edt(~on_boundary) + 0.5
    interior = valid & (distance >= exclude_px)
    if gradient != "local":
        slope_px = interior
        if step_sigmas:
            # Steps the segmentation missed or misplaced would leak into the slope fits.
            slope_px = interior & ~gradients.step_pixels(cf, ef, valid, src, n_sigma=step_sigmas)
        g_cen, g_slope, g_se = gradients.grain_slopes(cf, ef, labels, slope_px, src, tile_px=tile_px)
        centres = np.array([seg.center for seg in segments], dtype=float)
        reg_g, reg_se = gradients.regional_slope(centres, g_cen, g_slope, g_se, radius_px=regional_radius_px,
                                                 source_dir=src, across_factor=regional_across)
    results = []
    for i, seg in enumerate(segments):
        smp = sampling.strip_samples(cf, ef, labels, distance, seg, src, depth_px=depth_px, exclude_px=exclude_px)
        fit = step.fit_step_auto(smp.s, smp.c, smp.sigma, t=smp.t, degree=degree, shared_gradient=shared_gradient,
                                 min_depth_px=min_depth_px)
        normal, _ = sampling.oriented_normal(seg.tangent, src)
        local = fit
        if gradient != "local" and not fit.reason:
            g_n, se_n = _chosen_gradient(fit, reg_g[i] * smp.normal_cos, reg_se[i] * smp.normal_cos,
                                         combine=gradient == "combined")
            if math.isfinite(g_n) and se_n > 0:
                fit = step.fit_step_fixed_gradient(smp.s, smp.c, smp.sigma, g_n, se_n, t=smp.t,
                                                   min_depth_px=min_depth_px)
        reason = step.quality_reason(fit, normal_cos=smp.normal_cos, min_cos=min_cos, noise_sigmas=noise_sigmas)
        if not reason and not local.step > noise_sigmas * local.step_se:
            # A slope borrowed from the neighbourhood can turn local curvature into a spurious
            # step; a boundary must also show its step with its own free slope.
            reason = step.REASON_NOISE
        if not reason and from_c_map and significance_exclude_px > exclude_px:
            # The segmentation puts boundaries where the smoothed C happens to rise steeply, so
            # a boundary invented on pure noise shows a "step" in the pixels next to it. The
            # step must also be significant without them.
            far = np.abs(smp.s) >= significance_exclude_px
            check = step.fit_step_auto(smp.s[far], smp.c[far], smp.sigma[far], t=smp.t[far], degree=degree,
                                       shared_gradient=shared_gradient, min_depth_px=min_depth_px)
            if check.reason or not check.step > noise_sigmas * check.step_se:
                reason = step.REASON_NOISE
        results.append(_make_step(fit, reason=reason, d_bulk=d_bulk, thickness=thickness, pixel_size_um=px,
                                  grains=(smp.downstream, smp.upstream), xy_um=to_um(*seg.center),
                                  length_um=seg.length * px, orientation=seg.orientation_deg,
                                  cos=smp.normal_cos, normal=normal, samples=(smp.s, smp.c, smp.sigma),
                                  source="auto"))
    kind = boundary_ridge_check(cf, valid, labels, src, exclude_px=exclude_px)
    if kind.fast:
        # Fast boundaries make ridges, not steps: any "step" fitted here is an artefact of the
        # ridge's flanks, so no D*gb/delta is reported (issue 17).
        warnings.warn(kind.message, BoundaryKindWarning, stacklevel=2)
        results = [dataclasses.replace(b, accepted=False, reason=REASON_FAST) for b in results]
        include_flagged = False
        note = "; ".join(m for m in (kind.message, note) if m)
    return _finish(results, empty, include_flagged, note)


def _on_boundary(labels: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another label."""
    on = np.zeros(labels.shape, bool)
    on[:-1] |= labels[:-1] != labels[1:]
    on[1:] |= labels[:-1] != labels[1:]
    on[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    on[:, 1:] |= labels[:, :-1] != labels[:, 1:]
    return on


def _chosen_gradient(local, g_regional: float, se_regional: float, *, combine: bool) -> tuple[float, float]:
    """The regional normal gradient, or its inverse-variance mean with the local one."""
    if not (math.isfinite(g_regional) and se_regional > 0):
        return (local.gradient, local.gradient_se) if combine else (_NAN, _NAN)
    if not combine or not (math.isfinite(local.gradient_se) and local.gradient_se > 0):
        return g_regional, se_regional
    w_l, w_r = local.gradient_se ** -2, se_regional ** -2
    return (w_l * local.gradient + w_r * g_regional) / (w_l + w_r), (w_l + w_r) ** -0.5


def _finish(results, empty, include_flagged, note: str = "") -> BoundaryAnalysis:
    """The analysis of ``results``; ``note`` (e.g. about the optical image) is kept in the message."""
    chosen = [b.dgb_over_delta.value for b in results if b.accepted or include_flagged]
    summary = summarise(np.array(chosen, dtype=float))
    message = ""
    if summary.n == 0:
        message = (f"none of the {len(results)} boundaries passed the quality checks "
                   "(see each boundary's reason)") if results else "no boundary analysed"
    message = "; ".join(m for m in (message, note) if m)
    empty = {k: v for k, v in empty.items() if k != "summary"}
    return BoundaryAnalysis(tuple(results), summary=summary, message=message, **empty)
