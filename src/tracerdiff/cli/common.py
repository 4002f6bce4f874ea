"""Shared CLI plumbing: the typer app, one-line errors, JSON and table output."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import signal
import sys
from typing import Callable

import typer
from rich.console import Console
from rich.table import Table

from tracerdiff import __version__
from tracerdiff.errors import TracerdiffError, own_imports
from tracerdiff.jsonio import jsonable
from tracerdiff.quantity import Measured

app = typer.Typer(help="Tracer diffusion coefficients from isotope-exchange SIMS.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
# emoji=False: user text such as ":x:" is printed as typed, never replaced by an emoji.
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


def _version(value: bool):
    if value:
        print(f"tracerdiff {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    """Tracer diffusion coefficients from isotope-exchange SIMS."""


def handle_errors(func: Callable) -> Callable:
    """Turn tracerdiff's own errors (and unreadable files) into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            # Commands import their stage lazily: a broken module there is a broken installation,
            # said in one line like every other error (own_imports), not a traceback.
            with own_imports(f"tracerdiff {func.__name__.removesuffix('_cmd').replace('_', '-')}"):
                return func(*args, **kwargs)
        except TracerdiffError as exc:
            err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except (OSError, UnicodeDecodeError) as exc:
            err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible(output):
    """Ctrl-C or SIGTERM: one error line and exit code 130 instead of a traceback.

    Outputs are transactions (:mod:`tracerdiff.report.transaction`), so an interrupted run
    leaves the previous complete ``output`` (or none). SIGTERM is turned into the same clean
    exit, so that the staging folder is removed (its default would kill the process outright).
    """
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        previous = None
    try:
        yield
    except KeyboardInterrupt:
        err_console.print(f"error: interrupted; {output} holds the previous complete output (or none)",
                          markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code=130) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def print_json(obj) -> None:
    # Streamed (the same text as json.dumps): a large map's 10^5 boundaries never exist as one string.
    json.dump(jsonable(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")


def print_table(title: str, rows: list[tuple[str, object]]) -> None:
    """Print name/value rows; Measured values show value ± stderr unit."""
    table = Table(title=title)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("± stderr", justify="right")
    table.add_column("unit")
    for name, q in rows:
        if isinstance(q, Measured):
            v, s = q.to()
            err = f"{s:.2g}" if math.isfinite(s) else "unknown"
            table.add_row(name, f"{v:.4g}", err, q.unit)
        else:
            table.add_row(name, f"{q:.4g}" if isinstance(q, float) else str(q), "", "")
    console.print(table)


def main() -> None:
    """Console-script entry point: usage errors become one line too, not a boxed panel."""
    try:  # typer >= 0.26 vendors click as typer._click
        from typer._click.exceptions import ClickException, NoArgsIsHelpError
    except ImportError:  # pragma: no cover - older typer with click
        from click.exceptions import ClickException

        NoArgsIsHelpError = ()  # noqa: N806

    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        err_console.print("error: aborted", markup=False, highlight=False)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except NoArgsIsHelpError as exc:
        print(exc.format_message())
        sys.exit(0)
    except ClickException as exc:
        err_console.print(f"error: {exc.format_message()}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
