"""Analyses built on the others: Arrhenius fits, series model, Haven ratio, cryo validity, headline."""

from __future__ import annotations

import math

import numpy as np

from tracerdiff.errors import TracerdiffError
from tracerdiff.quantity import Measured
from tracerdiff.study.context import RunContext

#: Plot order and colours of the Arrhenius series (Fig. 5b/c of the paper).
SERIES_STYLE = {"D_NMR": "C0", "Dσ,bulk": "C1", "Dσ,total": "C7", "D*eff": "C2", "(l/δ)D*gb": "C3",
                "(l/δ)Dσ,gb": "C4"}


def fit_series(ctx: RunContext, *, names=None) -> None:
    """Arrhenius fit of every series with >= 2 distinct temperatures (weighted when all stderrs are known)."""
    from tracerdiff.models import fit_arrhenius

    res = ctx.results.setdefault("arrhenius", {"status": "done", "note": "", "series": {}})
    for name, pts in ctx.series.items():
        if names is not None and name not in names:
            continue
        temps = sorted({round(p.temperature_k, 3) for p in pts})
        if len(temps) < 2:
            res["series"][name] = {"status": "skipped", "note": f"data at one temperature only ({len(pts)} points)"}
            continue
        t = [p.temperature_k for p in pts]
        v = [p.value.value for p in pts]
        e = [p.value.stderr for p in pts]
        weighted = all(math.isfinite(x) and x > 0 for x in e)
        try:
            fit = fit_arrhenius(t, v, e if weighted else None, name=name)
            # Scatter beyond the stated errors (e.g. D*eff of a bulk/boundary series, which is not
            # Arrhenius) must widen the errors (Birge ratio); scatter below them never narrows them.
            inflated = weighted and fit.reduced_chi2 > 1
            if inflated:
                fit = fit_arrhenius(t, v, e, name=name, absolute_sigma=False)
        except TracerdiffError as exc:
            res["series"][name] = {"status": "failed", "note": str(exc)}
            continue
        ctx.fits[name] = fit
        res["series"][name] = {"status": "done", "weighted": weighted, "fit": fit.to_dict(),
                               "errors_scaled_by_sqrt_reduced_chi2": inflated,
                               "points": [{"temperature_K": p.temperature_k, "value": p.value.to_dict(),
                                           "origin": p.origin} for p in pts]}
    # Called twice (D_NMR first, for D*bulk): a later call with fits must undo an earlier "skipped".
    if ctx.fits:
        res.update(status="done", note="")
    else:
        res.update(status="skipped", note="no series has data at two or more temperatures")


def gb_from_deff(ctx: RunContext) -> None:
    """(l/δ)D*gb = 1/(1/D*eff - 1/D*bulk) from each D*eff (series model inverted; l cancels for δ << l)."""
    from tracerdiff.models import dgb_over_delta_from_series

    length = Measured(ctx.study.sample.grain_size, 0.0, "length")
    notes = []
    for p in list(ctx.series.get("D*eff", [])):
        d_bulk, source = ctx.d_bulk_at(p.temperature_k)
        if d_bulk is None:
            notes.append(f"{p.origin}: {source}")
            continue
        try:
            inv = dgb_over_delta_from_series(p.value, d_bulk, length)
        except TracerdiffError as exc:
            notes.append(f"{p.origin}: {exc}")
            continue
        g = inv.dgb_over_delta
        ctx.add_point("(l/δ)D*gb", p.temperature_k, Measured(g.value * length.value, g.stderr * length.value,
                                                           "diffusivity"),
                      f"series model inverted from D*eff ({p.origin}), D*bulk from {source}")
    if notes:
        ctx.results["gb_from_deff"] = {"status": "partial", "note": "; ".join(notes)}


def series_comparison(ctx: RunContext) -> None:
    """Series-model D*eff from the image's D*gb/δ, D*bulk and l ± sd, against measured D*eff at that T."""
    from tracerdiff.models import series_effective_diffusivity

    images = ctx.objects.get("dgb_over_delta", [])
    if not images:
        ctx.skip("series_model", "needs D*gb/δ from an image (boundary steps)")
        return
    s = ctx.study.sample
    length = Measured(s.grain_size, s.grain_size_sd, "length")
    out = {"status": "done", "note": "eqn 6 with first-order propagation of the grain-size spread", "comparisons": []}
    rows = []
    for t, g, image in images:
        d_bulk, source = ctx.d_bulk_at(t)
        if d_bulk is None:
            out["comparisons"].append({"image": image, "status": "skipped", "note": source})
            continue
        pred = series_effective_diffusivity(d_bulk, g, length, thickness=Measured(s.gb_thickness, 0, "length"))
        measured = [p for p in ctx.series.get("D*eff", []) if abs(p.temperature_k - t) < 1.0]
        comp = {"image": image, "temperature": Measured(t, 0, "temperature").to_dict(), "status": "done",
                "predicted_d_eff": pred.d_eff.to_dict(), "d_bulk": d_bulk.to_dict(), "d_bulk_source": source,
                "dgb_over_delta": g.to_dict(),
                "measured": [{"origin": p.origin, "d_eff": p.value.to_dict(),
                              "ratio_measured_over_predicted": p.value.value / pred.d_eff.value} for p in measured]}
        out["comparisons"].append(comp)
        ctx.objects.setdefault("series_predictions", []).append((t, pred.d_eff, measured, image))
        rows.append([image, t - 273.15, "series model", *pred.d_eff.to("cm^2/s")])
        rows += [[image, t - 273.15, p.origin, *p.value.to("cm^2/s")] for p in measured]
    ctx.results["series_model"] = out
    ctx.tables["series_model"] = (["image", "temperature_C", "origin", "d_eff_cm2_s", "stderr_cm2_s"], rows)


def haven(ctx: RunContext) -> None:
    """Boundary Haven ratio from the prefactors of (l/δ)D*gb and (l/δ)Dσ,gb; bulk H_R = D_NMR/Dσ,bulk."""
    from tracerdiff.models import haven_ratio, haven_ratio_from_prefactors

    out = {"status": "done", "note": ""}
    notes = []
    a, b = ctx.fits.get("(l/δ)D*gb"), ctx.fits.get("(l/δ)Dσ,gb")
    if a is not None and b is not None:
        try:
            out["boundaries"] = haven_ratio_from_prefactors(a, b).to_dict()
            ctx.objects["haven_gb"] = haven_ratio_from_prefactors(a, b)
        except TracerdiffError as exc:
            notes.append(f"boundaries: {exc}")
    else:
        notes.append("boundaries: needs Arrhenius fits of (l/δ)D*gb and (l/δ)Dσ,gb")
    t_ref = ctx.study.steps[0].temperature
    nmr, sig = ctx.fits.get("D_NMR"), ctx.fits.get("Dσ,bulk")
    if nmr is not None and sig is not None:
        h = haven_ratio(nmr.predict(t_ref), sig.predict(t_ref))
        out["bulk"] = {"haven_ratio": h.to_dict(), "temperature": Measured(t_ref, 0, "temperature").to_dict(),
                       "method": "D_NMR / Dσ,bulk from their Arrhenius fits at the first step's temperature"}
        ctx.objects["haven_bulk"] = h
    else:
        notes.append("bulk: needs Arrhenius fits of D_NMR and Dσ,bulk")
    out["note"] = "; ".join(notes)
    if "boundaries" not in out and "bulk" not in out:
        out["status"] = "skipped"
    ctx.results["haven"] = out


def cryo(ctx: RunContext) -> None:
    """Diffusion length during imaging from the D*eff Arrhenius law extrapolated to the imaging temperature."""
    from tracerdiff.models import cryo_validity_from_fit

    im = ctx.study.imaging
    fit = ctx.fits.get("D*eff")
    if fit is None:
        ctx.skip("cryo_validity", "needs an Arrhenius fit of D*eff (D*eff at two or more temperatures)")
        return
    res = cryo_validity_from_fit(fit, im.temperature, im.time_per_image, im.resolution)
    ctx.objects["cryo"] = res
    ctx.results["cryo_validity"] = {"status": "done", "note": "sqrt(2 D t) with D*eff extrapolated to "
                                    f"{im.temperature - 273.15:g} degC along its Arrhenius fit (the paper's "
                                    "method; a bulk/boundary D*eff is not strictly Arrhenius, so this is an "
                                    "order-of-magnitude check)", "result": res.to_dict(),
                                    "d_eff_at_imaging_temperature": res.d.to_dict()}


def headline(ctx: RunContext) -> dict:
    """The few numbers a reader wants first, keyed for the demo's comparison with the paper."""
    rows: dict[str, dict] = {}

    def put(key, label, m: Measured | None, origin: str, unit: str | None = None):
        if m is not None and math.isfinite(m.value):
            rows[key] = {"quantity": label, "value": m.to_dict(unit), "origin": origin}

    imgs = ctx.objects.get("dgb_over_delta", [])
    if imgs:
        t, g, name = imgs[0]
        put("dgb_over_delta", "D*gb/δ (boundary steps, median)", g, f"image {name}")
        delta = ctx.study.sample.gb_thickness
        put("dgb", f"D*gb (δ = {delta * 1e9:g} nm)", Measured(g.value * delta, g.stderr * delta, "diffusivity"),
            f"image {name}")
    erfc = ctx.objects.get("d_eff_erfc", [])
    if erfc:
        put("d_eff_erfc", "D*eff (erfc, in contact)", erfc[0][1], f"scan {erfc[0][2]}")
    closed = ctx.objects.get("d_eff_closed", [])
    if closed:
        put("d_eff_storage", f"D*eff (closed, {closed[0][0] - 273.15:g} °C)", closed[0][1], closed[0][2])
    preds = ctx.objects.get("series_predictions", [])
    if preds:
        put("d_eff_series", "series-model D*eff", preds[0][1], f"image {preds[0][3]}")
    for name, key in (("(l/δ)D*gb", "ea_gb"), ("D*eff", "ea_eff")):
        if name in ctx.fits:
            put(key, f"Ea of {name}", ctx.fits[name].activation_energy, "Arrhenius fit")
    if "(l/δ)D*gb" in ctx.fits:
        put("prefactor_gb", "prefactor of (l/δ)D*gb", ctx.fits["(l/δ)D*gb"].prefactor, "Arrhenius fit")
    if "(l/δ)Dσ,gb" in ctx.fits:
        put("prefactor_sigma_gb", "prefactor of (l/δ)Dσ,gb", ctx.fits["(l/δ)Dσ,gb"].prefactor, "Arrhenius fit")
    if "haven_gb" in ctx.objects:
        put("haven_gb", "Haven ratio (boundaries)", ctx.objects["haven_gb"].haven_ratio, "prefactor ratio")
    if "haven_bulk" in ctx.objects:
        put("haven_bulk", "Haven ratio (bulk)", ctx.objects["haven_bulk"], "D_NMR / Dσ,bulk")
    if "cryo" in ctx.objects:
        c = ctx.objects["cryo"]
        put("cryo_d", f"D*eff at {ctx.study.imaging.temperature - 273.15:g} °C", c.d, "Arrhenius extrapolation")
        put("cryo_length", "cryo diffusion length √(2Dt)", c.diffusion_length,
            f"valid = {c.valid} (resolution {c.resolution.to()[0]:g} um)")
    return rows


def arrhenius_figure(ctx: RunContext) -> None:
    """All fitted series on one log D vs 1000/T plot, in the style of the paper's Fig. 5b/c."""
    if not ctx.series:
        return
    from matplotlib.figure import Figure

    from tracerdiff.units import from_si

    fig = Figure(figsize=(7.5, 5.5), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    conv = from_si(1.0, "diffusivity")
    for name, pts in ctx.series.items():
        colour = SERIES_STYLE.get(name)
        t = np.array([p.temperature_k for p in pts])
        v = np.array([p.value.value for p in pts]) * conv
        e = np.array([p.value.stderr if math.isfinite(p.value.stderr) else 0.0 for p in pts]) * conv
        fit = ctx.fits.get(name)
        label = name if fit is None else f"{name}: Ea = {fit.activation_energy.to()[0]:.3g} eV"
        ax.errorbar(1000 / t, v, yerr=np.minimum(e, 0.9 * v), fmt="o", ms=4, color=colour, label=label, capsize=2)
        if fit is not None:
            tt = np.linspace(t.min(), t.max(), 100)
            c, lo, hi = fit.confidence_band(tt)
            ax.plot(1000 / tt, c * conv, "-", color=colour, lw=1)
            if np.all(np.isfinite(lo)):
                ax.fill_between(1000 / tt, lo * conv, hi * conv, color=colour, alpha=0.15, lw=0)
    c = ctx.objects.get("cryo")
    if c is not None:
        t_im = ctx.study.imaging.temperature
        fit = ctx.fits["D*eff"]
        tt = np.linspace(t_im, min(fit.temperature_k), 50)
        ax.plot(1000 / tt, fit.confidence_band(tt)[0] * conv, ":", color=SERIES_STYLE["D*eff"], lw=1)
        ax.plot([1000 / t_im], [c.d.value * conv], "x", color=SERIES_STYLE["D*eff"], ms=8,
                label=f"D*eff extrapolated to {t_im - 273.15:g} °C (cryo check)")
    ax.set_yscale("log")
    ax.set_xlabel("1000/T (1/K)")
    ax.set_ylabel("D (cm²/s)")
    top = ax.secondary_xaxis("top", functions=(lambda x: 1000 / np.maximum(x, 1e-9) - 273.15,
                                               lambda c: 1000 / (np.asarray(c) + 273.15)))
    top.set_xlabel("T (°C)")
    ax.legend(fontsize=7, loc="upper right")
    ctx.add_figure("arrhenius", "arrhenius", fig, "Arrhenius plot of every series (cf. the paper's Fig. 5b/c): "
                   "tracer (D*eff, (l/δ)D*gb), NMR and conductivity (Dσ) diffusivities with fits and 95 % bands.")


def series_figure(ctx: RunContext) -> None:
    """Series-model prediction against the measured D*eff at the image temperature."""
    preds = ctx.objects.get("series_predictions", [])
    if not preds:
        return
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 1.2 + 0.45 * sum(1 + len(m) for _, _, m, _ in preds)), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    labels, vals, errs, colours = [], [], [], []
    for t, pred, measured, image in preds:
        labels.append(f"series model\n({image}, {t - 273.15:g} °C)")
        vals.append(pred.to()[0])
        errs.append(pred.to()[1])
        colours.append("C3")
        for p in measured:
            labels.append(p.origin.replace(" of ", "\n").replace(" (", "\n(").replace(" degC", " °C"))
            vals.append(p.value.to()[0])
            errs.append(p.value.to()[1])
            colours.append("C2")
    y = np.arange(len(vals))
    ax.errorbar(vals, y, xerr=np.minimum(errs, 0.9 * np.array(vals)), fmt="none", ecolor="k", capsize=3)
    ax.scatter(vals, y, c=colours, zorder=3)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("D*eff (cm²/s)")
    ax.invert_yaxis()
    ax.set_title("series model (red) vs measured D*eff (green), ± 1 sd", fontsize=9)
    ctx.add_figure("series_model", "series_model", fig,
                   "Series-model D*eff (red, from D*gb/δ, D*bulk and l ± sd) against measured D*eff (green).")
