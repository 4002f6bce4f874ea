"""lmfit plumbing shared by the profile fits: scaled parameters, Measured results, confidence intervals.

Fits run in micrometres and seconds (D in um^2/s, k* in um/s) so every
parameter is of order one; results are converted back to SI Measured values.
"""

from __future__ import annotations

import math
import warnings

import lmfit
import numpy as np
from scipy import optimize, stats

from tracerdiff.errors import FitError
from tracerdiff.quantity import Measured

UM = 1e-6
#: SI factor of each fit-unit parameter kind.
SI_FACTOR = {"diffusivity": 1e-12, "conductance": 1e-6, "length": 1e-6, "dimensionless": 1.0}

#: Tight tolerances so noise-free data are recovered to ~1e-9 (the default 1.5e-8 is looser).
LEASTSQ_KWS = {"xtol": 1e-12, "ftol": 1e-12, "gtol": 1e-12}


def minimize(residual, params: lmfit.Parameters, *, what: str, source: str = "") -> lmfit.minimizer.MinimizerResult:
    """Levenberg-Marquardt fit; FitError when it fails or yields no covariance."""
    # The tolerances go to the Minimizer itself, so that lmfit.conf_interval's refits use them too.
    mini = lmfit.Minimizer(residual, params, nan_policy="raise", **LEASTSQ_KWS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = mini.minimize(method="leastsq")
    except ValueError as exc:  # lmfit: "NaN values detected in your input data or the output of ..."
        raise FitError(f"{what} fit failed: the model gave NaN or infinity at the "
                       "parameters tried (an exchange time or length far from the scale of the data overflows "
                       f"it; check the inputs and their units) [lmfit: {exc}]", source=source or None) from None
    except ArithmeticError as exc:  # e.g. k*/D with D driven to its bound 0
        raise FitError(f"{what} fit failed: the model is undefined at "
                       f"the parameters tried ({type(exc).__name__})", source=source or None) from None
    if not result.success:
        raise FitError(f"{what} fit did not converge ({result.message})", source=source or None)
    result.minimizer = mini
    return result


def measured(result, name: str, dimension: str) -> Measured:
    """Parameter ``name`` of a fit result as an SI Measured (stderr NaN if the covariance is unknown)."""
    p = result.params[name]
    factor = SI_FACTOR[dimension]
    if not p.vary:
        return Measured(p.value * factor, 0.0, dimension)
    err = p.stderr if p.stderr is not None and math.isfinite(p.stderr) else math.nan
    return Measured(p.value * factor, err * factor, dimension)


def determined(m: Measured, *, what: str, source: str = "") -> Measured:
    """``m`` if the fit determined it (a finite positive value with a finite stderr); FitError otherwise.

    A NaN standard error means the data do not constrain the parameter (flat or unchanged
    profiles): reporting a number then would be silent nonsense.
    """
    if not (math.isfinite(m.value) and m.value > 0 and math.isfinite(m.stderr)):
        raise FitError(f"{what} is undetermined: the profiles do not "
                       "constrain it (no exchange front, or no change between the profiles)", source=source or None)
    return m


def confidence_interval(result, name: str, dimension: str, *, level: float = 0.95):
    """Profile-likelihood interval of one parameter, SI; None if unavailable.

    The interval where chi2(p) / chi2_min - 1 <= F_inv(level; 1, nfree) / nfree, the other free
    parameters refitted at every p (the F-test of ``lmfit.conf_interval``, which computes it
    when the fit has two or more free parameters; its root finder stops at 5e-5 relative).
    With one free parameter lmfit declines, and the profile chi2 is chi2 itself: the two roots
    are then found directly (:func:`_one_parameter_interval`). A lower end at the parameter's
    bound (D >= 0) is reported as the bound; an end that cannot be found gives None.
    """
    p = result.params[name]
    if result.nfree <= 0 or not p.stderr or not math.isfinite(p.stderr):
        return None
    if sum(q.vary for q in result.params.values()) < 2:
        return _one_parameter_interval(result, name, dimension, level=level)
    with warnings.catch_warnings():
        # lmfit warns when an end lies beyond the bound or does not converge; handled below.
        warnings.simplefilter("ignore")
        try:
            ci = lmfit.conf_interval(result.minimizer, result, p_names=[name], sigmas=[level])
        except (lmfit.minimizer.MinimizerException, ValueError, ArithmeticError):
            return None
    lo, hi = float(ci[name][0][1]), float(ci[name][-1][1])
    if lo == -math.inf and math.isfinite(p.min):  # chi2 stays below the threshold down to the bound
        lo = p.min
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return lo * SI_FACTOR[dimension], hi * SI_FACTOR[dimension]


def _one_parameter_interval(result, name: str, dimension: str, *, level: float):
    """The F-test interval of a fit with one free parameter: roots of chi2(p) = threshold (brentq)."""
    userfcn, p = result.minimizer.userfcn, result.params[name]

    def excess(value: float) -> float:
        q = result.params.copy()
        q[name].set(value=value)
        return float(np.sum(np.square(userfcn(q)))) - target

    target = result.chisqr * (1.0 + stats.f.ppf(level, 1, result.nfree) / result.nfree)
    ends = []
    for sign in (-1.0, 1.0):
        inner, outer = p.value, p.value + sign * p.stderr
        for _ in range(60):  # step out, doubling, until chi2 exceeds the threshold
            if (sign < 0 and outer <= p.min) or excess(outer) >= 0:
                break
            inner, outer = outer, p.value + 2.0 * (outer - p.value)
        else:
            return None
        if sign < 0 and outer <= p.min:
            outer = p.min
            if excess(outer) < 0:
                ends.append(outer)
                continue
        ends.append(optimize.brentq(excess, min(inner, outer), max(inner, outer), xtol=1e-10 * abs(p.value)))
    return float(ends[0]) * SI_FACTOR[dimension], float(ends[1]) * SI_FACTOR[dimension]


def chi2_reduced(result) -> float:
    """Reduced chi-square of a fit; NaN when it has no degrees of freedom."""
    return float(result.redchi) if result.nfree > 0 else math.nan
