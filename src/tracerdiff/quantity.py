"""A value with its standard error and unit: the currency of every result.

:class:`Measured` stores SI values (see :mod:`tracerdiff`) plus the name of the
physical dimension, so it can present itself in display units
(``to_dict()`` -> ``{"value": v, "stderr": s, "unit": "cm^2/s"}``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

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
