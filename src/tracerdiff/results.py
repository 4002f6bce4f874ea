"""One protocol for every analysis result (like lmfit's ``ModelResult``).

A result is a frozen dataclass (declared with ``repr=False`` so that :class:`Result`'s short
``__repr__`` is kept) that inherits :class:`Result` and so has

- ``to_dict()``: display-unit JSON (the CLI schema); default: every field through
  :func:`tracerdiff.jsonio.jsonable`;
- ``to_dataframe()``: a pandas table, display units in ``df.attrs["units"]`` (column -> unit);
- ``plot(ax=None)``: draws on ``ax`` (a new figure when None) and returns the axes;
- ``__repr__``: a few lines, and ``_repr_html_``: the same summary as a small table.

Subclasses override ``_plot(ax)`` (the drawing), ``_headline()`` (the value a reader looks for
first) and, for tabular results, ``_rows()``. pandas and matplotlib are imported lazily: the
numerics never need them.
"""

from __future__ import annotations

import dataclasses
import html
from functools import lru_cache

import numpy as np

from tracerdiff.jsonio import dataclass_dict
from tracerdiff.quantity import Measured

#: Field-name endings that say a plain float's unit (``x_um`` is in µm, ``exchange_time_s`` in s).
UNIT_SUFFIXES = {"_um": "µm", "_m": "m", "_deg": "deg", "_s": "s", "_k": "K", "_K": "K", "_px": "px",
                 "_hz": "Hz", "_ev": "eV"}

_MAX_ROWS = 16      # summary lines shown by repr and _repr_html_
_MAX_TEXT = 100     # characters per summary value


@lru_cache(maxsize=None)
def _display(dimension: str) -> tuple[float, str]:
    """(SI -> display factor, display unit) of a non-offset dimension (one pint call each)."""
    probe = Measured(1.0, 1.0, dimension).to_dict()
    return probe["value"], probe["unit"]


def display(m: Measured) -> tuple[float, float, str]:
    """(value, stderr, unit) of ``m`` in its display unit, fast (cached factor per dimension)."""
    if m.dimension == "temperature":  # K is both SI and display unit, but keep the offset rule
        v, s = m.to()
        return v, s, m.unit
    factor, unit = _display(m.dimension)
    return m.value * factor, abs(m.stderr * factor), unit


def unit_of(name: str) -> str:
    """Unit implied by a field name's ending (``""`` when none)."""
    for suffix, unit in UNIT_SUFFIXES.items():
        if name.endswith(suffix):
            return unit
    return ""


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def describe(value) -> str:
    """A one-line description of any field value (arrays by shape, long sequences by length)."""
    if isinstance(value, Measured):
        return str(value)
    if isinstance(value, Result):
        name, text = value._headline()
        return f"{type(value).__name__}({name}={text})" if name else type(value).__name__
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, str):
        return _short(repr(value))
    if hasattr(value, "dims") and hasattr(value, "shape"):  # xarray.DataArray
        return f"DataArray {dict(zip(value.dims, value.shape))}"
    if isinstance(value, np.ndarray):
        return f"array {'×'.join(map(str, value.shape))} {value.dtype}"
    if isinstance(value, (tuple, list)):
        if len(value) <= 4 and all(isinstance(v, (int, float, str, bool, np.number)) for v in value):
            return _short(repr(tuple(value)))
        return f"{len(value)} items"
    if isinstance(value, dict):
        if len(value) <= 4 and all(isinstance(v, (int, float, str, bool, Measured, type(None)))
                                   for v in value.values()):
            return _short("{" + ", ".join(f"{k}: {describe(v)}" for k, v in value.items()) + "}")
        return f"dict of {len(value)}"
    if value is None:
        return "None"
    return type(value).__name__


def _scalar_row(obj) -> tuple[dict, dict]:
    """(values, units) of the scalar fields of a dataclass: Measured in display units with a
    ``<name>_stderr`` column, plain numbers/strings/bools as they are."""
    values, units = {}, {}
    for f in dataclasses.fields(obj):
        if f.name.startswith("_"):
            continue
        v = getattr(obj, f.name)
        if isinstance(v, Measured):
            val, se, unit = display(v)
            values[f.name], values[f"{f.name}_stderr"] = val, se
            units[f.name] = units[f"{f.name}_stderr"] = unit
        elif isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)):
            values[f.name] = v.item() if isinstance(v, np.generic) else v
            units[f.name] = unit_of(f.name)
        elif isinstance(v, str):
            values[f.name] = v
            units[f.name] = ""
    return values, units


def frame(rows, units: dict, **attrs):
    """A pandas DataFrame from row dicts, with ``attrs["units"]`` and any other ``attrs``."""
    import pandas as pd

    df = pd.DataFrame(list(rows))
    df.attrs["units"] = {c: units.get(c, "") for c in df.columns}
    df.attrs.update(attrs)
    return df


def new_axes():
    """A fresh Axes on a new matplotlib Figure (no pyplot: no GUI backend, no figure manager)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(6.4, 4.8), layout="constrained").add_subplot()


class Result:
    """Mixin of the result protocol; see the module docstring."""

    __slots__ = ()

    # -- hooks ---------------------------------------------------------------------------------
    def _headline(self) -> tuple[str, str]:
        """(name, text) of the value a reader looks for first; default: the first Measured field."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Measured):
                return f.name, str(v)
        return "", ""

    def _summary(self) -> list[tuple[str, str]]:
        """(name, text) lines of the summary: the headline first, then the other public fields."""
        name, text = self._headline()
        rows = [(name, text)] if name else []
        for f in dataclasses.fields(self):
            if f.name.startswith("_") or f.name == name:
                continue
            rows.append((f.name, describe(getattr(self, f.name))))
        if len(rows) > _MAX_ROWS:
            rows = rows[: _MAX_ROWS - 1] + [("…", f"{len(rows) - _MAX_ROWS + 1} more fields")]
        return rows

    def _rows(self):
        """(rows, units) of :meth:`to_dataframe`; default one row of the scalar fields."""
        values, units = _scalar_row(self)
        return [values], units

    def _plot(self, ax) -> None:
        """Draw the result on ``ax``; default: the summary as a table (for scalar results)."""
        ax.axis("off")
        rows = self._summary()
        table = ax.table(cellText=[[v] for _, v in rows], rowLabels=[k for k, _ in rows],
                         loc="center", cellLoc="left")
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        ax.set_title(type(self).__name__)

    # -- the protocol --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-safe dict in display units (Measured as ``{"value", "stderr", "unit"}``)."""
        return dataclass_dict(self)

    def to_dataframe(self):
        """A :class:`pandas.DataFrame` (display units; ``df.attrs["units"]``: column -> unit)."""
        rows, units = self._rows()
        return frame(rows, units, result=type(self).__name__)

    def plot(self, ax=None, **kwargs):
        """Draw on ``ax`` (a new figure when None) and return the axes."""
        if ax is None:
            ax = new_axes()
        self._plot(ax, **kwargs)
        return ax

    def __repr__(self) -> str:
        lines = [f"<{type(self).__name__}>"]
        lines += [f"  {k}: {v}" for k, v in self._summary()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        body = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th><td style='text-align:left'>{esc(v)}</td></tr>"
                       for k, v in self._summary())
        return f"<table><caption>{esc(type(self).__name__)}</caption>{body}</table>"
