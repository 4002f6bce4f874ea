r"""Exact type-B solutions for one fast boundary normal to the surface (Whipple, Suzuoka).

Geometry (Kaur, Mishin & Lojkowski, *Fundamentals of Grain and Interphase Boundary
Diffusion*, ch. 3): a slab of width delta and diffusivity D' = Delta D in a bulk of
diffusivity D, normal to the surface y = 0. In reduced variables
``eta = y / sqrt(D t)``, ``xi = (x - delta/2) / sqrt(D t)`` and
``beta = (Delta - 1) delta / (2 sqrt(D t))`` Whipple's constant-source solution
(C = 1 on the surface) is ``C = erfc(eta/2) + C2`` with

    C2 = eta / (2 sqrt(pi)) int_1^Delta s^(-3/2) exp(-eta^2/(4 s))
         erfc( A(s) (xi + (s - 1)/beta) ) ds,   A(s) = sqrt((Delta-1)/(Delta-s)) / 2.

Sectioning and laterally averaged images see the boundary excess integrated across
the boundary. Integrating ``erfc`` over xi from 0 to infinity gives ``ierfc/A``
(``ierfc(z) = exp(-z^2)/sqrt(pi) - z erfc(z)``), so the excess per side is the single
integral :func:`whipple_excess` -- one quadrature per depth.

The instantaneous (thin-film) source with a reflecting surface is ``-d/dy`` of the
constant-source solution: the equations are invariant along y, ``-dC/dy`` of a solution
is a solution, its surface flux vanishes (C = 1 on the whole surface makes
``d2C/dy2 = 0`` there) and it starts as the surface film. This is Suzuoka's problem
for a vanishing film thickness; :func:`suzuoka_excess` evaluates it.

Everything here is dimensionless; multiply lateral integrals by ``sqrt(D t)``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import integrate, interpolate, special

from tracerdiff.errors import InputError

_SQRT_PI = math.sqrt(math.pi)
#: Beyond (s - 1) = _CUT * beta the ierfc factor is below exp(-900): the integrand is zero.
_CUT = 60.0


def _ierfc(z: float) -> float:
    return math.exp(-z * z) / _SQRT_PI - z * math.erfc(z)


def _check(beta: float, delta_ratio: float) -> None:
    if not (math.isfinite(beta) and beta > 0):
        raise InputError(f"beta must be a positive number, got {beta!r}", source="beta")
    if not (delta_ratio > 1):  # also refuses NaN; inf is the large-Delta limit
        raise InputError(f"Delta = D_gb/D must exceed 1, got {delta_ratio!r}", source="delta_ratio")


def _kernel(beta: float, delta_ratio: float):
    """Lateral integral of the erfc factor, ``int_0^inf erfc(A (xi + (s-1)/beta)) dxi``."""
    if math.isinf(delta_ratio):
        return lambda s: 2.0 * _ierfc(0.5 * (s - 1.0) / beta)

    def k(s):
        if s >= delta_ratio:
            return 0.0
        a = 0.5 * math.sqrt((delta_ratio - 1.0) / (delta_ratio - s))
        return _ierfc(a * (s - 1.0) / beta) / a
    return k


def _sigma_integral(weight, eta: float, beta: float, delta_ratio: float, epsrel: float) -> float:
    kern = _kernel(beta, delta_ratio)
    top = min(delta_ratio, 1.0 + _CUT * beta)
    # Break where the two factors change scale: the kernel at 1 + beta, the Gaussian near eta^2/6.
    marks = sorted({1.0 + f * beta for f in (0.3, 1.0, 3.0, 10.0)} | {eta * eta / 6.0, eta * eta / 2.0})
    edges = [1.0] + [m for m in marks if 1.0 < m < top] + [top]
    total = 0.0
    with warnings.catch_warnings():
        # quad flags round-off once it is at machine precision (near s = Delta, where the kernel
        # vanishes steeply); the test helper checks the result independently to 1e-6.
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        for lo, hi in zip(edges[:-1], edges[1:]):
            part, _ = integrate.quad(lambda s: weight(s) * kern(s), lo, hi, epsabs=0.0, epsrel=epsrel, limit=200)
            total += part
    return total


def whipple_excess(eta, beta: float, *, delta_ratio: float = math.inf, epsrel: float = 1e-10) -> np.ndarray:
    """Boundary excess of Whipple's solution integrated across one side of the boundary.

    ``int_0^inf C2(xi, eta) dxi``: multiply by ``2 sqrt(D t) / L`` for the average over a
    period L holding one boundary (two sides).

    Parameters
    ----------
    eta : array_like
        Reduced depths ``y / sqrt(D t)`` (>= 0).
    beta : float
        ``(Delta - 1) delta / (2 sqrt(D t))``.
    delta_ratio : float
        ``Delta = D'/D``; infinite (default) is the thin-channel limit at fixed beta.
    epsrel : float
        Relative tolerance of each quadrature.
    """
    _check(beta, delta_ratio)
    eta = np.atleast_1d(np.asarray(eta, float))
    out = np.empty_like(eta)
    for i, e in enumerate(eta):
        if e == 0.0:  # C2 vanishes on the surface (C = 1 there)
            out[i] = 0.0
            continue
        w = (lambda s, e=e: s ** -1.5 * math.exp(-e * e / (4.0 * s)))
        out[i] = e / (2.0 * _SQRT_PI) * _sigma_integral(w, e, beta, delta_ratio, epsrel)
    return out


def suzuoka_excess(eta, beta: float, *, delta_ratio: float = math.inf, epsrel: float = 1e-10) -> np.ndarray:
    """Instantaneous-source counterpart of :func:`whipple_excess` (``-d/d eta`` of it).

    Per unit film content M (the bulk part is ``exp(-eta^2/4) / sqrt(pi)`` in units of
    ``M / sqrt(D t)``).
    """
    _check(beta, delta_ratio)
    eta = np.atleast_1d(np.asarray(eta, float))
    out = np.empty_like(eta)
    for i, e in enumerate(eta):
        w = (lambda s, e=e: s ** -1.5 * math.exp(-e * e / (4.0 * s)) * (1.0 - e * e / (2.0 * s)))
        out[i] = -1.0 / (2.0 * _SQRT_PI) * _sigma_integral(w, e, beta, delta_ratio, epsrel)
    return out


def whipple_mean(eta, beta: float, *, period: float, delta_ratio: float = math.inf) -> np.ndarray:
    """Average of Whipple's C over a period ``period`` (in units of sqrt(D t)) holding one boundary."""
    if not (math.isfinite(period) and period > 0):
        raise InputError(f"period must be positive (units of sqrt(D t)), got {period!r}", source="period")
    eta = np.atleast_1d(np.asarray(eta, float))
    return special.erfc(eta / 2.0) + 2.0 / period * whipple_excess(eta, beta, delta_ratio=delta_ratio)


def suzuoka_mean(eta, beta: float, *, period: float, delta_ratio: float = math.inf) -> np.ndarray:
    """Average of the thin-film solution over a period (per unit film content, units 1/sqrt(D t))."""
    if not (math.isfinite(period) and period > 0):
        raise InputError(f"period must be positive (units of sqrt(D t)), got {period!r}", source="period")
    eta = np.atleast_1d(np.asarray(eta, float))
    return np.exp(-eta * eta / 4.0) / _SQRT_PI + 2.0 / period * suzuoka_excess(eta, beta, delta_ratio=delta_ratio)


def leclaire_slope(eta_lo: float, eta_hi: float, beta: float, *, source: str = "constant",
                   n: int = 9, eta=None, weights=None) -> float:
    """Least-squares slope of ``ln(excess)`` against ``eta^(6/5)`` over [eta_lo, eta_hi] (exact solution).

    With ``eta`` (and optional ``weights``, 1/sigma of ln C̄) the slope is the one a weighted
    straight-line fit through those points would find: the exact ``ln(excess)`` is computed on
    ``n`` nodes uniform in ``eta^(6/5)`` and interpolated by a cubic spline (it is smooth there).
    """
    if not (0 < eta_lo < eta_hi):
        raise InputError(f"need 0 < eta_lo < eta_hi, got {eta_lo!r}, {eta_hi!r}", source="eta")
    z = np.linspace(eta_lo ** 1.2, eta_hi ** 1.2, n)
    f = whipple_excess if source == "constant" else suzuoka_excess
    values = f(z ** (1 / 1.2), beta)
    if np.any(values <= 0):
        raise InputError("the excess is not positive over this range", source="eta")
    if eta is None:
        return float(np.polyfit(z, np.log(values), 1)[0])
    zp = np.asarray(eta, float) ** 1.2
    spline = interpolate.CubicSpline(z, np.log(values))
    return float(np.polyfit(zp, spline(zp), 1, w=weights)[0])


def leclaire_constant(eta_lo: float, eta_hi: float, beta: float, *, source: str = "constant") -> float:
    """``2 beta m^(5/3)`` with m the exact slope: Le Claire's 1.322 (constant) or 1.308 (instantaneous)."""
    m = -leclaire_slope(eta_lo, eta_hi, beta, source=source)
    return 2.0 * beta * m ** (5.0 / 3.0)
