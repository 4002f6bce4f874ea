"""``invert_boundaries``: D*gb/delta of every boundary fitted to every pixel of a tracer image.

Units: SI inside (m, s, m/s); positions in micrometres as in :mod:`tracerdiff.boundaries`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings

import numpy as np

from tracerdiff.boundaries import inputs, segmentation
from tracerdiff.boundaries.options import SegmentationOptions
from tracerdiff.boundaries.prepare import PreparedImage, join_notes, prepare_image
from tracerdiff.boundaries.result import BoundaryAnalysis, BoundaryStep, PopulationEstimate
from tracerdiff.boundaries.summary import binned_profile, summarise
from tracerdiff.errors import GrainMapWarning, InputError, ModelFitWarning
from tracerdiff.inversion.fitting import fit_image
from tracerdiff.inversion.options import InversionOptions
from tracerdiff.inversion.quality import grain_map_quality, median_log_stderr, model_fit_remarks
from tracerdiff.inversion.windows import (misfit_boundaries, population_median_block_stderr,
                                         population_median_marginal_stderr, population_median_stderr,
                                         trusted_posterior)
from tracerdiff.parallel import single_thread_blas
from tracerdiff.quantity import Measured

REASON_UNDETERMINED = "not determined by the image (posterior log-sd above the limit)"
REASON_NO_DATA = "the image alone does not constrain it (edge of the field, or too short)"
REASON_MISFIT = "a neighbouring grain is not explained by the model (a boundary missing from the grain map?)"
REASON_UNCONVERGED = "its window's fit stopped far from what the data pull to (the model does not describe the image there)"
#: Said of every inversion on grains segmented from the C map. Why: such a map misses the
#: boundaries whose step is below the counting noise (on the validation images 8-9 % of the grain
#: pairs, mostly running along the diffusion direction). No cut test can find them (the exact cut
#: explains less than 1 chi^2 for most), the steep-ramp test catches a sixth of the merged grains,
#: and the others' neighbours come out high (docs/validation.rst, "Where the missing-boundary bias
#: comes from").
CMAP_REMARK = ("grains segmented from the C map, which cannot show boundaries whose step is below the counting "
               "noise: the population median may run high (the C-map term of its error allows for this); give a "
               "micrograph or labels for per-boundary values")

_NAN = math.nan
#: With ``workers="auto"``, below this many pixels the windows are fitted in process: on 512 x 206
#: px (2-core machine, idle) a 2-process local cluster took 17.8 s against 13.7 s in process
#: (start-up and shipping the window models cost more than the second core saves).
SMALL_IMAGE_PX = 1_000_000


def invert_boundaries(data, *, d_bulk, thickness=None, pixel_size_um=None, source_edge: str = "auto",
                      labels=None, optical=None, options: InversionOptions | None = None, workers=None,
                      scheduler=None) -> BoundaryAnalysis:
    """Per-boundary D*gb/delta from the whole image with the quasi-steady network model.

    The image is cut into overlapping windows; in each, C is modelled as the steady field of a
    grain network (bulk D*bulk, boundary conductances G) with a smooth depth-dependent
    dC/dt and fitted edge values (see :mod:`tracerdiff.inversion.network`), and ln G of all
    boundaries are fitted jointly to every pixel (Poisson-weighted least squares) under a
    log-normal population prior whose median and spread are estimated from the image
    (see :mod:`tracerdiff.inversion.windows`). Each boundary is reported from the window
    whose centre is nearest to it. Accuracy on simulated images: see the validation page.

    Parameters
    ----------
    data : xarray.Dataset, IsotopeFraction or numpy.ndarray
        As in :func:`tracerdiff.boundaries.analyse_boundaries`.
    d_bulk : Measured, str or float
        Bulk tracer diffusivity (text such as ``"2.6e-8 cm^2/s"``, or SI float).
    thickness : Measured, str, float or None
        Boundary thickness delta (gives D*gb); optional.
    pixel_size_um : float, str or None
        Overrides the dataset's ``pixel_size_um`` attribute (required for bare arrays).
    source_edge : str
        "auto", "top", "bottom", "left" or "right": the exchanged surface.
    labels : numpy.ndarray, optional
        Grain labels (ints, 0 = no grain) of the image's shape; without labels and optical
        image the grains are segmented from the C map (less reliable).
    optical : numpy.ndarray, optional
        Etched-surface micrograph, registered to the C map.
    options : InversionOptions, optional
        Model, windows, acceptance and grain-map repair.
    workers : int, str or None
        Processes fitting windows on a local dask.distributed cluster. None or 1: in process.
        ``"auto"``: in process below 10^6 pixels, else the CPUs available, at most 8. Spawned
        workers re-import the main script (use ``if __name__ == "__main__":``). Results are
        identical for every setting.
    scheduler : str or distributed.Client, optional
        An existing dask cluster to fit the windows on; see :mod:`tracerdiff.parallel`.

    Returns
    -------
    BoundaryAnalysis
        One entry per grain pair (source "inversion"), D*gb/delta with stderr = value x posterior
        log-sd; ``population`` holds the estimated median and log-sd, ``grain_map`` the repair's
        quality figure (a :class:`~tracerdiff.errors.GrainMapWarning` past 5 % of the grains).

    Notes
    -----
    Each value is pulled towards the population median by its own uncertainty (shrinkage). The
    population median's standard error is the largest of the independent-boundary, the
    window-cluster and the marginal-likelihood error (the last sees the weakly measured common
    level of a window's conductances), with a model term and a grain-map term (set by the map's origin and its
    deficiency; see the validation page) added in quadrature (``population.median_log_stderr``).
    """
    opts = options if options is not None else InversionOptions()
    _check_workers(workers)
    prep = prepare_image(data, d_bulk=d_bulk, thickness=thickness, pixel_size_um=pixel_size_um,
                         source_edge=source_edge, include_flagged=opts.include_flagged)
    if prep.early is not None:
        return prep.early
    c, valid, px = prep.c, prep.valid, prep.px
    # The step analysis' default segmentation (it over-segments on purpose; see SegmentationOptions).
    map_origin = "labels" if labels is not None else "optical" if optical is not None else "cmap"
    labels, shift, note = inputs.grain_labels(c, prep.cf, prep.ef, valid, labels=labels, optical=optical,
                                              options=SegmentationOptions())
    note = join_notes(note, CMAP_REMARK) if map_origin == "cmap" else note
    # One copy of the map (int32, kept for the result) is passed on: fit_image works on its own
    # int64 copy (a 4096^2 px map's int64 copy held meanwhile took 134 MB).
    prep.empty.update(labels=np.where(valid, labels, 0).astype(np.int32), optical_shift_px=shift)
    del labels
    image_fit = fit_image(prep.cf, prep.ef, valid, prep.empty["labels"], source_edge=prep.source_edge, px=px,
                          d_bulk=prep.d_bulk.value, psf_px=opts.psf_sigma_um / px, window_px=opts.window_px,
                          stride_px=opts.stride_px, population_sigma=opts.population_sigma,
                          min_sigma=opts.min_population_log_sd, n_passes=opts.n_passes,
                          workers=_resolve_workers(workers, c.size), misfit_sigmas=opts.misfit_sigmas,
                          margin_px=opts.boundary_margin_px, repair_rounds=opts.repair_rounds, scheduler=scheduler)
    if image_fit is None:
        return BoundaryAnalysis((), message="one grain only: no boundary to fit", **prep.empty)
    prep.empty.update(labels=image_fit.labels.astype(np.int32))
    # One BLAS thread for the per-window posteriors (a few K x K inverses per window): on a shared
    # 2-core machine a 170 x 170 inverse took 8.6 ms CPU with two threads, 0.55 ms with one.
    with single_thread_blas():
        results, stopped_far = _boundary_steps(prep, image_fit, opts)
        return _result(prep, image_fit, results, opts, note, map_origin=map_origin, stopped_far=stopped_far)


def _check_workers(workers) -> None:
    """Refuse a ``workers`` that is neither None, ``"auto"`` nor a positive integer (before any work)."""
    if workers is None or workers == "auto":
        return
    if isinstance(workers, bool) or not (isinstance(workers, (int, np.integer)) and workers >= 1):
        raise InputError(f"must be an integer >= 1, got {workers!r}", source="workers")


def _resolve_workers(workers, n_px: int) -> int:
    """The number of worker processes for an image of ``n_px`` pixels."""
    if workers is None:
        return 1
    if workers == "auto":
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return 1 if n_px < SMALL_IMAGE_PX else min(cpus, 8)
    return int(workers)


def _boundary_steps(prep: PreparedImage, image_fit, opts: InversionOptions) -> tuple[list[BoundaryStep], list[bool]]:
    """Every owned boundary of every window, with its acceptance reason, sorted by position; and per
    window reporting boundaries, whether its fit stopped beyond the posterior's trust region."""
    fits, owned, mu, sigma, labels = image_fit.fits, image_fit.owned, image_fit.mu, image_fit.sigma, image_fit.labels
    geometry = {seg.grains: seg for seg in segmentation.boundary_segments(labels, min_length_px=0.0,
                                                                          max_length_px=math.inf)}
    src = np.asarray(prep.source_dir)
    results, stopped_far = [], []
    for w, (fit, own) in enumerate(zip(fits, owned)):
        if own.size == 0:
            continue
        mean, cov, far = trusted_posterior(fit, mu, sigma)
        stopped_far.append(far)
        misfit = misfit_boundaries(fit, n_sigma=opts.misfit_sigmas)
        info_diag = fit.information.diagonal()  # PackedSymmetric or ndarray: no full matrix unpacked
        for i in own:
            pair = (int(fit.pairs[i, 0]), int(fit.pairs[i, 1]))
            seg = geometry.get(pair)
            if seg is None or 0 in pair:
                continue
            sd = math.sqrt(max(cov[i, i], 0.0))
            data_sd = 1.0 / math.sqrt(info_diag[i]) if info_diag[i] > 0 else math.inf
            reason = "" if sd < opts.max_log_sd and data_sd < opts.max_data_log_sd else \
                (REASON_NO_DATA if data_sd >= opts.max_data_log_sd else REASON_UNDETERMINED)
            if misfit[i]:
                reason = REASON_MISFIT
            elif far:
                reason = REASON_UNCONVERGED
            samples = _binned(*_samples_across(prep.c, prep.err, labels, seg, src, image_fit.model_images[w]))
            results.append(_boundary_step(fit, i, (mean[i], cov, sd), prep, seg=seg, reason=reason, samples=samples))
    results.sort(key=lambda b: (b.y_um, b.x_um))
    return results, stopped_far


def _result(prep: PreparedImage, image_fit, results, opts: InversionOptions, note: str, *,
            map_origin: str, stopped_far: list[bool]) -> BoundaryAnalysis:
    """The analysis: summary (errors at least the population median's), population, grain-map quality.

    ``map_origin`` ("labels", "optical" or "cmap") sets the grain-map term of the median's error;
    ``stopped_far``: per window reporting boundaries, whether its fit was past the trust region.
    """
    fits, owned, mu, sigma = image_fit.fits, image_fit.owned, image_fit.mu, image_fit.sigma
    chosen = [b.dgb_over_delta.value for b in results if b.accepted or opts.include_flagged]
    summary = summarise(np.array(chosen, dtype=float))
    message = "" if summary.n else f"none of the {len(results)} boundaries is determined by the image"
    message = join_notes(message, note)
    quality = grain_map_quality(image_fit.repair, origin=map_origin)
    n_far = sum(stopped_far)
    quality.update(windows=len(stopped_far), unconverged_windows=n_far)
    parts = median_log_stderr(population_median_stderr(fits, owned, mu, sigma),
                              population_median_block_stderr(fits, owned, mu, sigma, robust=True), quality,
                              marginal=population_median_marginal_stderr(fits, owned, mu, sigma))
    mu_se = parts["total"]
    determined = any(b.reason != REASON_NO_DATA for b in results)
    population = PopulationEstimate(
        median=Measured(math.exp(mu) if determined else _NAN,
                        math.exp(mu) * mu_se if determined and math.isfinite(mu_se) else _NAN, "conductance"),
        log_sd=sigma if determined else None, estimated=opts.population_sigma is None,
        median_log_stderr={k: (v if math.isfinite(v) else None) for k, v in parts.items()})
    if quality["deficient"]:
        remark = (f"grain map deficient: {quality['cuts_made']} of {quality['grains_given']} grains hid a step and were "
                  f"cut, {quality['steep_grains']} left out of the fit (a ramp too steep for their bulk), "
                  f"{quality['misfit_grains']} unexplained by the model; the population median's error "
                  f"includes a grain-map term of {100 * quality['median_log_stderr_map']:.0f} % (log)")
        warnings.warn(remark, GrainMapWarning, stacklevel=3)
        message = join_notes(message, remark)
    for remark in model_fit_remarks(mu if determined else math.nan, d_bulk=prep.d_bulk.value, h=prep.px * 1e-6,
                                    unconverged_windows=n_far, windows=len(stopped_far),
                                    population_settled=image_fit.repair.get("population_settled", True)):
        warnings.warn(remark, ModelFitWarning, stacklevel=3)
        message = join_notes(message, remark)
    if summary.n and math.isfinite(mu_se):
        # Shrunk estimates are not independent: their spread understates how well the centre is
        # known, so the summary's errors are at least the population median's.
        summary = dataclasses.replace(summary, **{
            k: Measured(getattr(summary, k).value, max(getattr(summary, k).stderr, getattr(summary, k).value * mu_se),
                        "conductance") for k in ("median", "mean", "geometric_mean")})
    empty = {k: v for k, v in prep.empty.items() if k != "summary"}
    return BoundaryAnalysis(tuple(results), summary=summary, message=message, population=population,
                            grain_map=quality, **empty)


def _samples_across(c, err, labels, seg, src, model_image, *, reach_px: float = 12.0):
    """Pixels of the boundary's two grains within ``reach_px`` of its centre along the normal
    (s > 0 towards the source) and its half length along it: (s, C, stderr, model C)."""
    normal = np.asarray(seg.normal, float)
    if normal @ src < 0:
        normal = -normal
    tangent = np.array([-normal[1], normal[0]])
    cx, cy = seg.center
    half = seg.length / 2 + 1.0
    r = int(math.ceil(max(reach_px, half))) + 1
    y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 1, c.shape[0])
    x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 1, c.shape[1])
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.stack([xx - cx, yy - cy], axis=-1)
    s, t = d @ normal, d @ tangent
    lab = labels[y0:y1, x0:x1]
    keep = (np.abs(s) <= reach_px) & (np.abs(t) <= half) & np.isin(lab, seg.grains) & np.isfinite(c[y0:y1, x0:x1])
    model = model_image[y0:y1, x0:x1]
    keep &= np.isfinite(model)
    return s[keep], c[y0:y1, x0:x1][keep], err[y0:y1, x0:x1][keep], model[keep]


def _binned(s, c, se, model):
    """The samples across a boundary binned per pixel of s, as its plot draws them
    (:func:`~tracerdiff.boundaries.summary.binned_profile`): the data weighted by their errors, the
    model plainly. Every sample kept took ~13 KB per boundary (2.8 GB for a 4096^2 px mosaic)."""
    bs, bc, be = binned_profile(s, c, se)
    return bs, bc, be, binned_profile(s, model, np.ones_like(s))[1]


def _boundary_step(fit, i, post, prep: PreparedImage, *, seg, reason, samples) -> BoundaryStep:
    """The reported quantities of boundary ``i`` of a window fit (model step and gradient included);
    ``post`` is (posterior mean of ln G, posterior covariance, posterior sd of ln G)."""
    theta, cov, sd = post
    d_bulk, thickness, px, origin = prep.d_bulk, prep.thickness, prep.px, prep.origin
    src = np.asarray(prep.source_dir)
    rel_d = d_bulk.stderr / d_bulk.value if d_bulk.stderr > 0 else 0.0
    g = math.exp(theta)
    g_se = g * math.sqrt(sd ** 2 + rel_d ** 2)
    step = float(fit.step[i])
    a = fit.step_jacobian[i]
    step_se = math.sqrt(max(float(a @ cov @ a), 0.0))
    # Flux law in the model: D dC/dn = G dC, so ln(dC/dn) = theta + ln(dC) - ln D.
    grad = g * step / d_bulk.value
    b = a / step if step > 0 else np.zeros_like(a)  # a new array either way
    b[i] += 1.0
    grad_se = grad * math.sqrt(max(float(b @ cov @ b), 0.0) + rel_d ** 2)
    dgb = Measured(_NAN, _NAN, "diffusivity")
    if thickness is not None:
        rel_t = thickness.stderr / thickness.value if thickness.stderr > 0 else 0.0
        dgb = Measured(g * thickness.value, g * thickness.value * math.hypot(g_se / g, rel_t), "diffusivity")
    normal = np.asarray(seg.normal)
    cos = abs(float(normal @ src))
    if normal @ src < 0:
        normal = -normal
    return BoundaryStep(grains=seg.grains, x_um=origin[1] + seg.center[0] * px, y_um=origin[0] + seg.center[1] * px,
                        length_um=seg.length * px, orientation_deg=seg.orientation_deg,
                        flux_angle_deg=float(np.degrees(np.arccos(min(cos, 1.0)))),
                        dgb_over_delta=Measured(g, g_se, "conductance"), dgb=dgb,
                        delta_c=Measured(step, step_se, "dimensionless"),
                        gradient=Measured(grad, grad_se, "gradient"),
                        accepted=not reason, reason=reason, source="inversion", pixel_size_um=px,
                        normal=(float(normal[0]), float(normal[1])), profile_s=samples[0], profile_c=samples[1],
                        profile_se=samples[2], profile_model=samples[3], profile_binned=True)


