"""The demo: the paper's calculation chain, then a synthetic LLTO study run through ``tracerdiff run``.

The synthetic study (:mod:`tracerdiff.study.synthetic`) is generated at demo time from
the paper's parameters with a fixed seed, written as an ordinary study folder
(``<out>/study``: count TIFFs, line-scan CSVs, impedance CSVs, ``study.toml``) and
analysed by exactly the code path of ``tracerdiff run``. The headline table puts
each recovered number next to the synthetic truth and the paper's value.
"""

from __future__ import annotations

import math
from pathlib import Path

from tracerdiff.report import Section, write_csv_atomic
from tracerdiff.report.transaction import output_folder
from tracerdiff.study.paper_chain import paper_chain, paper_values

#: Headline key -> (paper value in display units, note). None: the paper gives no number.
def _paper_headline() -> dict:
    pv = paper_values()
    a = pv["arrhenius"]
    return {
        "dgb_over_delta": (1.5e-6, "Fig. 3e, after 59 h exchange (printed; 1.43e-6 unrounded)"),
        "dgb": (7.6e-14, "with δ = 0.5 nm; abstract gives 1.4e-13 at 25 °C"),
        "d_eff_erfc": (pv["erfc_fit"]["expect_deff_cm2_s"], pv["erfc_fit"]["label"]),
        "d_eff_storage": (pv["storage"]["expect_deff_cm2_s"], pv["storage"]["label"]),
        "d_eff_series": (pv["series_model"]["expect_deff_cm2_s"], "eqn 6, l = 16 ± 11 um"),
        "ea_gb": (a["gb_activation_energy_eV"], "(l/δ)D*gb and (l/δ)Dσ,gb"),
        "prefactor_gb": (a["prefactor_tracer_gb_cm2_s"], "(l/δ)D*gb"),
        "prefactor_sigma_gb": (a["prefactor_sigma_gb_cm2_s"], "(l/δ)Dσ,gb"),
        "haven_gb": (a["expect_haven_ratio"], "0.048 / 0.20"),
        "cryo_d": (pv["cryo_validity"]["deff_at_minus110C_cm2_s"], "extrapolated D*eff at −110 °C"),
        "cryo_length": (pv["cryo_validity"]["expect_diffusion_length_um"], "√(2Dt), 5 h; paper prints 0.2"),
    }


def headline_rows(results: dict, truth: dict | None) -> list[dict]:
    """Headline of a run next to the paper (and the synthetic truth when known)."""
    paper = _paper_headline()
    rows = []
    for key, r in results["headline"].items():
        p, note = paper.get(key, (None, ""))
        v = r["value"]["value"]
        rows.append({"key": key, "quantity": r["quantity"], "ours": r["value"],
                     "truth": None if truth is None else truth.get(key), "paper": p,
                     "ratio": v / p if (p and v is not None) else None, "note": note or r["origin"]})
    return rows


def _chain_section(rows: list[dict]) -> Section:
    return Section("The paper's calculation chain from its printed inputs",
                   paragraphs=["Hasegawa et al., J. Mater. Chem. A 12 (2024) 731: the printed inputs through "
                               "tracerdiff.models. Ratios differ from 1 only by the paper's rounding."],
                   tables=[("Paper chain", ["quantity", "ours", "± stderr", "unit", "paper", "ours/paper", "note"],
                            [[r["quantity"], r["ours"]["value"], r["ours"]["stderr"], r["ours"]["unit"],
                              r["paper"], r["ratio"], r["note"]] for r in rows])])


def _headline_section(rows: list[dict]) -> Section:
    return Section("Demo headline: recovered from synthetic data vs truth vs the paper",
                   paragraphs=["The synthetic study is generated with the paper's parameters (see "
                               "study/truth.json); 'truth' is what an exact analysis would recover, 'paper' "
                               "what the paper reports for the real sample."],
                   tables=[("Headline", ["quantity", "ours", "± stderr", "unit", "truth", "paper", "ours/paper",
                                         "note"],
                            [[r["quantity"], r["ours"]["value"], r["ours"]["stderr"], r["ours"]["unit"], r["truth"],
                              r["paper"], r["ratio"], r["note"]] for r in rows])])


#: What the demo writes (an older demo folder holding only these may be replaced).
DEMO_OUTPUTS = ("paper_chain.csv", "headline.csv", "study", "results.json", "report.html", "figures", "tables")


def run_demo(out: str | Path, *, quiet: bool = False, paper_only: bool = False, image: bool = True,
             image_shape: tuple[int, int] = (206, 512), seed: int = 0, progress=None) -> dict:
    """Run the demo into ``out`` (replaced as a whole when done); returns ``{"tables": [(title, rows)], "report": path}``.

    ``progress(stage, done, total)`` is called as the run advances (see :func:`tracerdiff.study.runner.run_loaded`).
    """
    with output_folder(out, known=DEMO_OUTPUTS, owner="tracerdiff demo") as folder:
        summary = _demo_into(folder, quiet=quiet, paper_only=paper_only, image=image, image_shape=image_shape,
                             seed=seed, progress=progress)
    out = Path(out)
    summary["report"] = str(out / "report.html")
    if not paper_only:
        summary.update(results=str(out / "results.json"), study=str(out / "study" / "study.toml"))
    return summary


def _demo_into(out: Path, *, quiet, paper_only, image, image_shape, seed, progress=None) -> dict:
    import json

    from tracerdiff.report import render_html, write_text_atomic
    from tracerdiff.study.runner import load_study_data, run_loaded
    from tracerdiff.study.synthetic import write_synthetic_study

    chain = [r.to_dict() for r in paper_chain()]
    write_csv_atomic(out / "paper_chain.csv", ["quantity", "ours", "ours_stderr", "unit", "paper", "ratio", "note"],
                     [[r["quantity"], r["ours"]["value"], r["ours"]["stderr"], r["ours"]["unit"], r["paper"],
                       r["ratio"], r["note"]] for r in chain])
    tables = [("Paper chain: our value from the paper's printed inputs vs the paper's result", chain)]
    report = out / "report.html"
    if paper_only:
        write_text_atomic(report, render_html("tracerdiff demo: the paper's chain", [_chain_section(chain)]))
        return {"tables": tables}
    study = write_synthetic_study(out / "study", seed=seed, image=image, image_shape=image_shape)
    truth = json.loads((out / "study" / "truth.json").read_text())["derived"]
    box = {}

    def extra(ctx, results):
        box["rows"] = headline_rows(results, truth)
        return [_headline_section(box["rows"]), _chain_section(chain)]

    results = run_loaded(load_study_data(study), out, quiet=quiet, title="tracerdiff demo: synthetic LLTO study",
                         extra_sections=extra, progress=progress)
    rows = box["rows"]
    write_csv_atomic(out / "headline.csv", ["key", "quantity", "ours", "ours_stderr", "unit", "truth", "paper",
                                            "ratio_ours_paper"],
                     [[r["key"], r["quantity"], r["ours"]["value"], r["ours"]["stderr"], r["ours"]["unit"],
                       r["truth"], r["paper"], r["ratio"]] for r in rows])
    tables.append(("Demo headline: synthetic LLTO study (paper parameters) vs truth vs paper", rows))
    return {"tables": tables, "skipped": results["skipped"], "failed": results["failed"],
            "truth_consistent": all(r["truth"] is None or _close(r) for r in rows)}


def _close(row, factor: float = 3.0) -> bool:
    v, t = row["ours"]["value"], row["truth"]
    return v is not None and t is not None and t > 0 and v > 0 and abs(math.log(v / t)) < math.log(factor)
