"""``tracerdiff run`` (a study file -> results, tables, figures, report) and ``tracerdiff demo``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from rich.table import Table

from tracerdiff.cli.cluster import cluster_notice, machine_cores, parse_workers, stage_bars
from tracerdiff.cli.common import app, console, err_console, handle_errors, interruptible, print_json


def print_comparison(title: str, rows: list[dict]) -> None:
    """Rows of {quantity, ours: {value, stderr, unit}, [truth], paper, ratio} as a rich table."""
    table = Table(title=title)
    with_truth = any("truth" in r for r in rows)
    cols = [("quantity", "left"), ("ours", "right"), ("± stderr", "right")]
    cols += [("truth", "right")] if with_truth else []
    cols += [("paper", "right"), ("ours/paper", "right"), ("unit", "left")]
    for col, justify in cols:
        table.add_column(col, justify=justify)
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    for r in rows:
        ours = r["ours"]
        cells = [r["quantity"], fmt(ours["value"], ".3g"), fmt(ours["stderr"], ".2g")]
        cells += [fmt(r.get("truth"), ".3g")] if with_truth else []
        cells += [fmt(r["paper"], ".3g"), fmt(r["ratio"], ".3f"), ours["unit"]]
        table.add_row(*cells)
    # Pipes and CI logs default to 80 columns, which wraps every quantity name.
    Console(width=max(console.width, 110), emoji=False).print(table)


@app.command("demo")
@handle_errors
def demo_cmd(out: Path = typer.Option(Path("demo-output"), "--out", help="Output folder."),
             quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
             json_out: bool = typer.Option(False, "--json", help="Print the headline table as JSON."),
             paper_only: bool = typer.Option(False, "--paper-only",
                                             help="Only recompute the paper's chain from its printed inputs.")):
    """Run the bundled LLTO example and print the headline table next to the paper's values."""
    from tracerdiff.study.demo import run_demo

    with interruptible(out), stage_bars(not (quiet or json_out)) as progress:
        summary = run_demo(out, quiet=quiet or json_out, paper_only=paper_only, progress=progress)
    if json_out:
        print_json(summary)
    else:
        for title, rows in summary["tables"]:
            print_comparison(title, rows)
        for name, note in summary.get("skipped", {}).items():
            console.print(f"[yellow]not run[/yellow] {escape(name)}: {escape(note)}", highlight=False)
        if "study" in summary:
            console.print(f"study: {summary['study']}   results: {summary['results']}", markup=False)
        console.print(f"report: {summary['report']}", markup=False)
    _report_failures(summary.get("failed", {}))


def _report_failures(failed: dict) -> None:
    """Failed analyses on stderr (also with --quiet/--json), then exit 1."""
    if not failed:
        return
    for name, note in failed.items():
        err_console.print(f"failed: {name}: {note}", markup=False, highlight=False, soft_wrap=True)
    err_console.print(f"error: {len(failed)} analysis(es) failed (marked \"status\": \"failed\" in results.json); "
                      "the others were written", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


_WORKERS_HELP = ("Worker processes of a local dask cluster: an integer, or 'auto' (one per study of a campaign, up "
                 "to the machine's cores; in process for a single study). 1 runs everything in process.")
_SCHEDULER_HELP = ("Address of an existing dask cluster (e.g. tcp://host:8786: an HPC allocation through "
                   "dask-jobqueue, or 'dask scheduler' + 'dask worker' on several hosts); results are identical.")


@app.command("run")
@handle_errors
def run_cmd(studies: List[Path] = typer.Argument(..., help="The study file(s) (TOML). Several: a campaign, one "
                                                        "results folder per study plus a summary."),
            out: Path = typer.Option(..., "--out", help="Output folder (results.json, tables/, figures/, "
                                                         "report.html; for a campaign one such folder per study "
                                                         "plus campaign.csv, campaign.json, index.html); replaced "
                                                         "as a whole when the run ends."),
            quiet: bool = typer.Option(False, "--quiet", help="No progress bars or tables (for scripts)."),
            json_out: bool = typer.Option(False, "--json", help="Print the headline as one JSON object."),
            keep_going: bool = typer.Option(True, "--keep-going/--fail-fast",
                                            help="After a failed analysis, run the others and write what succeeded "
                                                 "(exit 1), or stop at the first failure and keep the previous "
                                                 "output."),
            workers: str = typer.Option("auto", "--workers", help=_WORKERS_HELP),
            scheduler: Optional[str] = typer.Option(None, "--scheduler", help=_SCHEDULER_HELP)):
    """Run every analysis the study's data allow and write results, tables, figures and a report."""
    from tracerdiff.parallel import engine
    from tracerdiff.study.runner import AnalysisFailed, run_study

    n_workers = parse_workers(workers, auto=1 if len(studies) == 1 else min(len(studies), machine_cores()))
    if len(studies) > 1:
        return _campaign(studies, out, quiet=quiet, json_out=json_out, fail_fast=not keep_going,
                         workers=n_workers, scheduler=scheduler)
    study = studies[0]
    show = not (quiet or json_out)
    try:
        with interruptible(out), stage_bars(show) as progress, \
                engine(scheduler=scheduler, workers=n_workers, on_start=cluster_notice(not show)):
            results = run_study(study, out, quiet=not show, fail_fast=not keep_going, progress=progress)
    except AnalysisFailed as exc:
        for name, note in exc.failures.items():
            err_console.print(f"failed: {name}: {note}", markup=False, highlight=False, soft_wrap=True)
        err_console.print(f"error: stopped at the first failed analysis (--fail-fast); {out} was not changed",
                          markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    if json_out:
        print_json({"headline": results["headline"], "skipped": results["skipped"], "failed": results["failed"],
                    "results": str(out / "results.json")})
        _report_failures(results["failed"])
        return
    if quiet:
        _report_failures(results["failed"])
        return
    _headline_table(f"{results['study'] or study.name}: headline", results["headline"])
    for name, note in results["skipped"].items():
        console.print(f"[yellow]not run[/yellow] {escape(name)}: {escape(note)}", highlight=False)
    console.print(f"results: {out / 'results.json'}   report: {out / 'report.html'}", markup=False)
    _report_failures(results["failed"])


def _headline_table(title: str, headline: dict) -> None:
    table = Table(title=Text(title))
    for col in ("quantity", "value", "± stderr", "unit", "origin"):
        table.add_column(col)
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    for r in headline.values():
        v = r["value"]
        table.add_row(r["quantity"], fmt(v["value"], ".4g"), fmt(v["stderr"], ".2g"), v["unit"], Text(r["origin"]))
    Console(width=max(console.width, 110), emoji=False).print(table)


def _campaign(studies, out: Path, *, quiet, json_out, fail_fast, workers, scheduler) -> None:
    """Several study files: each a task; one folder per study plus campaign.csv/json and index.html."""
    from tracerdiff.parallel import engine
    from tracerdiff.report.transaction import check_output_path
    from tracerdiff.study.campaign import run_campaign, study_folder_names
    from tracerdiff.study.load import load_study

    check_output_path(out)  # bad input fails before a cluster is started
    study_folder_names(studies)
    for study in studies:
        load_study(study)
    show = not (quiet or json_out)
    with interruptible(out), stage_bars(show) as progress, \
            engine(scheduler=scheduler, workers=workers, on_start=cluster_notice(not show)):
        summary = run_campaign(studies, out, fail_fast=fail_fast, progress=progress)
    failed = {f"study {s['name']}: {k}": v for s in summary["studies"] for k, v in s["failed"].items()}
    if json_out:
        print_json({"studies": [{k: s[k] for k in ("name", "folder", "status", "headline", "failed", "skipped")}
                                for s in summary["studies"]], "summary": str(out / "campaign.csv")})
    elif not quiet:
        for s in summary["studies"]:
            _headline_table(f"{s['title']} ({s['folder']}/): {s['status']}", s["headline"])
        console.print(f"summary: {out / 'campaign.csv'}   report: {out / 'index.html'}", markup=False)
    _report_failures(failed)
