"""Parsing quantities with units at the package's edges.

Internally tracerdiff uses SI base units (see :mod:`tracerdiff`). These helpers
turn user text (``"2.6e-8 cm^2/s"``, ``"1um"``, ``"-110 degC"``, ``"59h"``,
``"2w"``) or numbers with a stated unit into SI floats, and SI floats back into
display units.
"""

from __future__ import annotations

import math
import re
import tokenize
from functools import lru_cache

import pint

from tracerdiff.errors import InputError

ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
ureg.define("week_short = week = w")  # "2w" in CLI histories
Q_ = ureg.Quantity

#: Dimension name -> (SI unit, display unit). The display unit is what users of
#: the field read and write (the paper's units).
DIMENSIONS: dict[str, tuple[str, str]] = {
    "diffusivity": ("m**2/s", "cm**2/s"),
    "conductance": ("m/s", "cm/s"),  # D*gb/delta, surface exchange k*
    "gb_transport": ("m**3/s", "cm**3/s"),  # P = s delta D_gb, the type-B triple product
    "length": ("m", "um"),
    "gradient": ("1/m", "1/cm"),
    "time": ("s", "h"),
    "temperature": ("K", "K"),
    "energy": ("J", "eV"),
    "conductivity": ("S/m", "S/cm"),
    "number_density": ("1/m**3", "1/cm**3"),
    "charge": ("C", "C"),
    "resistance": ("ohm", "ohm"),  # impedance arcs
    "capacitance": ("F", "F"),
    "dimensionless": ("", ""),
}

#: Plausible ranges of physical inputs (SI, inclusive): kind -> (low, high, what, display dimension).
#: Outside them a value is a typo or a unit slip (a 1e300 um grain size passed validation and then
#: overflowed three analyses). Only magnitudes > 0 are checked here (zero and negative values get
#: the callers' own "must be positive" messages); for "gradient" the absolute value is checked.
#: Used by the study schema and, through :data:`FLAG_KINDS`, by every CLI flag parsed with :func:`to_si`.
PLAUSIBLE: dict[str, tuple[float, float, str, str]] = {
    "pixel_size": (1e-9, 1e-3, "pixel size", "length"),
    "grain_size": (1e-8, 1e-2, "grain size", "length"),
    "grain_size_sd": (1e-9, 1e-2, "grain-size spread", "length"),
    "gb_thickness": (1e-11, 1e-6, "grain-boundary thickness", "length"),
    "sample_thickness": (1e-8, 1.0, "sample thickness", "length"),
    "sample_length": (1e-9, 1.0, "sample length", "length"),
    "line_width": (1e-10, 1e-2, "line width", "length"),
    "psf": (1e-11, 1e-3, "beam width", "length"),
    "duration": (1e-3, 1e10, "duration (1 ms to ~300 years)", "time"),
    "temperature": (1e-3, 3000.0, "temperature", "temperature"),
    "diffusivity": (1e-40, 1e-2, "diffusivity", "diffusivity"),
    "conductance": (1e-40, 1e2, "boundary conductance / exchange coefficient", "conductance"),
    "conductivity": (1e-30, 1e8, "conductivity", "conductivity"),
    "number_density": (1e18, 1e31, "number density", "number_density"),
    "gradient": (0.0, 1e12, "gradient", "gradient"),
}

#: CLI flag -> kind of :data:`PLAUSIBLE` (the flags are parsed with ``to_si(..., name=flag)``).
FLAG_KINDS = {"--pixel-size": "pixel_size", "--grain-size": "grain_size", "--grain-size-sd": "grain_size_sd",
              "--thickness": "gb_thickness", "--d-bulk": "diffusivity", "--d-sigma": "diffusivity",
              "--dgb-over-delta": "conductance", "--time": "duration", "--exchange-time": "duration",
              "--then": "duration", "--sigma": "conductivity", "--carrier-density": "number_density",
              "--gradient": "gradient", "--psf": "psf", "--psf-sigma": "psf", "--width": "line_width",
              "--sample-length": "sample_length", "--temperature": "temperature", "--at": "temperature"}


def check_plausible(value: float, kind: str, *, text=None, name: str = "value") -> float:
    """Refuse a value outside the plausible range of ``kind`` (see :data:`PLAUSIBLE`); return it.

    Raises
    ------
    InputError
        Naming the value as typed, the range in display units, and ``name``.
    """
    lo, hi, what, dimension = PLAUSIBLE[kind]
    size = abs(value) if kind == "gradient" else value
    if size > 0 and not lo <= size <= hi:
        unit = display_unit(dimension)
        shown = value if text is None else text
        raise InputError(f"{shown!r} is outside the plausible range of a {what}, {from_si(lo, dimension):.3g} to "
                         f"{from_si(hi, dimension):.3g} {unit}; check the value and its unit", source=name or None)
    return value


_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


@lru_cache(maxsize=None)
def _si_unit(dimension: str) -> pint.Unit:
    try:
        si, _ = DIMENSIONS[dimension]
    except KeyError:
        raise InputError(f"unknown dimension {dimension!r}; known: {sorted(DIMENSIONS)}") from None
    return ureg.Unit(si) if si else ureg.dimensionless


def _parse(text: str, *, name: str) -> pint.Quantity:
    match = _NUMBER_UNIT.match(str(text))
    if not match:
        raise InputError(f"cannot read {text!r} as a number with a unit (e.g. '2.6e-8 cm^2/s')", source=name)
    number, unit = match.groups()
    unit = unit.replace("^", "**").replace("µ", "u").replace("μ", "u")
    if unit.startswith("/"):  # "1.1/cm" means 1.1 per cm
        unit = "1" + unit
    try:
        return Q_(float(number), unit) if unit else Q_(float(number))
    # pint parses units with Python's tokenizer and evaluator: malformed text such as "cm)" or
    # "#*" surfaces as TokenError, AssertionError or ZeroDivisionError rather than a pint error
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError,
            TypeError, ValueError, SyntaxError, tokenize.TokenError, AssertionError, ArithmeticError) as exc:
        raise InputError(f"unknown unit {unit!r} in {text!r} ({exc.__class__.__name__})", source=name) from None


def to_si(value: str | float | pint.Quantity, dimension: str, *, default_unit: str | None = None,
          name: str = "value", plausible: str | None = None) -> float:
    """Convert a user value to an SI float of the given dimension.

    Parameters
    ----------
    value : str, float or pint.Quantity
        Text such as ``"2.6e-8 cm^2/s"``, a pint quantity, or a bare number.
    dimension : str
        A key of :data:`DIMENSIONS` (``"diffusivity"``, ``"length"``, ...).
    default_unit : str, optional
        Unit assumed for bare numbers. Without it, bare numbers are refused
        unless the dimension is ``"dimensionless"``.
    name : str
        What the value is (a CLI flag, a study-file key), used in error messages.
    plausible : str, optional
        A kind of :data:`PLAUSIBLE` to check the value against; default: the kind of the CLI flag
        ``name`` (:data:`FLAG_KINDS`), if any.

    Raises
    ------
    InputError
        Unparseable text, unknown unit, wrong dimension, a non-finite or implausible value.
    """
    if isinstance(value, pint.Quantity):
        q = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if default_unit is None and dimension != "dimensionless":
            raise InputError(f"{value!r} has no unit; give one, e.g. '{value} {display_unit(dimension)}'",
                             source=name)
        q = Q_(float(value), default_unit or "")
    else:
        text = str(value)
        match = _NUMBER_UNIT.match(text)
        if match and match.group(2) == "" and default_unit is not None:
            text = f"{match.group(1)} {default_unit}"
        elif match and match.group(2) == "" and dimension != "dimensionless":
            raise InputError(f"{value!r} has no unit; give one, e.g. '{value} {display_unit(dimension)}'",
                             source=name)
        q = _parse(text, name=name)
    target = _si_unit(dimension)
    try:
        out = float(q.to(target).magnitude)
    except pint.errors.DimensionalityError:
        expected = (f"a {dimension.replace('_', ' ')} (expected units like {display_unit(dimension)})"
                    if dimension != "dimensionless" else "a pure number")
        raise InputError(f"{value!r} is not {expected}", source=name) from None
    if not math.isfinite(out):
        raise InputError(f"{value!r} is not a finite number", source=name)
    kind = plausible or FLAG_KINDS.get(name)
    if kind is not None:
        check_plausible(out, kind, text=value, name=name)
    return out


def from_si(value: float, dimension: str, unit: str | None = None) -> float:
    """Convert an SI float to ``unit`` (default: the dimension's display unit)."""
    si, display = DIMENSIONS[dimension]
    target = display if unit is None else unit
    if si == target:
        return float(value)
    return float(Q_(value, si or "").to(target or "").magnitude)


def display_unit(dimension: str) -> str:
    """The display unit string of a dimension, in compact form (``cm^2/s``)."""
    return pretty_unit(DIMENSIONS[dimension][1])


def pretty_unit(unit: str) -> str:
    """``cm**2/s`` -> ``cm^2/s`` for tables and JSON."""
    return unit.replace("**", "^")


def celsius_to_kelvin(t_c: float) -> float:
    """Convert degrees Celsius to kelvin."""
    return float(t_c) + 273.15


def parse_pixels(value, *, name: str, minimum: int = 0) -> int:
    """A size in whole pixels from ``1024``, ``"1024"`` or ``"1024px"``.

    Raises
    ------
    InputError
        Anything else (a fraction, a length unit, a negative or too small count), naming ``name``.
    """
    text = str(value).strip().lower()
    number = text[:-2].strip() if text.endswith("px") else text
    if isinstance(value, bool) or not number.isdigit() or int(number) < minimum:
        raise InputError(f"must be a whole number of pixels >= {minimum}, e.g. 1024 or '1024px'; got {value!r}",
                         source=name)
    return int(number)
