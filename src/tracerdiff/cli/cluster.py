"""CLI side of the parallel engine: ``--workers`` parsing, rich progress bars, the dashboard link.

Library code reports progress through callbacks and never draws; these render them.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tracerdiff.cli.common import err_console
from tracerdiff.errors import InputError


@contextlib.contextmanager
def stage_bars(enabled: bool = True, *, transient: bool = False) -> Iterator[Callable[[str, int, int], None] | None]:
    """Yield a ``progress(label, done, total)`` callback drawing one bar per label on stderr.

    Yields None when not ``enabled`` (``--quiet``, ``--json``), so that nothing is drawn.
    """
    if not enabled:
        yield None
        return
    with Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=transient) as bar:
        tasks: dict[str, int] = {}

        def report(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=max(total, 1))
            bar.update(tasks[label], completed=done, total=max(total, 1))
        yield report


def cluster_notice(quiet: bool) -> Callable[[str | None], None]:
    """The ``on_start`` callback of :func:`tracerdiff.parallel.engine`: print the dashboard link."""
    def notice(link: str | None) -> None:
        if quiet:
            return
        if link:
            err_console.print(f"dask dashboard: {link}", markup=False, highlight=False, soft_wrap=True)
        else:
            err_console.print("running on a dask cluster (no dashboard: install bokeh to get one)",
                              markup=False, highlight=False)
    return notice


def parse_workers(text: str, *, auto: int | None):
    """``--workers``: an integer >= 1, or 'auto' (this command's default; returned as "auto" when None)."""
    if text.strip().lower() == "auto":
        return "auto" if auto is None else max(int(auto), 1)
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(f"must be 'auto' or an integer >= 1, got {text!r}", source="--workers")
    return n


def machine_cores() -> int:
    """Cores this process may use (the affinity mask, e.g. a batch job's allocation)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
