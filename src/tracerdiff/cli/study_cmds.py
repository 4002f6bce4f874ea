"""``tracerdiff run`` (a study file -> results, tables, figures, report) and ``tracerdiff demo``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from rich.console import Console

from tracerdiff.cli.common import app, console, handle_errors, print_json


def print_comparison(title: str, rows: list[dict]) -> None:
    """Rows of {quantity, ours: {value, stderr, unit}, paper, ratio, note} as a rich table."""
    table = Table(title=title)
    for col, justify in (("quantity", "left"), ("ours", "right"), ("± stderr", "right"), ("paper", "right"),
                         ("ours/paper", "right"), ("unit", "left")):
        table.add_column(col, justify=justify)
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    for r in rows:
        ours = r["ours"]
        table.add_row(r["quantity"], fmt(ours["value"], ".3g"), fmt(ours["stderr"], ".2g"),
                      fmt(r["paper"], ".3g"), fmt(r["ratio"], ".3f"), ours["unit"])
    # Pipes and CI logs default to 80 columns, which wraps every quantity name.
    Console(width=max(console.width, 110)).print(table)


@app.command("demo")
@handle_errors
def demo_cmd(out: Path = typer.Option(Path("demo-output"), "--out", help="Output folder."),
             quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
             json_out: bool = typer.Option(False, "--json", help="Print the headline table as JSON."),
             paper_only: bool = typer.Option(False, "--paper-only",
                                             help="Only recompute the paper's chain from its printed inputs.")):
    """Run the bundled LLTO example and print the headline table next to the paper's values."""
    from tracerdiff.study.demo import run_demo

    summary = run_demo(out, quiet=quiet or json_out, paper_only=paper_only)
    if json_out:
        print_json(summary)
        return
    for title, rows in summary["tables"]:
        print_comparison(title, rows)
    console.print(f"report: {summary['report']}")
