"""``tracerdiff run``: every analysis the study's data allow, then results, tables, figures, report.

Order: validate the study file and read every data file (any problem stops the
run here, before analysis) -> reference series and impedance -> Arrhenius fits
of the reference series (D*bulk(T) for the boundary analysis) -> boundary steps
of each image -> erfc and closed-evolution fits of the line scans ->
(l/δ)D*gb from D*eff -> Arrhenius fits of every series -> series model, Haven
ratio, cryo validity -> outputs.

Outputs: ``figures/*.png``, ``tables/*.csv``, ``report.html``, ``results.json``. The
output folder is a transaction (:mod:`tracerdiff.report.transaction`): the run writes into
a staging folder beside it, which replaces the folder as a whole only when the run got
to the end, so an interrupt, a crash or a full disk leaves the previous complete output
(and a re-run leaves no outputs of analyses it did not do). A folder holding any of the
study's input files is refused before anything is written, and a second run on the
same folder fails at once (lock file).

An analysis the data do not allow is ``"skipped"`` with the reason; an exception inside
an analysis marks it ``"failed"`` with the error text and the run goes on (the others
are still written); the CLI then exits 1. ``fail_fast=True`` stops at the first
failure instead, and the previous output is kept. Nothing time- or host-dependent is
recorded, so re-running on the same inputs gives byte-identical ``results.json``.
"""

from __future__ import annotations

import functools
from pathlib import Path

from tracerdiff import __version__
from tracerdiff.jsonio import jsonable
from tracerdiff.errors import OutputError, TracerdiffError
from tracerdiff.parallel import StageProgress, engine, stage
from tracerdiff.report.atomic import write_csv_atomic, write_json_atomic, write_text_atomic
from tracerdiff.report.transaction import check_output_path, checkpoint, output_folder
from tracerdiff.report.html import render_html
from tracerdiff.study import derived, imaging, reference, typeb
from tracerdiff.study.context import RunContext
from tracerdiff.study.load import load_study
from tracerdiff.study.provenance import collect_provenance, study_input_files

ANALYSES = ("reference_series", "nernst_einstein", "impedance", "boundary_steps", "erfc", "time_evolution",
            "arrhenius", "series_model", "haven", "cryo_validity", "type_b")
#: What a run writes (an output folder of an older tracerdiff holding only these may be replaced).
RUN_OUTPUTS = ("results.json", "report.html", "figures", "tables")


class AnalysisFailed(TracerdiffError):
    """``fail_fast``: an analysis raised; nothing was written. ``failures`` maps analysis -> error text."""

    def __init__(self, failures: dict):
        self.failures = dict(failures)
        super().__init__("; ".join(f"{k}: {v}" for k, v in failures.items()))


def run_study(study_path: str | Path, out: str | Path, *, quiet: bool = False, title: str | None = None,
              extra_sections=None, fail_fast: bool = False, progress: StageProgress | None = None,
              scheduler=None, workers: int = 1) -> dict:
    """Run a study file; replace the folder ``out`` with its outputs; return the results (as in ``results.json``).

    Parameters
    ----------
    study_path : str or pathlib.Path
        The TOML study file.
    out : str or pathlib.Path
        Output folder: new, empty or an earlier tracerdiff output; replaced as a whole at the end.
    quiet : bool
        No progress reports (``progress`` is not called).
    title : str, optional
        Report title (default: the study's title).
    extra_sections : sequence of Section, optional
        Optional callable ``(ctx, results) -> list[Section]`` appended to the report (the demo's tables).
    fail_fast : bool
        Stop at the first analysis that raises (:class:`AnalysisFailed`, ``out`` untouched).
    progress : callable, optional
        Called as ``progress(stage, done, total)`` as the run advances (the CLI draws bars).
    scheduler : str or distributed.Client, optional
        A dask cluster (address or ``distributed.Client``) for the parallel parts (inversion
        windows); None runs them in process, or on a local cluster when ``workers > 1``.
    workers : int, str or None
        Processes of that local cluster. Results are identical whichever engine runs them.

    Raises
    ------
    InputError, FileFormatError
        A broken study file, unreadable data file or refused output folder, before any analysis.
    OutputError
        The output folder is locked by another run or cannot be written (``out`` untouched).
    AnalysisFailed
        With ``fail_fast``, the first failed analysis.
    """
    check_output_path(out)  # an empty or odd --out fails before the study is read
    study_path = Path(study_path)
    study = load_study(study_path)
    inputs = [study_path, *study_input_files(study)]
    # The lock is taken before the data are read, so a second run on the folder fails at once.
    with output_folder(out, inputs=inputs, known=RUN_OUTPUTS, owner="tracerdiff run") as folder:
        ctx = load_study_data(study_path, study=study)
        with engine(scheduler=scheduler, workers=workers):
            return run_loaded(ctx, folder, quiet=quiet, title=title, extra_sections=extra_sections,
                              fail_fast=fail_fast, progress=progress)


def load_study_data(study_path: str | Path, *, study=None) -> RunContext:
    """Validate a study file and read every data file it names (bad data fail here, before any analysis)."""
    study_path = Path(study_path)
    ctx = RunContext(study=load_study(study_path) if study is None else study, study_path=study_path, out=None)
    imaging.load_data(ctx)
    typeb.load_profiles(ctx)
    checkpoint("data-loaded")
    return ctx


def run_loaded(ctx: RunContext, folder: Path, *, quiet: bool = False, title: str | None = None,
               extra_sections=None, fail_fast: bool = False, progress: StageProgress | None = None) -> dict:
    """Run every analysis of a loaded study and write the outputs straight into ``folder``.

    ``progress(stage, done, total)`` is called as the stages advance (not with ``quiet``).

    No transaction: :func:`run_study` (and the demo) call this inside
    :func:`tracerdiff.report.transaction.output_folder`.
    """
    study, study_path = ctx.study, ctx.study_path
    ctx.out = Path(folder)
    provenance = collect_provenance(study_path, study, study_input_files(study))
    guarded = functools.partial(_guarded, ctx, fail_fast=fail_fast)
    report = None if quiet else progress

    def task(description: str, total: int = 1):
        return stage(report, description, total)

    guarded("reference_series", reference.analyse_reference, ctx)
    guarded("impedance", reference.analyse_impedance, ctx,
            progress=task("impedance fits", len(study.reference.impedance)))
    guarded("arrhenius", derived.fit_series, ctx, names=("D_NMR",))
    guarded("boundary_steps", imaging.analyse_images, ctx,
            progress=task("boundary steps", len(study.measurements.images)))
    guarded("erfc", imaging.analyse_scans, ctx,
            progress=task("line-scan fits", len(study.measurements.line_scans)))
    guarded("type_b", typeb.analyse_profiles, ctx)
    guarded("gb_from_deff", derived.gb_from_deff, ctx)
    guarded("arrhenius", derived.fit_series, ctx)
    guarded("series_model", derived.series_comparison, ctx)
    guarded("haven", derived.haven, ctx)
    guarded("cryo_validity", derived.cryo, ctx)
    finish = task("figures and report", 3)
    guarded("arrhenius", derived.arrhenius_figure, ctx)
    guarded("series_model", derived.series_figure, ctx)
    finish()
    for name in ANALYSES:
        ctx.results.setdefault(name, {"status": "skipped", "note": "no data for this analysis"})
    analyses = _relative_paths(jsonable(ctx.results), str(study_path.parent.resolve()) + "/")
    results = {"tracerdiff_version": __version__, "study": study.title, "provenance": provenance,
               "headline": derived.headline(ctx), "analyses": analyses,
               "skipped": {k: v.get("note", "") for k, v in ctx.results.items() if v.get("status") == "skipped"},
               "failed": _failures(ctx.results)}
    _write_tables(ctx)
    finish()
    checkpoint("tables")
    from tracerdiff.study.report_sections import build_report
    sections = build_report(ctx, results)
    if extra_sections is not None:
        sections = extra_sections(ctx, results) + sections
    write_text_atomic(ctx.out / "report.html", render_html(title or study.title or "tracerdiff study", sections,
                                                           footer=f"tracerdiff {__version__}"))
    checkpoint("report")
    write_json_atomic(ctx.out / "results.json", results)
    finish()
    return results


def _guarded(ctx: RunContext, name: str, func, *args, fail_fast: bool = False, **kwargs) -> None:
    """Run one analysis; an exception marks it ``failed`` (with the error text) and the run goes on.

    Analyses record what the data do not allow as ``skipped`` themselves; anything raised
    here is a failure (a bug, an overflow, a missing module of tracerdiff), so the run
    must end non-zero. A write error (full disk) is not an analysis failure: it aborts the run.
    """
    try:
        func(*args, **kwargs)
    except OutputError:
        raise
    except Exception as exc:  # noqa: BLE001 - isolation boundary, recorded in results.json
        text = f"{func.__name__} raised {type(exc).__name__}: {exc}"
        entry = ctx.results.setdefault(name, {})
        entry.update(status="failed", note=text, error=text)
        if fail_fast:
            raise AnalysisFailed({name: text}) from exc
    checkpoint(f"analysis:{name}")


def _failures(results: dict) -> dict:
    """Failed analyses, and failed images of the boundary analysis (``boundary_steps[<image>]``).

    An image whose analysis raised (a crashed inversion window: "inversion window 3 failed: ...")
    fails the run even when other images succeeded, and the message names the image.
    """
    failed = {k: v.get("note", "") for k, v in results.items() if v.get("status") == "failed"}
    images = results.get("boundary_steps", {}).get("images", {})
    failed.update({f"boundary_steps[{name}]": e.get("note", "") for name, e in images.items()
                   if e.get("status") == "failed"})
    return failed


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
            rows.append([series, p.temperature_k, p.temperature_k - 273.15, *p.value.to(), p.value.unit, p.origin])
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
