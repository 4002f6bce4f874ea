"""``tracerdiff run`` (a study file -> results, tables, figures, report) and ``tracerdiff demo``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from rich.table import Table

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

    with interruptible(out):
        summary = run_demo(out, quiet=quiet or json_out, paper_only=paper_only)
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


@app.command("run")
@handle_errors
def run_cmd(study: Path = typer.Argument(..., help="The study file (TOML)."),
            out: Path = typer.Option(..., "--out", help="Output folder (results.json, tables/, figures/, "
                                                         "report.html); replaced as a whole when the run ends."),
            quiet: bool = typer.Option(False, "--quiet", help="No progress bars or tables (for scripts)."),
            json_out: bool = typer.Option(False, "--json", help="Print the headline as one JSON object."),
            keep_going: bool = typer.Option(True, "--keep-going/--fail-fast",
                                            help="After a failed analysis, run the others and write what succeeded "
                                                 "(exit 1), or stop at the first failure and keep the previous "
                                                 "output.")):
    """Run every analysis the study's data allow and write results, tables, figures and a report."""
    from tracerdiff.study.runner import AnalysisFailed, run_study

    try:
        with interruptible(out):
            results = run_study(study, out, quiet=quiet or json_out, fail_fast=not keep_going)
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
    table = Table(title=Text(f"{results['study'] or study.name}: headline"))
    for col in ("quantity", "value", "± stderr", "unit", "origin"):
        table.add_column(col)
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    for r in results["headline"].values():
        v = r["value"]
        table.add_row(r["quantity"], fmt(v["value"], ".4g"), fmt(v["stderr"], ".2g"), v["unit"], Text(r["origin"]))
    Console(width=max(console.width, 110), emoji=False).print(table)
    for name, note in results["skipped"].items():
        console.print(f"[yellow]not run[/yellow] {escape(name)}: {escape(note)}", highlight=False)
    console.print(f"results: {out / 'results.json'}   report: {out / 'report.html'}", markup=False)
    _report_failures(results["failed"])
