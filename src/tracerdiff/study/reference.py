"""Reference data of a study: D_NMR(T), conductivities (-> D_sigma by Nernst-Einstein), impedance spectra.

Series names used for the Arrhenius analysis:

* ``D_NMR`` - NMR diffusivities as given;
* ``Dσ,bulk``, ``Dσ,total`` - Nernst-Einstein diffusivities of sigma_bulk / sigma_total;
* ``(l/δ)Dσ,gb`` - Nernst-Einstein diffusivity of the *apparent* boundary conductivity
  L/(R_gb A), which the brick-layer model makes equal to (l/delta) D_sigma,gb.
"""

from __future__ import annotations

from tracerdiff.errors import TracerdiffError
from tracerdiff.quantity import Measured
from tracerdiff.study.context import RunContext

_SIGMA_SERIES = {"sigma_bulk": "Dσ,bulk", "sigma_gb": "(l/δ)Dσ,gb", "sigma_total": "Dσ,total"}


def analyse_reference(ctx: RunContext) -> None:
    """Tabulate reference series and convert conductivities with Nernst-Einstein."""
    from tracerdiff.models import d_sigma_from_conductivity

    series = ctx.study.reference.series
    if not series:
        ctx.skip("reference_series", "the study has no reference series (D_NMR, sigma)")
        ctx.skip("nernst_einstein", "the study has no conductivity series")
    n = Measured(ctx.study.sample.li_density, 0.0, "number_density")
    out = {"status": "done", "note": "", "series": {}}
    ne = {"status": "done", "note": f"D_sigma = sigma kB T / (n q^2), n = {n}", "points": []}
    rows = []
    for s in series:
        pts = []
        for t, v, e in ctx.reference_values[s.name]:
            if s.kind == "d_nmr":
                m = Measured(v, e, "diffusivity")
                ctx.add_point("D_NMR", t, m, f"series {s.name}")
                pts.append({"temperature": Measured(t, 0, "temperature").to_dict(), "D_NMR": m.to_dict()})
                rows.append([s.name, s.kind, t - 273.15, *m.to("cm^2/s"), "cm^2/s"])
                continue
            sigma = Measured(v, e, "conductivity")
            d = d_sigma_from_conductivity(sigma, t, n)
            ctx.add_point(_SIGMA_SERIES[s.kind], t, d, f"series {s.name} (Nernst–Einstein)")
            pts.append({"temperature": Measured(t, 0, "temperature").to_dict(), "sigma": sigma.to_dict(),
                        "d_sigma": d.to_dict()})
            ne["points"].append({"series": s.name, "kind": s.kind, "temperature_K": t, "d_sigma": d.to_dict()})
            rows.append([s.name, s.kind, t - 273.15, *sigma.to("S/cm"), "S/cm"])
            rows.append([s.name, "D_sigma", t - 273.15, *d.to("cm^2/s"), "cm^2/s"])
        out["series"][s.name] = {"kind": s.kind, "points": pts}
    if series:
        ctx.results["reference_series"] = out
        if ne["points"]:
            ctx.results["nernst_einstein"] = ne
        else:
            ctx.skip("nernst_einstein", "no conductivity series (only D_NMR)")
    ctx.tables["reference_series"] = (["series", "kind", "temperature_C", "value", "stderr", "unit"], rows)


def analyse_impedance(ctx: RunContext, *, progress=None) -> None:
    """Fit every spectrum to (R‖CPE)(R‖CPE), brick-layer conversion, Nernst-Einstein into the Dσ series."""
    from tracerdiff.models import d_sigma_from_conductivity
    from tracerdiff.models.impedance_fit import fit_impedance

    specs = ctx.study.reference.impedance
    if not specs:
        ctx.skip("impedance", "the study has no impedance spectra")
        return
    n = Measured(ctx.study.sample.li_density, 0.0, "number_density")
    out = {"status": "done", "note": "brick-layer model: sigma_gb,apparent = L/(R_gb A) = (l/δ) sigma_gb,specific; "
           "δ/l = C_bulk/C_gb", "spectra": {}}
    rows = []
    fits = []
    for spec in specs:
        f, z = ctx.spectra[spec.name]
        try:
            fit = fit_impedance(f, z, thickness=spec.thickness, area=spec.area, name=spec.name)
        except TracerdiffError as exc:
            out["spectra"][spec.name] = {"status": "failed", "note": str(exc)}
            if progress is not None:  # a failed fit is still a finished step of the bar
                progress()
            continue
        t = spec.temperature
        d_b = d_sigma_from_conductivity(fit.sigma_bulk, t, n)
        d_gb = d_sigma_from_conductivity(fit.sigma_gb_apparent, t, n)
        ctx.add_point("Dσ,bulk", t, d_b, f"impedance {spec.name}")
        ctx.add_point("(l/δ)Dσ,gb", t, d_gb, f"impedance {spec.name}")
        out["spectra"][spec.name] = {"status": "done", "inputs": [str(spec.file)],
                                     "temperature": Measured(t, 0, "temperature").to_dict(),
                                     "fit": fit.to_dict(), "d_sigma_bulk": d_b.to_dict(),
                                     "l_over_delta_d_sigma_gb": d_gb.to_dict()}
        rows.append([spec.name, t - 273.15, *fit.r_bulk.to("ohm"), *fit.r_gb.to("ohm"), *fit.sigma_bulk.to("S/cm"),
                     *fit.sigma_gb_apparent.to("S/cm"), *fit.sigma_gb_specific.to("S/cm"),
                     fit.relative_rms_residual])
        fits.append((spec, fit))
        if progress is not None:
            progress()
    if not fits:
        out.update(status="failed", note="no spectrum could be fitted")
    else:
        ne = ctx.results.get("nernst_einstein")
        if ne is None or ne.get("status") != "done":
            ne = ctx.results["nernst_einstein"] = {"status": "done", "note": f"D_sigma = sigma kB T / (n q^2), "
                                                   f"n = {n}", "points": []}
        for spec, fit in fits:
            for kind, key in (("sigma_bulk", "d_sigma_bulk"), ("sigma_gb_apparent", "l_over_delta_d_sigma_gb")):
                ne["points"].append({"series": spec.name, "kind": kind, "temperature_K": spec.temperature,
                                     "d_sigma": out["spectra"][spec.name][key]})
    ctx.results["impedance"] = out
    ctx.tables["impedance"] = (["spectrum", "temperature_C", "R_bulk_ohm", "R_bulk_stderr", "R_gb_ohm",
                                "R_gb_stderr", "sigma_bulk_S_cm", "sigma_bulk_stderr", "sigma_gb_apparent_S_cm",
                                "sigma_gb_apparent_stderr", "sigma_gb_specific_S_cm", "sigma_gb_specific_stderr",
                                "relative_rms_residual"], rows)
    if fits:
        from matplotlib.figure import Figure

        cols = min(len(fits), 3)
        rows_n = -(-len(fits) // cols)
        fig = Figure(figsize=(4 * cols, 3.6 * rows_n), layout="constrained")
        for i, (spec, fit) in enumerate(fits):
            ax = fig.add_subplot(rows_n, cols, i + 1)
            f, z = ctx.spectra[spec.name]
            fit.plot(ax, frequency_hz=f, z=z)
            ax.set_title(f"{spec.name}, {spec.temperature - 273.15:g} °C", fontsize=9)
        ctx.add_figure("impedance", "impedance_nyquist", fig,
                       "Impedance spectra (Nyquist) with the fitted (R‖CPE)(R‖CPE) circuit.")
