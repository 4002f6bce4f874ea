"""A value with its standard error and unit: the currency of every result.

:class:`Measured` stores SI values (see :mod:`tracerdiff`) plus the name of the
physical dimension, so it can present itself in display units
(``to_dict()`` -> ``{"value": v, "stderr": s, "unit": "cm^2/s"}``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from uncertainties import ufloat
from uncertainties.core import AffineScalarFunc

from tracerdiff.errors import InputError
from tracerdiff.units import DIMENSIONS, from_si, pretty_unit, to_si


@dataclass(frozen=True)
class Measured:
    """A scalar value with standard error, in SI units of ``dimension``.

    Attributes
    ----------
    value
        Best estimate, SI units.
    stderr
        One standard error, SI units (0 for exact inputs, NaN if unknown).
    dimension
        A key of :data:`tracerdiff.units.DIMENSIONS`.
    """

    value: float
    stderr: float = 0.0
    dimension: str = "dimensionless"

    def __post_init__(self):
        if self.dimension not in DIMENSIONS:
            raise InputError(f"unknown dimension {self.dimension!r}")

    @classmethod
    def parse(cls, text, dimension: str, *, stderr=None, name: str = "value",
              default_unit: str | None = None) -> "Measured":
        """Parse ``"2.6e-8 cm^2/s"`` (and optional stderr text) into a Measured."""
        v = to_si(text, dimension, name=name, default_unit=default_unit)
        s = 0.0 if stderr is None else to_si(stderr, dimension, name=f"{name} stderr", default_unit=default_unit)
        if s < 0:
            raise InputError(f"standard error {stderr!r} is negative", source=name)
        return cls(v, s, dimension)

    @classmethod
    def from_ufloat(cls, u, dimension: str) -> "Measured":
        """Build from an ``uncertainties`` number (or plain float)."""
        if isinstance(u, AffineScalarFunc):
            return cls(float(u.nominal_value), float(u.std_dev), dimension)
        return cls(float(u), 0.0, dimension)

    def to_ufloat(self):
        """As an ``uncertainties`` number for first-order propagation (unknown stderr counts as 0)."""
        with warnings.catch_warnings():
            # uncertainties warns about std_dev == 0; exact inputs are legitimate here.
            warnings.simplefilter("ignore", UserWarning)
            return ufloat(self.value, 0.0 if math.isnan(self.stderr) else self.stderr)

    @property
    def unit(self) -> str:
        """Display unit (e.g. ``cm^2/s``)."""
        return pretty_unit(DIMENSIONS[self.dimension][1])

    @property
    def relative_stderr(self) -> float:
        return abs(self.stderr / self.value) if self.value else math.inf

    def to(self, unit: str | None = None) -> tuple[float, float]:
        """(value, stderr) in ``unit`` (default: the display unit)."""
        return from_si(self.value, self.dimension, unit), abs(from_si(self.stderr, self.dimension, unit)) \
            if self.dimension != "temperature" else self.stderr

    def to_dict(self, unit: str | None = None) -> dict:
        """``{"value": v, "stderr": s, "unit": u}`` in display units (JSON-safe; NaN -> None)."""
        v, s = self.to(unit)
        clean = lambda x: None if not math.isfinite(x) else x  # noqa: E731
        return {"value": clean(v), "stderr": clean(s),
                "unit": pretty_unit(unit if unit is not None else DIMENSIONS[self.dimension][1])}

    def __str__(self) -> str:
        v, s = self.to()
        return f"{v:.4g} ± {s:.2g} {self.unit}".strip()

    def __float__(self) -> float:
        return float(self.value)


def as_measured(x, dimension: str, *, name: str = "value") -> Measured:
    """Coerce an input quantity to a :class:`Measured` of ``dimension``.

    This is the one way in for a physical quantity of a public function: every function that
    takes one accepts a :class:`Measured`, unit text or an SI float, through this helper.

    Parameters
    ----------
    x : Measured, str, pint.Quantity or float
        A :class:`Measured` (its dimension must match), text with a unit
        (``"2.6e-8 cm^2/s"``), a pint quantity, or a bare number, which is
        taken to be **in SI units** (m^2/s, m/s, m, K, ...), exact (stderr 0).
    dimension : str
        A key of :data:`tracerdiff.units.DIMENSIONS`.
    name : str
        What the input is, used in error messages.

    Raises
    ------
    InputError
        Wrong dimension, unparseable text, non-finite value or negative stderr.
    """
    if isinstance(x, Measured):
        if x.dimension != dimension:
            raise InputError(f"expected a {dimension.replace('_', ' ')}, got a {x.dimension.replace('_', ' ')}",
                             source=name)
        m = x
    elif isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
        m = Measured(float(x), 0.0, dimension)
    else:
        m = Measured.parse(x, dimension, name=name, default_unit=DIMENSIONS[dimension][0] or None)
    if not math.isfinite(m.value):
        raise InputError(f"value {m.value!r} is not finite", source=name)
    if not (m.stderr >= 0 or math.isnan(m.stderr)):
        raise InputError(f"standard error {m.stderr!r} is negative", source=name)
    return m


def positive(x, dimension: str, *, name: str) -> Measured:
    """:func:`as_measured` plus a check that the value is > 0.

    Parameters
    ----------
    x : Measured, str, pint.Quantity or float
        As in :func:`as_measured`.
    dimension : str
        A key of :data:`tracerdiff.units.DIMENSIONS`.
    name : str
        What the input is, used in error messages.
    """
    m = as_measured(x, dimension, name=name)
    if not m.value > 0:
        raise InputError(f"must be positive, got {m}", source=name)
    return m


def positive_si(x, dimension: str, *, name: str) -> float:
    """The SI value of a positive quantity given as :class:`Measured`, unit text or SI float.

    Parameters
    ----------
    x : Measured, str, pint.Quantity or float
        As in :func:`as_measured`.
    dimension : str
        A key of :data:`tracerdiff.units.DIMENSIONS`.
    name : str
        What the input is, used in error messages.
    """
    return positive(x, dimension, name=name).value
