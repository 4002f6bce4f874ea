"""``tracerdiff run`` (a study file -> results, tables, figures, report) and ``tracerdiff demo``."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tracerdiff.cli.common import app, console, err_console, handle_errors, print_json


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
    Console(width=max(console.width, 110)).print(table)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _interruptible(results_path: Path):
    """Ctrl-C or SIGTERM: one error line and exit code 130 instead of a traceback.

    Every output is replaced atomically and ``results.json`` is written last, so an
    interrupted run leaves complete files only and no ``results.json``. SIGTERM is turned
    into the same clean exit (its default would skip the temporary-file cleanup).
    """
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        previous = None
    try:
        yield
    except KeyboardInterrupt:
        err_console.print(f"error: interrupted; {results_path} was not written", markup=False, highlight=False)
        raise typer.Exit(code=130) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@app.command("demo")
@handle_errors
def demo_cmd(out: Path = typer.Option(Path("demo-output"), "--out", help="Output folder."),
             quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
             json_out: bool = typer.Option(False, "--json", help="Print the headline table as JSON."),
             paper_only: bool = typer.Option(False, "--paper-only",
                                             help="Only recompute the paper's chain from its printed inputs.")):
    """Run the bundled LLTO example and print the headline table next to the paper's values."""
    from tracerdiff.study.demo import run_demo

    with _interruptible(out / "results.json"):
        summary = run_demo(out, quiet=quiet or json_out, paper_only=paper_only)
    if json_out:
        print_json(summary)
        return
    for title, rows in summary["tables"]:
        print_comparison(title, rows)
    for name, note in summary.get("skipped", {}).items():
        console.print(f"[yellow]not run[/yellow] {name}: {note}", highlight=False)
    if "study" in summary:
        console.print(f"study: {summary['study']}   results: {summary['results']}")
    console.print(f"report: {summary['report']}")


@app.command("run")
@handle_errors
def run_cmd(study: Path = typer.Argument(..., help="The study file (TOML)."),
            out: Path = typer.Option(..., "--out", help="Output folder (results.json, tables/, figures/, "
                                                         "report.html)."),
            quiet: bool = typer.Option(False, "--quiet", help="No progress bars or tables (for scripts)."),
            json_out: bool = typer.Option(False, "--json", help="Print the headline as one JSON object.")):
    """Run every analysis the study's data allow and write results, tables, figures and a report."""
    from tracerdiff.study.runner import run_study

    with _interruptible(out / "results.json"):
        results = run_study(study, out, quiet=quiet or json_out)
    if json_out:
        print_json({"headline": results["headline"], "skipped": results["skipped"],
                    "results": str(out / "results.json")})
        return
    if quiet:
        return
    table = Table(title=f"{results['study'] or study.name}: headline")
    for col in ("quantity", "value", "± stderr", "unit", "origin"):
        table.add_column(col)
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    for r in results["headline"].values():
        v = r["value"]
        table.add_row(r["quantity"], fmt(v["value"], ".4g"), fmt(v["stderr"], ".2g"), v["unit"], r["origin"])
    Console(width=max(console.width, 110)).print(table)
    for name, note in results["skipped"].items():
        console.print(f"[yellow]not run[/yellow] {name}: {note}", highlight=False)
    console.print(f"results: {out / 'results.json'}   report: {out / 'report.html'}")
