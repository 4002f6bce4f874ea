"""The one reader of numeric text tables (pandas): line scans, series tables, impedance spectra.

A table is text with optional comment lines (``#``, ``%``, ``//``), an optional header row
of column names, and rows of numbers separated by tabs, commas, semicolons or whitespace
(the separator every data line has; tab before comma before semicolon, else whitespace).
:func:`read_numeric_table` returns the header and a float array; every failure is a
:class:`~tracerdiff.errors.FileFormatError` naming the file and, for a bad cell, its line
and column. Vendor exports with their own layouts (SurfaceLab) keep their parser
(:mod:`.surfacelab`), which knows their header lines, decimal commas and trailing tabs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracerdiff.errors import FileFormatError

_COMMENTS = ("#", "%", "//")
_SEPARATORS = ("\t", ",", ";")


@dataclass(frozen=True)
class NumericTable:
    """A numeric text table as read: column names (None without a header row) and values.

    ``lines`` holds the 1-based file line number of every row of ``values``, so that a
    caller's check can name the line it refuses.
    """

    path: Path
    header: list[str] | None
    values: np.ndarray
    separator: str | None
    lines: np.ndarray

    def column(self, index: int) -> np.ndarray:
        """Values of column ``index`` (a copy: the table stays as read)."""
        return self.values[:, index].copy()


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def guess_separator(lines: list[str]) -> str | None:
    """Tab, comma or semicolon when each of the first 20 lines has it, else None (whitespace)."""
    sample = lines[:20]
    for sep in _SEPARATORS:
        if sample and all(sep in ln for ln in sample):
            return sep
    return None


def read_numeric_table(path: str | Path, *, header: bool | None = None, finite: bool = True,
                       min_rows: int = 1, what: str = "table", check_header=None) -> NumericTable:
    """Read a numeric text table with pandas.

    Parameters
    ----------
    path : str or Path
        The file; opened read-only (binary content and files over 1 GiB are refused).
    header : bool or None
        Whether the first non-comment line names the columns; None: when any of its cells is
        not a number.
    finite : bool
        Refuse NaN and infinity (``inf`` stays allowed for callers that mask it).
    min_rows : int
        The fewest data rows accepted.
    what : str
        What the table is, for messages (``"line scan"``, ``"impedance spectrum"``).
    check_header : callable, optional
        Called with the column names before any cell is parsed, so that a wrong column is
        reported as such rather than as a cell that is not a number.

    Returns
    -------
    NumericTable

    Raises
    ------
    FileFormatError
        Missing/unreadable/binary file, no data, rows of different lengths, a cell that is not
        a number (the message gives its line and column), or too few rows.
    """
    import pandas as pd

    from tracerdiff.io._base import read_text

    p = Path(path)
    numbered = [(i + 1, ln.rstrip("\r\n")) for i, ln in enumerate(read_text(p).splitlines())]
    rows = [(i, ln) for i, ln in numbered if ln.strip() and not ln.lstrip().startswith(_COMMENTS)]
    if not rows:
        raise FileFormatError(f"the {what} file is empty (no header or data rows)", source=p)
    sep = guess_separator([ln for _, ln in rows[1:]] or [rows[0][1]])
    first = _cells(rows[0][1], sep)
    if header is None:
        header = not all(_is_number(t) for t in first if t)
    names = [t.strip().strip('"').strip("'") for t in first] if header else None
    body = rows[1:] if header else rows
    if names is not None and check_header is not None:
        check_header(names)
    if not body:
        raise FileFormatError(f"the {what} file has {f'the header {names} but ' if names else ''}no data rows",
                              source=p)
    if len(body) < min_rows:
        raise FileFormatError(f"the {what} file has {len(body)} data row(s); at least {min_rows} are needed",
                              source=p)
    width = len(names) if names else len(_cells(body[0][1], sep))
    for line_no, ln in body:
        n = len(_cells(ln, sep))
        if n != width:
            raise FileFormatError(f"line {line_no} has {n} cells but the {'header' if names else 'first row'} has "
                                  f"{width}; a {what} must be a rectangular table", source=p)
    joiner = sep or " "
    text = "\n".join(joiner.join(c.strip() for c in _cells(ln, sep)) for _, ln in body)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep or " ", header=None, dtype=str, keep_default_na=False,
                            quoting=3)  # csv.QUOTE_NONE: cells are numbers, a quote is an error below
    except (ValueError, pd.errors.ParserError) as exc:
        raise FileFormatError(f"not a readable {what} ({str(exc).splitlines()[0][:200]})", source=p) from None
    values = np.empty(frame.shape, dtype=float)
    for j in range(frame.shape[1]):
        cells = frame.iloc[:, j].str.strip()
        numbers = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(numbers) & ~cells.str.lower().isin(["nan", "+nan", "-nan"]).to_numpy()
        if bad.any():
            k = int(np.argmax(bad))
            col = names[j] if names else f"{j + 1}"
            raise FileFormatError(f"line {body[k][0]}, column {col!r}: {cells.iloc[k]!r} is not a number",
                                  source=p)
        values[:, j] = numbers
    if finite and not np.all(np.isfinite(values)):
        k, j = (int(v[0]) for v in np.nonzero(~np.isfinite(values)))
        col = names[j] if names else f"{j + 1}"
        raise FileFormatError(f"line {body[k][0]}, column {col!r}: {frame.iloc[k, j].strip()!r} is NaN or infinity; "
                              "every cell must be a finite number", source=p)
    return NumericTable(p, names, values, sep, np.array([i for i, _ in body]))


def _cells(line: str, sep: str | None) -> list[str]:
    """Cells of one line; a trailing tab (as exports write) does not make an empty last cell."""
    if sep is None:
        return line.split()
    cells = line.split(sep)
    if sep == "\t":
        while cells and not cells[-1].strip():
            cells.pop()
    return cells

