"""Small CSV tables of series (temperature, D, sigma, ...) with units in the header.

Read with the one table reader (:func:`tracerdiff.io.tabular.read_numeric_table`, pandas).
Convention: each column header is ``<quantity>_<unit code>``, e.g.
``temperature_C``, ``temperature_K``, ``D_cm2_s``, ``D_m2_s``,
``D_stderr_cm2_s``, ``sigma_S_cm``, ``sigma_stderr_S_m``. Lines starting
with ``#`` and blank lines are ignored. Values come back in SI units.

Example::

    temperature_C,D_cm2_s,D_stderr_cm2_s
    22,3.0e-9,0.3e-9
    200,6.6e-6,0.5e-6
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tracerdiff.errors import InputError
from tracerdiff.units import to_si

#: quantity name -> dimension
QUANTITIES: dict[str, str] = {
    "temperature": "temperature",
    "D": "diffusivity",
    "D_stderr": "diffusivity",
    "sigma": "conductivity",
    "sigma_stderr": "conductivity",
}

#: header unit code -> pint unit
UNIT_CODES: dict[str, str] = {
    "C": "degC", "K": "K",
    "cm2_s": "cm**2/s", "m2_s": "m**2/s", "um2_s": "um**2/s",
    "cm_s": "cm/s", "m_s": "m/s",
    "S_cm": "S/cm", "S_m": "S/m",
    "um": "um", "nm": "nm", "m": "m", "cm": "cm",
    "s": "s", "h": "h",
}


def parse_header(name: str, *, quantities: dict[str, str] | None = None) -> tuple[str, str] | None:
    """``"D_stderr_cm2_s"`` -> ``("D_stderr", "cm**2/s")``; None if not a known quantity+unit."""
    quantities = QUANTITIES if quantities is None else quantities
    for q in sorted(quantities, key=len, reverse=True):
        if name.startswith(q + "_") and name[len(q) + 1:] in UNIT_CODES:
            return q, UNIT_CODES[name[len(q) + 1:]]
    return None


def _codes_for(dimension: str) -> list[str]:
    out = []
    for code, unit in UNIT_CODES.items():
        try:
            to_si(f"1 {unit}", dimension)
        except InputError:
            continue
        out.append(code)
    return out


def _examples(quantities: dict[str, str]) -> str:
    return "; ".join(f"{q}_{'|'.join(_codes_for(d))}" for q, d in quantities.items())


def read_series_csv(path: str | Path, *, required: tuple[str, ...] = ("temperature", "D"),
                    optional: tuple[str, ...] = ("D_stderr",),
                    quantities: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Read a CSV of numeric columns with units in the header, into SI arrays.

    Parameters
    ----------
    path
        The CSV file (opened read-only).
    required, optional
        Quantity names (keys of ``quantities``) that must / may be present.
        Any other column is an error.
    quantities
        Quantity name -> dimension (default :data:`QUANTITIES`).

    Returns
    -------
    dict
        Quantity name -> 1-D float array in SI units (temperatures in K).

    Raises
    ------
    FileFormatError
        Missing, unreadable or empty file; non-numeric cells; ragged rows.
    InputError
        Missing, duplicated or unknown columns (the message lists the file's columns).
    """
    from tracerdiff.io.tabular import read_numeric_table

    quantities = QUANTITIES if quantities is None else quantities
    path = Path(path)
    columns: dict[str, tuple[int, str]] = {}
    table = read_numeric_table(path, header=True, finite=True, what="CSV",
                               check_header=lambda names: columns.update(
                                   _columns(names, path, required, optional, quantities)))
    header = list(table.header)
    out = {}
    for q, (i, unit) in columns.items():
        arr = table.column(i)
        if unit == "degC":
            out[q] = arr + 273.15  # pint would need offset units per element; this is exact
        else:
            out[q] = arr * to_si(f"1 {unit}", quantities[q], name=header[i])
    return out


def _columns(header, path, required, optional, quantities) -> dict[str, tuple[int, str]]:
    """Quantity -> (column index, pint unit); InputError for missing, duplicate, unknown or wrong-unit columns."""
    columns: dict[str, tuple[int, str]] = {}
    unknown = []
    for i, h in enumerate(header):
        parsed = parse_header(h, quantities=quantities)
        allowed = set(required) | set(optional)
        if parsed is None or parsed[0] not in allowed:
            unknown.append(h)
            continue
        if parsed[0] in columns:
            raise InputError(f"quantity {parsed[0]!r} appears in two columns; the file has columns {header}",
                             source=path)
        columns[parsed[0]] = (i, parsed[1])
    wanted = {q: quantities[q] for q in (*required, *optional)}
    missing = [q for q in required if q not in columns]
    problems = ([f"missing column(s) {missing}"] if missing else []) + \
        ([f"unknown column(s) {unknown}"] if unknown else [])
    if problems:
        raise InputError(f"{'; '.join(problems)}; the file has columns {header}; "
                         f"expected {_examples(wanted)}", source=path)
    for q, (i, unit) in columns.items():
        if unit != "degC" and unit not in (UNIT_CODES[c] for c in _codes_for(quantities[q])):
            raise InputError(f"column {header[i]!r} has a unit ({unit}) that is not a "
                             f"{quantities[q].replace('_', ' ')}; expected {_examples({q: quantities[q]})}",
                             source=path)
    return columns
