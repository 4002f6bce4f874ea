"""``tracerdiff run a.toml b.toml ...``: a campaign of studies, each a task on the parallel engine.

Output (one transaction, :func:`tracerdiff.report.transaction.output_folder`)::

    out/
      <study>/          one results folder per study, as ``tracerdiff run`` writes it
      campaign.csv      every study's headline numbers (value, stderr, unit) and its status
      campaign.json     the same, with each study's failed and skipped analyses
      index.html        a report page listing the studies and their headlines

Every study file is validated in the calling process before any work starts (a broken file
fails the campaign at once, naming it). Each study then runs as one task (:mod:`tracerdiff.parallel`):
in process, on a local cluster, or on an existing dask cluster. A task writes its outputs into
a temporary folder on its worker and returns them as bytes, so workers need to read the data
files but not to share the output folder with the caller. The caller writes everything into
the staging folder; the campaign's folder is replaced only when every study finished, so a
crashed study (a data file unreadable on the worker, a lost worker after its retries) leaves
the previous output and raises :class:`tracerdiff.parallel.TaskError` naming the study.

A study whose analyses failed (``keep going``) is written with its status ``failed`` and the
failed analyses listed; the CLI then exits 1. With ``fail_fast`` the first failed analysis
stops the campaign and nothing is written.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Sequence

from tracerdiff import __version__
from tracerdiff.errors import InputError, TracerdiffError
from tracerdiff.parallel import StageProgress, stage, task_runner
from tracerdiff.report.atomic import write_bytes_atomic, write_csv_atomic, write_json_atomic, write_text_atomic
from tracerdiff.report.html import Section, render_html
from tracerdiff.report.transaction import check_output_path, output_folder
from tracerdiff.study.load import load_study
from tracerdiff.study.provenance import study_input_files

#: The campaign's own files beside the study folders.
CAMPAIGN_FILES = ("campaign.csv", "campaign.json", "index.html")
SUMMARY_HEADER = ["study", "folder", "status", "quantity_key", "quantity", "value", "stderr", "unit", "origin"]


def study_folder_names(paths: Sequence[str | Path]) -> list[str]:
    """One folder name per study file: its stem, made unique with its parent folder's name, then a number.

    Raises
    ------
    InputError
        The same study file given twice.
    """
    resolved = [os.path.realpath(p) for p in paths]
    for i, r in enumerate(resolved):
        if r in resolved[:i]:
            raise InputError("the same study file is given twice", source=paths[i])
    names = [_safe(Path(p).stem) for p in paths]
    names = [f"{n}-study" if n in CAMPAIGN_FILES else n for n in names]  # never the summary's own names
    names = [_safe(f"{Path(r).parent.name}-{Path(r).stem}") if names.count(n) > 1 else n
             for n, r in zip(names, resolved)]
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if names.count(name) == 1 else f"{name}-{seen[name]}")
    return out


def _safe(name: str) -> str:
    """A folder name without separators, control characters or a leading dot."""
    return re.sub(r"[^\w.+-]+", "_", name).lstrip(".") or "study"


def run_campaign(study_paths: Sequence[str | Path], out: str | Path, *, fail_fast: bool = False,
                 progress: StageProgress | None = None, scheduler=None, workers: int = 1) -> dict:
    """Run several study files and replace ``out`` with one results folder per study plus a summary.

    Parameters
    ----------
    study_paths : sequence of str or pathlib.Path
        The study files (TOML), at least one.
    out : str or pathlib.Path
        The campaign's output folder: new, empty, or an earlier output; replaced as a whole.
    fail_fast : bool
        Stop at the first failed analysis of any study (nothing written).
    progress : callable, optional
        Called as ``progress("studies", done, total)`` as studies finish.
    scheduler : str or distributed.Client, optional
        A dask cluster (address or ``distributed.Client``) to run the studies on; None runs them
        in process, or on a local cluster of ``workers`` processes when ``workers > 1``.
    workers : int, str or None
        Processes of that local cluster. Results are identical whichever engine runs them.

    Returns
    -------
    dict
        The campaign summary (as in ``campaign.json``): ``studies`` in the order given, each with
        ``name``, ``folder``, ``study_file``, ``status``, ``headline``, ``failed`` and ``skipped``.

    Raises
    ------
    InputError
        No study, a study file given twice, or a broken study file (before any work).
    TaskError
        A study crashed (names it); ``out`` is unchanged.
    """
    paths = [Path(p) for p in study_paths]
    if not paths:
        raise InputError("give at least one study file", source="STUDY")
    check_output_path(out)
    names = study_folder_names(paths)
    inputs = []
    for path in paths:
        study = load_study(path)  # a broken study file fails here, naming itself, before any work
        inputs += [path, *study_input_files(study)]
    with output_folder(out, inputs=inputs, known=CAMPAIGN_FILES, owner="tracerdiff run (campaign)") as folder:
        tick = stage(progress, "studies", len(paths))
        specs = [(str(p), fail_fast) for p in paths]
        with task_runner(scheduler=scheduler, workers=workers) as runner:
            done = runner.map(run_study_task, specs, names=[f"study {n} ({p})" for n, p in zip(names, paths)],
                              progress=lambda d, t: tick())
        studies = []
        for name, path, (results, files) in zip(names, paths, done):
            for rel, data in sorted(files.items()):
                write_bytes_atomic(folder / name / rel, data)
            studies.append(_entry(name, path, results))
        summary = {"tracerdiff_version": __version__, "studies": studies}
        _write_summary(folder, summary)
    return summary


def run_study_task(spec: tuple[str, bool]) -> tuple[dict, dict[str, bytes]]:
    """One study of a campaign (a task): its ``results`` and output files ``{relative path: bytes}``.

    Runs into a temporary folder on the worker, so the caller alone writes the campaign folder.
    """
    from tracerdiff.study.runner import AnalysisFailed, load_study_data, run_loaded

    study_path, fail_fast = spec
    with tempfile.TemporaryDirectory(prefix="tracerdiff-study-") as tmp:
        try:
            results = run_loaded(load_study_data(study_path), Path(tmp), quiet=True, fail_fast=fail_fast)
        except AnalysisFailed as exc:
            # Re-raised as a plain error: AnalysisFailed's constructor does not survive pickling.
            raise TracerdiffError(f"stopped at the first failed analysis (fail fast): {exc}") from None
        files = {}
        for root, _, names in os.walk(tmp):
            for n in names:
                full = Path(root) / n
                files[full.relative_to(tmp).as_posix()] = full.read_bytes()
    return results, files


def _entry(name: str, path: Path, results: dict) -> dict:
    failed = results.get("failed", {})
    return {"name": name, "folder": name, "study_file": path.name, "title": results.get("study") or name,
            "status": "failed" if failed else "done", "headline": results.get("headline", {}),
            "failed": failed, "skipped": results.get("skipped", {})}


def summary_rows(summary: dict) -> list[list]:
    """The rows of ``campaign.csv`` (:data:`SUMMARY_HEADER`): one per headline quantity per study."""
    rows = []
    for s in summary["studies"]:
        if not s["headline"]:
            rows.append([s["title"], s["folder"], s["status"], "", "", None, None, "", ""])
        for key, r in s["headline"].items():
            v = r["value"]
            rows.append([s["title"], s["folder"], s["status"], key, r["quantity"], v.get("value"), v.get("stderr"),
                         v.get("unit", ""), r.get("origin", "")])
    return rows


def _write_summary(folder: Path, summary: dict) -> None:
    write_csv_atomic(folder / "campaign.csv", SUMMARY_HEADER, summary_rows(summary))
    write_json_atomic(folder / "campaign.json", summary)
    overview = Section("Studies")
    overview.tables.append(("Studies of the campaign", ["study", "folder", "status", "failed analyses"],
                            [[s["title"], f"{s['folder']}/report.html", s["status"], ", ".join(s["failed"]) or "—"]
                             for s in summary["studies"]]))
    sections = [overview]
    for s in summary["studies"]:
        sec = Section(f"{s['title']} ({s['folder']}/)")
        sec.tables.append(("Headline (value ± standard error)", ["quantity", "value", "± stderr", "unit", "origin"],
                           [[r["quantity"], r["value"].get("value"), r["value"].get("stderr"), r["value"].get("unit", ""),
                             r.get("origin", "")] for r in s["headline"].values()]))
        sec.notes += [f"failed: {k}: {v}" for k, v in s["failed"].items()]
        if not s["headline"]:
            sec.paragraphs.append("No headline quantity: the study's data allowed none.")
        sections.append(sec)
    write_text_atomic(folder / "index.html", render_html("tracerdiff campaign", sections,
                                                         footer=f"tracerdiff {__version__}"))
