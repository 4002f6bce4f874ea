"""``tracerdiff run``: every analysis the study's data allow, then results, tables, figures, report.

Order: validate the study file and read every data file (any problem stops the
run here, before analysis) -> reference series and impedance -> Arrhenius fits
of the reference series (D*bulk(T) for the boundary analysis) -> boundary steps
of each image -> erfc and closed-evolution fits of the line scans ->
(l/δ)D*gb from D*eff -> Arrhenius fits of every series -> series model, Haven
ratio, cryo validity -> outputs.

Outputs (all written atomically; ``results.json`` last, so its presence means
the run completed; temporary files a killed run left behind are removed when
the next run starts): ``figures/*.png``, ``tables/*.csv``, ``report.html``,
``results.json``. Nothing time- or host-dependent is recorded, so re-running on
the same inputs gives byte-identical ``results.json``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from tracerdiff import __version__
from tracerdiff.cli.common import jsonable
from tracerdiff.report.atomic import make_output_folder, remove_stale_temporaries, write_csv_atomic, write_json_atomic, write_text_atomic
from tracerdiff.report.html import render_html
from tracerdiff.study import derived, reference, sims, typeb
from tracerdiff.study.context import RunContext
from tracerdiff.study.load import load_study
from tracerdiff.study.provenance import collect_provenance, study_input_files

ANALYSES = ("reference_series", "nernst_einstein", "impedance", "boundary_steps", "erfc", "time_evolution",
            "arrhenius", "series_model", "haven", "cryo_validity", "type_b")


@contextlib.contextmanager
def _progress(quiet: bool):
    """A rich progress bar on stderr (a no-op callable when quiet)."""
    if quiet:
        yield lambda description, total=1: (lambda: None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        def task(description: str, total: int = 1):
            tid = bar.add_task(description, total=max(total, 1))
            return lambda: bar.advance(tid)
        yield task


def run_study(study_path: str | Path, out: str | Path, *, quiet: bool = False, title: str | None = None,
              extra_sections=None) -> dict:
    """Run a study file; write outputs into ``out``; return the results dict (as in ``results.json``).

    Parameters
    ----------
    study_path
        The TOML study file.
    out
        Output folder (created).
    quiet
        No progress bars (for scripts).
    title
        Report title (default: the study's title).
    extra_sections
        Optional callable ``(ctx, results) -> list[Section]`` appended to the report (the demo's tables).

    Raises
    ------
    InputError, FileFormatError
        A broken study file or unreadable data file, before any analysis.
    """
    study_path = Path(study_path)
    study = load_study(study_path)
    out = Path(out)
    ctx = RunContext(study=study, study_path=study_path, out=out)
    sims.load_data(ctx)  # every file read before any analysis: bad data fail here
    typeb.load_profiles(ctx)
    make_output_folder(out)
    remove_stale_temporaries(out)
    provenance = collect_provenance(study_path, study, study_input_files(study))
    with _progress(quiet) as task:
        _guarded(ctx, "reference_series", reference.analyse_reference, ctx)
        _guarded(ctx, "impedance", reference.analyse_impedance, ctx,
                 progress=task("impedance fits", len(study.reference.impedance)))
        _guarded(ctx, "arrhenius", derived.fit_series, ctx, names=("D_NMR",))
        _guarded(ctx, "boundary_steps", sims.analyse_images, ctx,
                 progress=task("boundary steps", len(study.measurements.images)))
        _guarded(ctx, "erfc", sims.analyse_scans, ctx,
                 progress=task("line-scan fits", len(study.measurements.line_scans)))
        _guarded(ctx, "type_b", typeb.analyse_profiles, ctx)
        _guarded(ctx, "gb_from_deff", derived.gb_from_deff, ctx)
        _guarded(ctx, "arrhenius", derived.fit_series, ctx)
        _guarded(ctx, "series_model", derived.series_comparison, ctx)
        _guarded(ctx, "haven", derived.haven, ctx)
        _guarded(ctx, "cryo_validity", derived.cryo, ctx)
        finish = task("figures and report", 3)
        _guarded(ctx, "arrhenius", derived.arrhenius_figure, ctx)
        _guarded(ctx, "series_model", derived.series_figure, ctx)
        finish()
        for name in ANALYSES:
            ctx.results.setdefault(name, {"status": "skipped", "note": "no data for this analysis"})
        analyses = _relative_paths(jsonable(ctx.results), str(study_path.parent.resolve()) + "/")
        results = {"tracerdiff_version": __version__, "study": study.title, "provenance": provenance,
                   "headline": derived.headline(ctx), "analyses": analyses,
                   "skipped": {k: v.get("note", "") for k, v in ctx.results.items()
                               if v.get("status") in ("skipped", "failed")}}
        _write_tables(ctx)
        finish()
        from tracerdiff.study.report_sections import build_report
        sections = build_report(ctx, results)
        if extra_sections is not None:
            sections = extra_sections(ctx, results) + sections
        write_text_atomic(out / "report.html", render_html(title or study.title or "tracerdiff study", sections,
                                                           footer=f"tracerdiff {__version__}"))
        # Last: its presence means the run finished; it is rendered fully before the atomic write.
        write_json_atomic(out / "results.json", results)
        finish()
    return results


def _guarded(ctx: RunContext, name: str, func, *args, **kwargs) -> None:
    """Run one analysis; an unexpected error marks it failed (with the error) and the run goes on.

    Each analysis depends on other subpackages; a bug or an API change in one of them must
    cost that analysis, not the whole run. Tracerdiff's own errors are handled inside the
    analyses; anything reaching here is unexpected, so its type is recorded too.
    """
    try:
        func(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - isolation boundary, recorded in results.json
        entry = ctx.results.setdefault(name, {})
        entry.update(status="failed", note=f"internal error in {func.__name__}: {type(exc).__name__}: {exc}")


def _relative_paths(obj, prefix: str):
    """Data-file paths relative to the study folder, so results do not depend on where the study lives."""
    if isinstance(obj, str):
        return obj[len(prefix):] if obj.startswith(prefix) else obj
    if isinstance(obj, dict):
        return {k: _relative_paths(v, prefix) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_relative_paths(v, prefix) for v in obj]
    return obj


def _write_tables(ctx: RunContext) -> None:
    for name, (header, rows) in sorted(ctx.tables.items()):
        if rows:
            write_csv_atomic(ctx.out / "tables" / f"{name}.csv", header, rows)
    rows = []
    for series, pts in sorted(ctx.series.items()):
        for p in pts:
            rows.append([series, p.temperature, p.temperature - 273.15, *p.value.to(), p.value.unit, p.origin])
    if rows:
        write_csv_atomic(ctx.out / "tables" / "arrhenius_points.csv",
                         ["series", "temperature_K", "temperature_C", "value", "stderr", "unit", "origin"], rows)
    fits = []
    for name, fit in sorted(ctx.fits.items()):
        fits.append([name, *fit.activation_energy.to("eV"), *fit.prefactor.to(), fit.prefactor.unit, fit.n_points,
                     fit.reduced_chi2])
    if fits:
        write_csv_atomic(ctx.out / "tables" / "arrhenius_fits.csv",
                         ["series", "Ea_eV", "Ea_stderr_eV", "prefactor", "prefactor_stderr", "unit", "n_points",
                          "reduced_chi2"], fits)
