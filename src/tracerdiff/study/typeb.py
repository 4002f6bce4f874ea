"""Type-B (fast-boundary) depth profiles in a study: ``[[measurements.profiles]]`` -> Le Claire analysis.

Each entry names a depth profile (sectioning, SIMS depth profile, line profile or a laterally
averaged C̄(y)) taken after a step. The anneal time is that step's duration unless the entry
gives ``time``; D_bulk is the entry's ``d_bulk``, else D*bulk at the step's temperature (sample
value or D_NMR fit), else fitted jointly from the near-surface part. The result carries the
Harrison regime check; its remarks (warnings) are kept in the entry's ``warnings``.
"""

from __future__ import annotations

import warnings

from tracerdiff.errors import InputError, TracerdiffError
from tracerdiff.quantity import Measured
from tracerdiff.study.context import RunContext

ANALYSIS = "type_b"


def load_profiles(ctx: RunContext) -> None:
    """Read and check every type-B profile before any analysis (errors name the study key)."""
    if not ctx.study.measurements.profiles:
        return
    # Imported here, and only for studies with profile entries. An ImportError of tracerdiff's
    # own code is a broken installation: it propagates and fails loudly (never a skip).
    from tracerdiff.profiles.load import check_profile, read_profile

    for i, entry in enumerate(ctx.study.measurements.profiles):
        try:
            ds = read_profile(entry.file)
            check_profile(ds)
        except InputError as exc:
            raise type(exc)(f"measurements.profiles[{i}].file: {exc}", source=ctx.study_path) from None
        ctx.objects[f"profile:{entry.name}"] = ds


def analyse_profiles(ctx: RunContext) -> None:
    """Le Claire analysis of each ``[[measurements.profiles]]`` entry (kind ``type_b``)."""
    study = ctx.study
    entries = study.measurements.profiles
    if not entries:
        ctx.skip(ANALYSIS, "the study has no [[measurements.profiles]] entries")
        return
    from tracerdiff.profiles.leclaire import TypeBOptions, fit_leclaire  # ImportError = failure
    out = {"status": "done", "note": "", "profiles": {}}
    rows = []
    for entry in entries:
        step = study.steps[study.step_index(entry.after)]
        time = entry.time if entry.time is not None else step.duration
        d_bulk, d_origin = None, "fitted jointly from the near-surface part"
        if entry.d_bulk is not None:
            d_bulk, d_origin = Measured(entry.d_bulk, 0.0, "diffusivity"), "profile entry d_bulk"
        else:
            known, why = ctx.d_bulk_at(step.temperature)
            if known is not None:
                d_bulk, d_origin = known, why
        opts = TypeBOptions(source=entry.source, segregation=entry.segregation, thickness=study.sample.gb_thickness,
                            grain_size=study.sample.grain_size, background=entry.background)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = fit_leclaire(ctx.objects[f"profile:{entry.name}"], time, d_bulk=d_bulk, options=opts)
            except TracerdiffError as exc:
                out["profiles"][entry.name] = {"status": "failed", "note": str(exc)}
                rows.append([entry.name, "failed", None, None, None, "", str(exc)])
                continue
        remarks = [str(w.message) for w in caught]
        out["profiles"][entry.name] = {"status": "done", "after_step": step.name, "inputs": [str(entry.file)],
                                       "time": Measured(time, 0.0, "time").to_dict(), "d_bulk_origin": d_origin,
                                       "fit": fit.to_dict(), "warnings": remarks}
        p = fit.p.to()
        rows.append([entry.name, fit.regime.regime, fit.beta, p[0], p[1], fit.p.unit, "; ".join(remarks)])
        _figure(ctx, entry.name, fit)
    ctx.tables["type_b_profiles"] = (["profile", "regime", "beta", "P", "P_stderr", "unit", "remarks"], rows)
    ctx.results[ANALYSIS] = out


def _figure(ctx: RunContext, name: str, fit) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    fit.plot(fig.add_subplot())
    ctx.add_figure(ANALYSIS, f"type_b_{name}", fig,
                   f"Profile {name}: ln C̄ against y^(6/5), the automatically found tail and its line "
                   f"(P = s δ D_gb = {fit.p}, regime {fit.regime.regime}).")
