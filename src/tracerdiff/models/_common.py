"""Shared helpers for the analytic models: coercing inputs, checking signs, result dicts."""

from __future__ import annotations

import math

import numpy as np

from tracerdiff.errors import InputError
from tracerdiff.jsonio import dataclass_dict
from tracerdiff.quantity import Measured


def as_measured(x, dimension: str, *, name: str = "value") -> Measured:
    """Coerce a model input to a :class:`Measured` of ``dimension``.

    Parameters
    ----------
    x
        A :class:`Measured` (its dimension must match), text with a unit
        (``"2.6e-8 cm^2/s"``), a pint quantity, or a bare number, which is
        taken to be **in SI units** (m^2/s, m/s, m, K, ...), exact (stderr 0).
    dimension
        A key of :data:`tracerdiff.units.DIMENSIONS`.
    name
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
        from tracerdiff.units import DIMENSIONS
        m = Measured.parse(x, dimension, name=name, default_unit=DIMENSIONS[dimension][0] or None)
    if not math.isfinite(m.value):
        raise InputError(f"value {m.value!r} is not finite", source=name)
    if not (m.stderr >= 0 or math.isnan(m.stderr)):
        raise InputError(f"standard error {m.stderr!r} is negative", source=name)
    return m


def positive(x, dimension: str, *, name: str) -> Measured:
    """:func:`as_measured` plus a check that the value is > 0."""
    m = as_measured(x, dimension, name=name)
    if not m.value > 0:
        raise InputError(f"must be positive, got {m}", source=name)
    return m


def u(m: Measured):
    """``m`` as an ``uncertainties`` number, or a plain float when exact.

    (``Measured.to_ufloat`` makes ``ufloat(v, 0)``, on which ``uncertainties``
    warns; with ``filterwarnings=error`` that would be fatal.) A NaN (unknown)
    stderr is kept, so results depending on it get a NaN stderr too.
    """
    if m.stderr > 0 or math.isnan(m.stderr):
        from uncertainties import ufloat
        return ufloat(m.value, m.stderr)
    return float(m.value)


class ResultDict:
    """Mixin giving a result dataclass ``to_dict()`` (display-unit dicts, see :func:`result_dict`)."""

    def to_dict(self) -> dict:
        return result_dict(self)


def propagate(func, dimension: str, *, what: str) -> Measured:
    """``Measured.from_ufloat(func())``, refusing results outside the floating-point range.

    At extreme inputs (1e±300) the uncertainty propagation divides by an underflowed zero or
    overflows: that is an input error (magnitudes or units), not a ZeroDivisionError traceback.
    """
    try:
        out = Measured.from_ufloat(func(), dimension)
    except (ZeroDivisionError, OverflowError) as exc:
        out, exc_name = None, type(exc).__name__
    else:
        exc_name = "infinite or zero result"
    if out is None or not (math.isfinite(out.value) and out.value != 0):
        raise InputError(f"the inputs are outside the range of floating-point numbers ({exc_name}); check their "
                         "magnitudes and units", source=what)
    return out


def result_dict(obj) -> dict:
    """``to_dict`` for result dataclasses: Measured -> display-unit dicts, recursively."""
    return dataclass_dict(obj)
