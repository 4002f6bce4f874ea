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
from tracerdiff.boundaries.result import BoundaryAnalysis, BoundaryStep
from tracerdiff.boundaries.summary import summarise
from tracerdiff.errors import GrainMapWarning, InputError
from tracerdiff.inversion.fitting import fit_image
from tracerdiff.inversion.quality import grain_map_quality, median_log_stderr
from tracerdiff.inversion.windows import (misfit_boundaries, population_median_block_stderr, population_median_stderr,
                                         posterior)
from tracerdiff.models._common import positive
from tracerdiff.quantity import Measured

REASON_UNDETERMINED = "not determined by the image (posterior log-sd above the limit)"
REASON_NO_DATA = "the image alone does not constrain it (edge of the field, or too short)"
REASON_MISFIT = "a neighbouring grain is not explained by the model (a boundary missing from the grain map?)"

_NAN = math.nan
#: With ``workers="auto"``, below this many pixels the windows are fitted in process: on 512 x 206
#: px (2-core machine, idle) a 2-process local cluster took 17.8 s against 13.7 s in process
#: (start-up and shipping the window models cost more than the second core saves).
SMALL_IMAGE_PX = 1_000_000


def invert_boundaries(data, *, d_bulk, thickness=None, pixel_size_um=None, source_edge: str = "auto",
                      labels=None, optical=None, psf_sigma_um: float = 0.0, window_px: int = 96,
                      stride_px: int = 64, max_log_sd: float = 0.35, max_data_log_sd: float = 1.0,
                      population_sigma: float | None = None, min_population_log_sd: float = 0.3,
                      n_passes: int = 2, workers: int | None = None, boundary_margin_px: int = 2, misfit_sigmas: float = 4.0,
                      repair_rounds: int = 3, include_flagged: bool = False, scheduler=None) -> BoundaryAnalysis:
    """Per-boundary D*gb/delta from the whole image with the quasi-steady network model.

    The image is cut into overlapping windows; in each, C is modelled as the steady field of a
    grain network (bulk D*bulk, boundary conductances G) with a smooth depth-dependent
    dC/dt and fitted edge values (see :mod:`tracerdiff.inversion.network`), and ln G of all
    boundaries are fitted jointly to every pixel (Poisson-weighted least squares) under a
    log-normal population prior whose median and spread are estimated from the image
    (see :mod:`tracerdiff.inversion.windows`). Each boundary is reported from the window
    whose centre is nearest to it.

    Parameters
    ----------
    data, d_bulk, thickness, pixel_size_um, source_edge, optical, include_flagged
        As in :func:`tracerdiff.boundaries.analyse_boundaries`. The image edge named by
        ``source_edge`` must be the exchanged surface.
    labels
        Grain labels (ints, 0 = no grain) of the image's shape; without labels and optical
        image the grains are segmented from the C map (less reliable: spurious and missed
        boundaries bias the population).
    psf_sigma_um
        Gaussian beam sigma used to blur the model before comparing it with the data.
    window_px, stride_px
        Window size and spacing, pixels (each boundary is reported from a window in which it
        lies at least ``(window_px - stride_px) / 2`` from the edges, when the image allows).
    max_log_sd, max_data_log_sd
        A boundary is accepted when its posterior sd of ln G is below ``max_log_sd`` and
        the sd from its own data alone (others fixed) is below ``max_data_log_sd``. With a
        population log-sd of 0.5, 0.35 keeps the boundaries whose image carries at least half
        of the information (1 - 0.35^2/0.5^2). On twelve 206 x 256 log-normal test images with
        grains from a simulated micrograph their Spearman rank correlation with the truth was
        0.64-0.82, mean 0.75, 11 of 12 >= 0.7 (about 0.05 lower at 0.4). In a broad population the accepted ones lean
        to the faster boundaries (median over them 0.94-1.30x truth): ``population["median"]``
        is the unbiased centre.
    population_sigma
        Fix the log-sd of the population prior instead of estimating it (a large value,
        e.g. 5, gives nearly unregularised estimates).
    min_population_log_sd
        Floor of the estimated log-sd. A narrower prior makes all boundaries share one value,
        so any local model error (a boundary drawn a pixel off, the quasi-steady approximation)
        moves that common value instead of one boundary: with boundaries from a synthetic
        micrograph (4 % of the boundary pixels one off) a uniform 512 x 206 image gave a median
        of 0.78x truth at the estimated 0.06, 0.89x at 0.15 and 0.98x at 0.3 (true grains: 1.00,
        1.01, 1.04). Log-normal images (0.5) are not affected.
    n_passes
        Nonlinear passes over the windows, each followed by re-estimating the population
        (2 and 3 passes gave the same Spearman and median within 3 % on the test images).
    boundary_margin_px
        Pixels this close to a boundary of the labels (4-neighbour steps) are left out of the
        fit: a boundary misplaced by a pixel (segmentation, registration) would otherwise put
        pixels of one grain, or PSF-blurred ones, into the other, and the fit would shrink the
        step to explain them (true grains shifted by one row: median 1.67x truth with a margin
        of 1, 1.08x with 2, on the 3000-count test image).
    misfit_sigmas
        Boundaries of a grain whose chi^2/n exceeds 1 by more than this many of its standard
        deviations (sqrt(2/n)) are flagged and left out of the population estimate: a boundary
        missing from the grain map leaves a step inside a model grain and corrupts its neighbours.
    workers
        Processes fitting windows in parallel on a local dask.distributed cluster. None or 1 (the
        default): in process. ``"auto"``: in process below 10^6 pixels, where starting a
        cluster costs more than it saves, else the CPUs available, at most 8 (what the CLI uses).
        Worker processes are spawned and re-import the main script, so in a script put the call
        under ``if __name__ == "__main__":``. Results are identical for every setting.
    scheduler
        An existing dask cluster (address such as ``"tcp://host:8786"`` or a
        ``distributed.Client``) to fit the windows on instead; see :mod:`tracerdiff.parallel`.
    repair_rounds
        Grain-map repair (0: off). Grains that hide a step in C are cut along its edge ridge when
        the step beats a shared plane by the BIC price (up to this many cuts deep); grains whose C
        ramp is too steep for their bulk (a boundary too gradual to cut) leave the data term; see
        :mod:`tracerdiff.inversion.repair`. What was done is the result's ``grain_map`` quality
        figure; past 5 % of the given grains a :class:`~tracerdiff.errors.GrainMapWarning` is raised
        and the population median's standard error carries a grain-map term.

    Returns
    -------
    BoundaryAnalysis
        One entry per grain pair (source "inversion"), D*gb/delta with stderr = value x posterior
        log-sd; ``population`` holds the estimated median and log-sd.

    Notes
    -----
    Each value is pulled towards the population median by its own uncertainty (shrinkage); on
    simulated images with log-normal D*gb/delta the errors are calibrated ((ln est - ln true) /
    log-sd has sd 0.99). With uniform D*gb/delta the estimated log-sd sits at its floor
    (``min_population_log_sd``), and the median of 5 test images (512 x 206 and 256 x 206,
    3000 counts/px) was 0.96-1.08x truth with the true grains, 1.01-1.05x with grains from a
    synthetic micrograph. The posterior sd leaves out the small-sample bias of a ratio (G grows
    as 1/step, so noise in a step biases G up by a few per cent at 3000 counts/px). Window size
    and margin move the median by a few per cent as well.
    A grain map with missing boundaries biases every value in the window upwards (the hidden
    step passes for a steep bulk gradient, i.e. for more flux): without repair, 10 % of the true
    boundaries deleted gave a population median of 3.6x truth; with it 1.00x (512 x 206, seed 100).
    The population median's standard error is the larger of the independent-boundary and the
    window-cluster error, with the grain-map term added in quadrature (``population["median_log_stderr"]``).
    """
    d_bulk = positive(d_bulk, "diffusivity", name="d_bulk")
    if thickness is not None:
        thickness = positive(thickness, "length", name="thickness")
    for name, value, lo in (("window_px", window_px, 16), ("stride_px", stride_px, 8), ("n_passes", n_passes, 1)):
        if not (isinstance(value, (int, np.integer)) and value >= lo):
            raise InputError(f"must be an integer >= {lo}, got {value!r}", source=name)
    if stride_px > window_px:
        raise InputError(f"must not exceed window_px ({window_px}), got {stride_px}", source="stride_px")
    for name, value in (("psf_sigma_um", psf_sigma_um), ("max_log_sd", max_log_sd), ("max_data_log_sd", max_data_log_sd),
                        ("min_population_log_sd", min_population_log_sd),
                        ("misfit_sigmas", misfit_sigmas)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise InputError(f"must be a finite number >= 0, got {value!r}", source=name)
    if not 0 < min_population_log_sd <= 3:
        raise InputError(f"must be in (0, 3], got {min_population_log_sd!r}", source="min_population_log_sd")
    if population_sigma is not None and not (isinstance(population_sigma, (int, float)) and population_sigma > 0):
        raise InputError(f"must be a positive number, got {population_sigma!r}", source="population_sigma")
    c, err, valid, px, origin, _ = inputs.as_fraction(data, pixel_size_um)
    if workers is None:
        workers = 1
    elif workers == "auto":
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = 1 if c.size < SMALL_IMAGE_PX else min(cpus, 8)
    if not (isinstance(workers, (int, np.integer)) and workers >= 1):
        raise InputError(f"must be an integer >= 1, got {workers!r}", source="workers")
    empty = dict(labels=np.zeros(c.shape, np.int32), c=c, pixel_size_um=px, include_flagged=include_flagged)
    if source_edge == "auto":
        try:
            source_edge = segmentation.detect_source_edge(c, valid)
        except InputError as exc:
            return BoundaryAnalysis((), summary=summarise(np.zeros(0)), source_edge="unknown",
                                    message=f"{exc}; no boundary analysed", **empty)
    elif source_edge not in segmentation.EDGE_DIRECTIONS:
        raise InputError(f"source edge must be auto, top, bottom, left or right, got {source_edge!r}",
                         source="source_edge")
    if not (isinstance(boundary_margin_px, (int, np.integer)) and boundary_margin_px >= 0):
        raise InputError(f"must be an integer >= 0, got {boundary_margin_px!r}", source="boundary_margin_px")
    cf, ef = segmentation.fill_invalid(c, valid), segmentation.fill_invalid(err, valid)
    map_origin = "labels" if labels is not None else "optical" if optical is not None else "cmap"
    labels, shift, note = inputs.grain_labels(c, cf, ef, valid, labels=labels, optical=optical, smoothing_px=2.0,
                                              merge_z=0.0, h_minimum=0.05)
    labels = np.where(valid, labels, 0).astype(np.int64)
    if not (isinstance(repair_rounds, (int, np.integer)) and repair_rounds >= 0):
        raise InputError(f"must be an integer >= 0, got {repair_rounds!r}", source="repair_rounds")
    empty.update(labels=labels.astype(np.int32), optical_shift_px=shift, source_edge=source_edge)
    image_fit = fit_image(cf, ef, valid, labels, source_edge=source_edge, px=px, d_bulk=d_bulk.value,
                          psf_px=psf_sigma_um / px, window_px=window_px, stride_px=stride_px,
                          population_sigma=population_sigma, min_sigma=min_population_log_sd, n_passes=n_passes,
                          workers=workers, misfit_sigmas=misfit_sigmas, margin_px=boundary_margin_px,
                          repair_rounds=repair_rounds, scheduler=scheduler)
    if image_fit is None:
        return BoundaryAnalysis((), summary=summarise(np.zeros(0)), message="one grain only: no boundary to fit",
                                **empty)
    fits, owned, mu, sigma = image_fit.fits, image_fit.owned, image_fit.mu, image_fit.sigma
    labels = image_fit.labels
    empty.update(labels=labels.astype(np.int32))
    geometry = {seg.grains: seg for seg in segmentation.boundary_segments(labels, min_length_px=0.0,
                                                                          max_length_px=math.inf)}
    src = np.asarray(segmentation.EDGE_DIRECTIONS[source_edge])
    rel_d = d_bulk.stderr / d_bulk.value if d_bulk.stderr > 0 else 0.0
    results = []
    for w, (fit, own) in enumerate(zip(fits, owned)):
        if own.size == 0:
            continue
        mean, cov = posterior(fit, mu, sigma)
        misfit = misfit_boundaries(fit, n_sigma=misfit_sigmas)
        for i in own:
            pair = (int(fit.pairs[i, 0]), int(fit.pairs[i, 1]))
            seg = geometry.get(pair)
            if seg is None or 0 in pair:
                continue
            sd = math.sqrt(max(cov[i, i], 0.0))
            data_sd = 1.0 / math.sqrt(fit.information[i, i]) if fit.information[i, i] > 0 else math.inf
            reason = "" if sd < max_log_sd and data_sd < max_data_log_sd else \
                (REASON_NO_DATA if data_sd >= max_data_log_sd else REASON_UNDETERMINED)
            if misfit[i]:
                reason = REASON_MISFIT
            samples = _samples_across(c, err, labels, seg, src, image_fit.model_images[w])
            results.append(_boundary_step(fit, i, mean[i], cov, sd, rel_d, seg=seg, src=src, px=px, origin=origin,
                                          d_bulk=d_bulk, thickness=thickness, reason=reason, samples=samples))
    results.sort(key=lambda b: (b.y_um, b.x_um))
    chosen = [b.dgb_over_delta.value for b in results if b.accepted or include_flagged]
    summary = summarise(np.array(chosen, dtype=float))
    message = "" if summary.n else f"none of the {len(results)} boundaries is determined by the image"
    message = "; ".join(m for m in (message, note) if m)
    quality = grain_map_quality(image_fit.repair, origin=map_origin)
    parts = median_log_stderr(population_median_stderr(fits, owned, mu, sigma),
                              population_median_block_stderr(fits, owned, mu, sigma), quality)
    mu_se = parts["total"]
    determined = any(b.reason != REASON_NO_DATA for b in results)
    population = {"median": Measured(math.exp(mu) if determined else _NAN,
                                     math.exp(mu) * mu_se if determined and math.isfinite(mu_se) else _NAN,
                                     "conductance").to_dict(),
                  "log_sd": sigma if determined else None, "estimated": population_sigma is None,
                  "median_log_stderr": {k: (v if math.isfinite(v) else None) for k, v in parts.items()}}
    if quality["deficient"]:
        remark = (f"grain map deficient: {quality['cuts_made']} of {quality['grains_given']} grains hid a step and were "
                  f"cut, {quality['steep_grains']} left out of the fit (a ramp too steep for their bulk), "
                  f"{quality['misfit_grains']} unexplained by the model; the population median's error "
                  f"includes a grain-map term of {100 * quality['median_log_stderr_map']:.0f} % (log)")
        warnings.warn(remark, GrainMapWarning, stacklevel=2)
        message = "; ".join(m for m in (message, remark) if m)
    if summary.n and math.isfinite(mu_se):
        # Shrunk estimates are not independent: their spread understates how well the centre is
        # known, so the summary's errors are at least the population median's.
        summary = dataclasses.replace(summary, **{
            k: Measured(getattr(summary, k).value, max(getattr(summary, k).stderr, getattr(summary, k).value * mu_se),
                        "conductance") for k in ("median", "mean", "geometric_mean")})
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


def _boundary_step(fit, i, theta, cov, sd, rel_d, *, seg, src, px, origin, d_bulk, thickness, reason,
                   samples) -> BoundaryStep:
    """The reported quantities of boundary ``i`` of a window fit (model step and gradient included)."""
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
                        profile_se=samples[2], profile_model=samples[3])


