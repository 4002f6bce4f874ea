"""``report.html`` of a study run: headline, one section per analysis, skipped analyses, provenance."""

from __future__ import annotations

from tracerdiff.report.html import Section
from tracerdiff.study.context import RunContext

_TITLES = {
    "boundary_steps": "Grain-boundary steps in the SIMS images (eqns 2–3)",
    "erfc": "Exchange profiles: erfc fits (eqn 4)",
    "time_evolution": "Time evolution in the closed sample (storage / anneal)",
    "reference_series": "Reference series (NMR, conductivity)",
    "nernst_einstein": "Nernst–Einstein diffusivities",
    "impedance": "Impedance spectra: (R‖CPE)(R‖CPE) and the brick-layer model",
    "arrhenius": "Arrhenius analysis (cf. Fig. 5b/c)",
    "series_model": "Series (brick-layer 1D) model vs measured D*eff (eqns 5–6)",
    "haven": "Haven ratio",
    "cryo_validity": "Validity of the cryo-SIMS measurement",
    "type_b": "Fast grain boundaries: type-B (Whipple–Le Claire) depth profiles",
}


def _vrow(label, d, origin=""):
    return [label, d.get("value"), d.get("stderr"), d.get("unit", ""), origin]


def build_report(ctx: RunContext, results: dict) -> list[Section]:
    """Report sections in reading order."""
    sections = []
    head = Section("Headline results")
    head.tables.append(("Headline (value ± standard error)", ["quantity", "value", "± stderr", "unit", "origin"],
                        [_vrow(r["quantity"], r["value"], r["origin"]) for r in results["headline"].values()]))
    if results["skipped"]:
        head.notes += [f"{_TITLES.get(k, k)}: not run — {v}" for k, v in sorted(results["skipped"].items())]
    sections.append(head)
    analyses = results["analyses"]
    for key, title in _TITLES.items():
        res = analyses.get(key, {})
        sec = Section(title)
        status = res.get("status", "skipped")
        if status != "done":
            sec.notes.append(f"status: {status}. {res.get('note', '')}")
        elif res.get("note"):
            sec.paragraphs.append(res["note"])
        _add_tables(key, res, sec)
        sec.figures += [(f.name, f.png, f.caption) for f in ctx.figures if f.section == key]
        sections.append(sec)
    prov = results["provenance"]
    sec = Section("Provenance")
    sec.paragraphs.append(f"tracerdiff {prov['tracerdiff_version']}, Python {prov['python']}; study file "
                          f"{prov['study_file']}. Re-running on inputs with these checksums gives identical numbers.")
    sec.tables.append(("Input files (SHA-256)", ["file", "sha256"], sorted(prov["input_sha256"].items())))
    sec.tables.append(("Libraries", ["library", "version"], sorted(prov["libraries"].items())))
    sections.append(sec)
    return sections


def _add_tables(key: str, res: dict, sec: Section) -> None:
    if key == "reference_series":
        rows = [[name, s["kind"], p["temperature"]["value"] - 273.15, *_mv(p.get("D_NMR") or p.get("sigma"))]
                for name, s in res.get("series", {}).items() for p in s["points"]]
        sec.tables.append(("Reference points", ["series", "kind", "T (°C)", "value", "± stderr", "unit"], rows))
    elif key == "nernst_einstein":
        rows = [[p["series"], p["kind"], p["temperature_K"] - 273.15, *_mv(p["d_sigma"])]
                for p in res.get("points", [])]
        sec.tables.append(("Dσ = σ kB T / (n q²)", ["source", "from", "T (°C)", "Dσ", "± stderr", "unit"], rows))
    elif key == "arrhenius":
        rows = []
        for name, s in res.get("series", {}).items():
            if s.get("status") == "done":
                f = s["fit"]
                rows.append([name, f["activation_energy"]["value"], f["activation_energy"]["stderr"],
                             f["prefactor"]["value"], f["prefactor"]["stderr"], f["prefactor"]["unit"],
                             f["n_points"]])
            else:
                rows.append([name, None, None, None, None, "", s.get("note", "")])
        sec.tables.append(("Arrhenius fits D = D0 exp(−Ea/kBT)", ["series", "Ea (eV)", "± stderr", "D0",
                                                                   "± stderr", "unit", "points"], rows))
    elif key == "boundary_steps":
        rows = []
        for name, e in res.get("images", {}).items():
            summ = e.get("analysis", {}).get("summary", {}).get("dgb_over_delta", {})
            med = summ.get("median", {})
            rows.append([name, e.get("status"), summ.get("n"), med.get("value"), med.get("stderr"),
                         med.get("unit", ""), e.get("d_bulk", {}).get("value"), e.get("note", "")])
        sec.tables.append(("Per image (median over accepted boundaries)",
                           ["image", "status", "n", "D*gb/δ", "± stderr", "unit", "D*bulk (cm²/s)", "note"], rows))
    elif key == "erfc":
        rows = [[n, e.get("status"), *_mv(e.get("fit", {}).get("d_eff")), e.get("note", "")]
                for n, e in res.get("scans", {}).items()]
        sec.tables.append(("erfc fits", ["scan", "status", "D*eff", "± stderr", "unit", "note"], rows))
    elif key == "time_evolution":
        rows = []
        for n, e in res.get("chains", {}).items():
            for label, d in e.get("fit", {}).get("steps", {}).items():
                rows.append([n, label, *_mv(d)])
            if e.get("status") != "done":
                rows.append([n, e.get("status"), None, None, "", ])
        sec.tables.append(("D per temperature from the closed evolution", ["initial scan", "step", "D*eff",
                                                                            "± stderr", "unit"], rows))
    elif key == "impedance":
        rows = []
        for n, e in res.get("spectra", {}).items():
            f = e.get("fit", {})
            rows.append([n, *_mv(f.get("sigma_bulk"))[:2], *_mv(f.get("sigma_gb_apparent"))[:2],
                         *_mv(f.get("sigma_gb_specific"))[:2], e.get("note", "")])
        sec.tables.append(("Brick-layer conductivities (S/cm)", ["spectrum", "σ_bulk", "±", "σ_gb apparent", "±",
                                                                 "σ_gb specific", "±", "note"], rows))
    elif key == "series_model":
        rows = []
        for c in res.get("comparisons", []):
            if c.get("status") != "done":
                continue
            rows.append([c["image"], "series model", *_mv(c["predicted_d_eff"]), None])
            rows += [[c["image"], m["origin"], *_mv(m["d_eff"]), m["ratio_measured_over_predicted"]]
                     for m in c["measured"]]
        sec.tables.append(("D*eff", ["image", "origin", "D*eff", "± stderr", "unit", "measured/predicted"], rows))
    elif key == "haven":
        rows = []
        if "boundaries" in res:
            rows.append(_vrow("boundaries (prefactor ratio)", res["boundaries"]["haven_ratio"],
                              res["boundaries"]["method"]))
        if "bulk" in res:
            rows.append(_vrow("bulk (D_NMR / Dσ,bulk)", res["bulk"]["haven_ratio"], res["bulk"]["method"]))
        sec.tables.append(("Haven ratios", ["H_R", "value", "± stderr", "unit", "method"], rows))
    elif key == "type_b":
        rows = []
        for n, e in res.get("profiles", {}).items():
            f = e.get("fit", {})
            rows.append([n, e.get("status"), f.get("regime"), f.get("beta"), *_mv(f.get("p")),
                         *_mv(f.get("d_bulk"))[:1], "; ".join(e.get("warnings", [])) or e.get("note", "")])
        sec.tables.append(("s δ D_gb from the tail (ln C̄ linear in y^6/5), with Harrison's regime",
                           ["profile", "status", "regime", "β", "P = sδD_gb", "± stderr", "unit",
                            "D_bulk (cm²/s)", "remarks"], rows))
    elif key == "cryo_validity" and "result" in res:
        r = res["result"]
        sec.tables.append(("Cryo validity", ["quantity", "value", "± stderr", "unit", "note"],
                           [_vrow("D*eff at the imaging temperature", r["d"]),
                            _vrow("diffusion length √(2Dt)", r["diffusion_length"], f"valid: {r['valid']}"),
                            _vrow("resolution", r["resolution"])]))


def _mv(d):
    d = d or {}
    return [d.get("value"), d.get("stderr"), d.get("unit", "")]
