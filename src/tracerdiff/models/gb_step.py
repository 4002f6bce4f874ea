"""Grain-boundary conductance D*gb/delta from the concentration step at a boundary (eqns 2-3).

Flux continuity across a thin boundary of thickness delta: the flux arriving
through the bulk next to the boundary, ``J = -D*bulk dC/dy``, crosses the
boundary driven by the jump ``dC_gb``: ``J = -(D*gb/delta) dC_gb``. Hence

    D*gb/delta = D*bulk * (dC/dy|bulk) / dC_gb.

Sign convention: ``gradient`` is dC/dy in the bulk next to the boundary and
``step`` is C(after) - C(before) across the boundary, both measured along the
same direction y. For a physical (positive) conductance they have the **same
sign** (tracer flowing towards +y: both negative). The paper quotes both as
magnitudes (1.1 /cm and 0.02), which is also accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tracerdiff.errors import InputError
from tracerdiff.models._common import as_measured, positive, u
from tracerdiff.quantity import Measured
from tracerdiff.results import Result


@dataclass(frozen=True, repr=False)
class GBStepResult(Result):
    """D*gb/delta (and D*gb if delta is known) from one boundary.

    Attributes
    ----------
    dgb_over_delta
        Boundary conductance D*gb/delta, dimension ``"conductance"`` (m/s).
    dgb
        D*gb = (D*gb/delta) * delta, ``"diffusivity"``; None without a thickness.
    d_bulk, gradient, step, thickness
        The inputs, as used.
    """

    dgb_over_delta: Measured
    dgb: Measured | None
    d_bulk: Measured
    gradient: Measured
    step: Measured
    thickness: Measured | None = None


def dgb_over_delta_from_step(d_bulk, gradient, step, *, thickness=None) -> GBStepResult:
    """D*gb/delta = D*bulk * (dC/dy|bulk) / dC_gb with first-order error propagation.

    Parameters
    ----------
    d_bulk : Measured, str or float
        Bulk tracer diffusivity (Measured "diffusivity", text with unit, or SI float).
    gradient : Measured, str or float
        dC/dy in the bulk next to the boundary (Measured "gradient", 1/m in SI).
    step : Measured or float
        Jump of the isotope fraction across the boundary (dimensionless), same
        sign as ``gradient``.
    thickness : Measured, str or float, optional
        Optional boundary thickness delta (Measured "length"); gives D*gb.

    Raises
    ------
    InputError
        Non-positive D*bulk or thickness, zero step or gradient, opposite signs.
    """
    d_bulk = positive(d_bulk, "diffusivity", name="d_bulk")
    gradient = as_measured(gradient, "gradient", name="gradient")
    step = as_measured(step, "dimensionless", name="step")
    if step.value == 0:
        raise InputError("the concentration step across the boundary is zero: D*gb/delta is unbounded",
                         source="step")
    if gradient.value == 0:
        raise InputError("the bulk gradient is zero: no flux reaches the boundary, D*gb/delta is undetermined",
                         source="gradient")
    if (gradient.value > 0) != (step.value > 0):
        raise InputError(f"gradient ({gradient}) and step ({step}) have opposite signs: tracer would flow "
                         "against the step; give both along the same direction (or both as magnitudes)",
                         source="step")
    g = u(d_bulk) * u(gradient) / u(step)
    dgb_over_delta = Measured.from_ufloat(g, "conductance")
    if not math.isfinite(dgb_over_delta.value):
        raise InputError(f"D*gb/delta overflows for step {step} and gradient {gradient}", source="step")
    dgb = None
    if thickness is not None:
        thickness = positive(thickness, "length", name="thickness")
        dgb = Measured.from_ufloat(g * u(thickness), "diffusivity")
    return GBStepResult(dgb_over_delta, dgb, d_bulk, gradient, step, thickness)
