"""SIMS analyses of a study: loading images/scans, boundary steps, erfc fits, closed evolution.

Each analysis is optional: it runs when the study has the data it needs, and
otherwise records ``status: "skipped"`` with the reason in ``results.json``. A
module of tracerdiff that fails to import is a broken installation, not missing
data: while the data are read it stops the run (:class:`~tracerdiff.errors.InstallationError`
naming the module, exit 2); inside an analysis the ImportError propagates and the runner
marks the analysis failed (exit 1). Neither is ever recorded as skipped.
"""

from __future__ import annotations

import contextlib
import math

from tracerdiff.errors import InputError, TracerdiffError, own_imports
from tracerdiff.quantity import Measured
from tracerdiff.study.context import RunContext


def load_data(ctx: RunContext) -> None:
    """Read and check every image, micrograph, scan and spectrum before any analysis.

    Raises
    ------
    InputError
        A data file is unreadable or unusable; the message names the study file, the key and the data file.
    """
    from tracerdiff.io import read, read_count_pair, read_impedance_spectrum, read_line_scan

    tracer, other = ctx.study.sample.tracer, ctx.study.sample.other
    lithium = (tracer, other) == ("6Li", "7Li")
    for i, im in enumerate(ctx.study.measurements.images):
        px = None if im.pixel_size is None else im.pixel_size * 1e6
        with _naming(ctx, f"measurements.images[{i}]"):
            if lithium:
                # A tiled analysis reads each tile when it needs it (uncompressed TIFF, .npy).
                ds = read(im.file, pixel_size_um=px) if im.file is not None else read_count_pair(
                    im.li6, im.li7, pixel_size_um=px, lazy=ctx.study.options.tile is not None)
            else:  # any other pair: the analyses take its C map (same values and counting errors)
                from tracerdiff.io import read_tracer_pair
                from tracerdiff.isotope import fraction_image

                pair = read_tracer_pair(im.file if im.file is not None else im.li6,
                                        None if im.file is not None else im.li7,
                                        tracer=tracer, other=other, pixel_size_um=px)
                ds = fraction_image(pair, tracer=tracer, other=other)
        ctx.images[im.name] = ds
        if im.optical is not None:
            opt_px = None if im.optical_pixel_size is None else im.optical_pixel_size * 1e6
            with _naming(ctx, f"measurements.images[{i}].optical"):
                ctx.optical[im.name] = read_optical(im.optical, sims_pixel_um=float(ds.attrs["pixel_size_um"]),
                                                    optical_pixel_um=opt_px)
                _check_same_field(ctx.optical[im.name].shape, _image_shape(ds), im.optical)
    if ctx.study.measurements.line_scans:
        # A module of tracerdiff that fails to import is a broken installation: the run stops
        # here naming it (InstallationError, exit 2), it is never filed as a skipped analysis.
        with own_imports("checking the study's line scans"):
            from tracerdiff.profiles.depth import prepare_profile
            from tracerdiff.profiles.load import check_profile
    for i, scan in enumerate(ctx.study.measurements.line_scans):
        with _naming(ctx, f"measurements.line_scans[{i}].file"):
            ds = read_line_scan(scan.file)  # the one line-scan reader: columns as read, x in um
            # depth scale, tracer/other -> C
            ds = prepare_profile(ds, tracer=None if lithium else tracer, other=None if lithium else other,
                                 sputter_rate=scan.sputter_rate, crater_depth=scan.crater_depth)
            check_profile(ds)  # too few points etc. must fail now, not mid-run
            ctx.scans[scan.name] = ds
    for i, series in enumerate(ctx.study.reference.series):
        with _naming(ctx, f"reference.series[{i}].file"):
            ctx.reference_values[series.name] = series.values_si()
    if ctx.study.reference.impedance:
        with own_imports("checking the study's impedance spectra"):
            from tracerdiff.models.impedance_fit import MIN_SPECTRUM_POINTS
        for i, spec in enumerate(ctx.study.reference.impedance):
            with _naming(ctx, f"reference.impedance[{i}].file"):
                ctx.spectra[spec.name] = read_impedance_spectrum(spec.file, min_points=MIN_SPECTRUM_POINTS)


@contextlib.contextmanager
def _naming(ctx: RunContext, key: str):
    """Prefix a data file's error with the study file and key, so the user knows which entry to fix."""
    try:
        yield
    except InputError as exc:
        raise type(exc)(f"{key}: {exc}", source=ctx.study_path) from None


def _image_shape(ds) -> tuple[int, int]:
    return tuple(int(ds.sizes[d]) for d in ("y", "x"))


def _check_same_field(optical_shape, sims_shape, path) -> None:
    """Refuse a micrograph that cannot cover the SIMS field of view.

    The micrograph is registered with a similarity transform (scale within +-25 %, a few
    degrees of rotation, any shift), so it may be larger than the field and at another
    magnification; but one smaller than 3/4 of the field in a direction (wrong file, wrong
    ``optical_pixel_size``) or more than 4 times larger (registration would be slow and
    ambiguous) is refused rather than matched silently.
    """
    if any(a < 0.75 * b or a > 4 * b for a, b in zip(optical_shape, sims_shape)):
        raise InputError(f"the micrograph has {optical_shape[0]} x {optical_shape[1]} pixels at the SIMS pixel size "
                         f"but the SIMS image has {sims_shape[0]} x {sims_shape[1]}; it must cover the same field "
                         "of view (3/4 to 4 times its size; check the file and 'optical_pixel_size')", source=path)


def read_optical(path, *, sims_pixel_um: float, optical_pixel_um: float | None = None):
    """A micrograph as a 2D grey array at the SIMS pixel size.

    Read by :func:`tracerdiff.io.read_micrograph` (colour to grey by ITU-R BT.601 luma, as
    ``tracerdiff boundaries --optical`` reads it). With ``optical_pixel_um`` differing from
    the SIMS pixel, the image is resampled (anti-aliased) so one pixel matches one SIMS pixel,
    as registration needs.
    """
    from tracerdiff.io import read_micrograph

    arr = read_micrograph(path, pixel_size_um=optical_pixel_um or sims_pixel_um)
    if optical_pixel_um is not None and abs(optical_pixel_um / sims_pixel_um - 1) > 1e-6:
        from skimage.transform import rescale
        arr = rescale(arr, optical_pixel_um / sims_pixel_um, anti_aliasing=True, preserve_range=True)
    return arr


def _temperature_label(t: float) -> str:
    return f"{t - 273.15:g} degC"


def analyse_images(ctx: RunContext, *, progress=None) -> None:
    """D*gb/delta at every boundary of every image (eqns 2-3), D*bulk at the image's step temperature.

    With several images (and no ``options.tile``, whose tiles are the tasks), each image's analysis
    is a task on the parallel engine (:mod:`tracerdiff.parallel`: in process, or the run's
    cluster); the results are recorded in the study's order, identical whichever engine ran them.
    """
    study = ctx.study
    if not study.measurements.images:
        ctx.skip("boundary_steps", "the study has no SIMS images")
        return
    out = {"status": "done", "note": "", "images": {}}
    prepared = [_image_spec(ctx, im) for im in study.measurements.images]
    runnable = [(im, entry, spec) for im, entry, spec in prepared if spec is not None]
    if len(runnable) > 1 and study.options.tile is None:
        from tracerdiff.parallel import task_runner

        with task_runner() as runner:
            outcomes = runner.map(_image_task, [spec for *_, spec in runnable],
                                  names=[f"study {ctx.study_path.name}, image {im.name}" for im, *_ in runnable],
                                  progress=None if progress is None else (lambda done, total: progress()))
    else:
        outcomes = []
        for *_, spec in runnable:
            outcomes.append(_image_task(spec))
            if progress is not None:
                progress()
    results = dict(zip([im.name for im, *_ in runnable], outcomes))
    for im, entry, spec in prepared:
        if spec is None:  # skipped before any analysis (e.g. no D*bulk at its temperature)
            out["images"][im.name] = entry
            if progress is not None:
                progress()
            continue
        _record_image(ctx, im, entry, results[im.name], out)
    done = [e for e in out["images"].values() if e.get("status") == "done"]
    if not done:
        reasons = "; ".join(f"{name}: {e.get('note', '')}" for name, e in out["images"].items())
        out.update(status="skipped", note=f"no image gave an accepted boundary ({reasons})")
    ctx.results["boundary_steps"] = out


def _image_spec(ctx: RunContext, im):
    """(image, its results entry so far, the analysis' inputs or None when it is skipped)."""
    study = ctx.study
    step = study.steps[study.step_index(im.after)]
    d_bulk, d_source = ctx.d_bulk_at(step.temperature)
    entry = {"after_step": step.name, "temperature": Measured(step.temperature, 0, "temperature").to_dict(),
             "inputs": [str(p) for p in (im.li6, im.li7, im.file, im.optical) if p is not None],
             "isotopes": {"tracer": study.sample.tracer, "other": study.sample.other}}
    if d_bulk is None:
        entry.update(status="skipped", note=d_source)
        return im, entry, None
    use_optical = im.name in ctx.optical and study.options.boundary_source in ("auto", "optical")
    entry.update(d_bulk=d_bulk.to_dict(), d_bulk_source=d_source)
    spec = dict(data=ctx.images[im.name], d_bulk=d_bulk, thickness=Measured(study.sample.gb_thickness, 0, "length"),
                edge=im.edge, optical=ctx.optical[im.name] if use_optical else None,
                method=study.options.boundary_method, psf_um=study.options.psf * 1e6, tile=study.options.tile,
                tile_halo=study.options.tile_halo)
    return im, entry, spec


def _image_task(spec: dict):
    """One image's boundary analysis: the result, or ``("failed", message)`` for bad data (a task)."""
    import warnings

    from tracerdiff.errors import GrainMapWarning, ModelFitWarning, SourceEdgeWarning

    common = dict(d_bulk=spec["d_bulk"], thickness=spec["thickness"], source_edge=spec["edge"])
    try:
        with warnings.catch_warnings():
            # These remarks are in the result's message, which becomes the image's note in the report.
            warnings.simplefilter("ignore", GrainMapWarning)
            warnings.simplefilter("ignore", ModelFitWarning)
            warnings.simplefilter("ignore", SourceEdgeWarning)
            if spec["method"] == "inversion":
                from tracerdiff.inversion import InversionOptions, invert_boundaries

                return invert_boundaries(spec["data"], optical=spec["optical"],
                                         options=InversionOptions(psf_sigma_um=spec["psf_um"]), **common)
            if spec["tile"] is not None:
                from tracerdiff.boundaries.tiled import DEFAULT_HALO_PX, analyse_boundaries_tiled

                halo = DEFAULT_HALO_PX if spec["tile_halo"] is None else spec["tile_halo"]
                return analyse_boundaries_tiled(spec["data"], tile_px=spec["tile"], halo_px=halo, **common)
            from tracerdiff.boundaries import analyse_boundaries

            return analyse_boundaries(spec["data"], optical=spec["optical"], **common)
    except TracerdiffError as exc:
        return ("failed", str(exc))


def _record_image(ctx: RunContext, im, entry: dict, res, out: dict) -> None:
    """Put one image's analysis into the results, tables, Arrhenius points and figures."""
    study = ctx.study
    step = study.steps[study.step_index(im.after)]
    if isinstance(res, tuple):
        entry.update(status="failed", note=res[1])
        entry.pop("d_bulk", None)
        entry.pop("d_bulk_source", None)
        out["images"][im.name] = entry
        return
    use_optical = im.name in ctx.optical and study.options.boundary_source in ("auto", "optical")
    method = study.options.boundary_method
    summary = res.summary
    d_bulk, d_source = entry.pop("d_bulk"), entry.pop("d_bulk_source")  # keep the entry's key order
    entry.update(status="done" if summary.n else "skipped", note=res.message, d_bulk=d_bulk,
                 d_bulk_source=d_source, boundaries_from="optical micrograph" if use_optical else "C map",
                 boundary_method=method, **({"tile_px": study.options.tile} if study.options.tile else {}),
                 analysis=res.to_dict())
    out["images"][im.name] = entry
    ctx.objects[f"boundaries:{im.name}"] = res
    ctx.tables[f"boundaries_{im.name}"] = (
        ["x_um", "y_um", "length_um", "accepted", "reason", "dgb_over_delta_cm_s", "stderr_cm_s",
         "dgb_cm2_s", "delta_c", "gradient_per_cm"],
        [[b.x_um, b.y_um, b.length_um, b.accepted, b.reason, *b.dgb_over_delta.to(), b.dgb.to()[0],
          b.delta_c.value, b.gradient.to()[0]] for b in res.boundaries])
    if summary.n:
        g = summary.median
        ctx.objects.setdefault("dgb_over_delta", []).append((step.temperature, g, im.name))
        ctx.add_point("(l/δ)D*gb", step.temperature,
                      Measured.from_ufloat(_u(g) * _u(Measured(study.sample.grain_size,
                                                               study.sample.grain_size_sd, "length")),
                                           "diffusivity"), f"image {im.name}: l × median D*gb/δ")
    from matplotlib.figure import Figure
    fig = res.plot(fig=Figure(figsize=(10, 7), layout="constrained")).figure
    ctx.add_figure("boundary_steps", f"cmap_{im.name}", fig,
                   f"Image {im.name} (after {step.name}): C map with boundaries coloured by D*gb/δ, "
                   "and example step fits" + (" (data and the fitted network model)." if method == "inversion" else "."))


def _u(m: Measured):
    from tracerdiff.models._common import u
    return u(m)


def _exchange_run(study, index: int) -> float:
    """Total contact time of the run of exchange steps ending at step ``index`` (same temperature)."""
    steps = study.steps
    t, temp = 0.0, steps[index].temperature
    i = index
    while i >= 0 and steps[i].kind == "exchange" and math.isclose(steps[i].temperature, temp, abs_tol=0.5):
        t += steps[i].duration
        i -= 1
    return t


def analyse_scans(ctx: RunContext, *, progress=None) -> None:
    """erfc fits of scans taken right after exchange; closed evolution of later scans from them."""
    study = ctx.study
    scans = sorted(study.measurements.line_scans, key=lambda s: study.step_index(s.after))
    if not scans:
        ctx.skip("erfc", "the study has no line scans")
        ctx.skip("time_evolution", "the study has no line scans")
        return
    from tracerdiff.profiles.erfc import fit_erfc

    erfc = {"status": "done", "note": "", "scans": {}}
    chains: list[tuple] = []  # (initial scan, exchange time, [(later scan, elapsed, label)], notes)
    for scan in scans:
        k = study.step_index(scan.after)
        step = study.steps[k]
        if step.kind == "exchange":
            t_ex = _exchange_run(study, k)
            try:
                fit = fit_erfc(ctx.scans[scan.name], t_ex)
            except TracerdiffError as exc:
                erfc["scans"][scan.name] = {"status": "failed", "note": str(exc)}
                continue
            erfc["scans"][scan.name] = {"status": "done", "after_step": step.name, "inputs": [str(scan.file)],
                                        "exchange_time":
                                        Measured(t_ex, 0, "time").to_dict(),
                                        "temperature": Measured(step.temperature, 0, "temperature").to_dict(),
                                        "fit": fit.to_dict()}
            ctx.add_point("D*eff", step.temperature, fit.d_eff, f"erfc fit of {scan.name}")
            ctx.objects.setdefault("d_eff_erfc", []).append((step.temperature, fit.d_eff, scan.name))
            ctx.objects[f"erfc:{scan.name}"] = fit
            _profile_figure(ctx, "erfc", f"erfc_{scan.name}", fit,
                            f"Line scan {scan.name} after {t_ex / 3600:g} h exchange at "
                            f"{_temperature_label(step.temperature)}: eqn 4 (erfc) fit and residuals.")
            chains.append((scan, t_ex, k, [], []))
            if progress is not None:
                progress()
            continue
        if not chains:
            erfc["scans"][scan.name] = {"status": "skipped",
                                        "note": "taken after a closed step with no earlier exchange scan"}
            continue
        initial, _, k0, later, notes = chains[-1]
        between = study.steps[(later[-1][3] if later else k0) + 1: k + 1]
        if any(s.kind == "exchange" for s in between):
            notes.append(f"{scan.name}: an exchange step lies between it and the previous scan")
            continue
        temps = {round(s.temperature, 1) for s in between}
        if len(temps) != 1:
            notes.append(f"{scan.name}: the steps before it have different temperatures {sorted(temps)} K; "
                         "one D per interval cannot be assigned")
            continue
        elapsed = sum(s.duration for s in study.steps[k0 + 1: k + 1])
        later.append((scan, elapsed, _temperature_label(between[0].temperature), k))
    if not any(e.get("status") == "done" for e in erfc["scans"].values()):
        erfc.update(status="skipped", note="no line scan right after an exchange step could be fitted")
    ctx.results["erfc"] = erfc
    _closed_evolution(ctx, chains, progress)


def _profile_figure(ctx: RunContext, section: str, name: str, result, caption: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5))
    result.plot(fig.add_subplot(1, 1, 1))
    bottom = fig.axes[-1]  # the residual panel, when the plot appends one
    bottom.set_xlabel("x from the exchanged edge (µm)")
    fig.subplots_adjust(left=0.1, right=0.97, top=0.93, bottom=0.1)
    ctx.add_figure(section, name, fig, caption)


def _closed_evolution(ctx: RunContext, chains, progress) -> None:
    from tracerdiff.profiles.evolve import fit_closed_evolution

    out = {"status": "done", "note": "", "chains": {}}
    temps = {}
    for initial, t_ex, _, later, notes in chains:
        if not later:
            continue
        for _, _, label, k in later:
            temps[label] = ctx.study.steps[k].temperature
        try:
            fit = fit_closed_evolution(ctx.scans[initial.name],
                                       [(el, ctx.scans[s.name], label) for s, el, label, _ in later],
                                       exchange_time=t_ex)
        except TracerdiffError as exc:
            out["chains"][initial.name] = {"status": "failed", "note": str(exc)}
            continue
        out["chains"][initial.name] = {"status": "done", "later_scans": [s.name for s, *_ in later],
                                       "notes": notes, "fit": fit.to_dict()}
        ctx.objects[f"evolution:{initial.name}"] = fit
        for _ in later:
            if progress is not None:
                progress()
        _profile_figure(ctx, "time_evolution", f"evolution_{initial.name}", fit,
                        f"Closed-sample evolution from {initial.name}: later scans "
                        f"{', '.join(s.name for s, *_ in later)} with the fitted D per temperature.")
        for label, d in fit.d.items():
            ctx.add_point("D*eff", temps[label], d, f"closed evolution from {initial.name} ({label})")
            ctx.objects.setdefault("d_eff_closed", []).append((temps[label], d, f"{initial.name} {label}"))
    if not out["chains"]:
        out.update(status="skipped", note="no line scan after a storage/anneal step follows an exchange scan")
    ctx.results["time_evolution"] = out
