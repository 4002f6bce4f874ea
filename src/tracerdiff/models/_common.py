"""Shared helpers for the analytic models: coercing inputs, checking signs, result dicts."""

from __future__ import annotations

import math

from tracerdiff.errors import InputError
from tracerdiff.jsonio import dataclass_dict
from tracerdiff.quantity import Measured, as_measured, positive  # noqa: F401 - re-exported for the models


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
