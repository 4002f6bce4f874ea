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
    mini = lmfit.Minimizer(residual, params, nan_policy="raise")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = mini.minimize(method="leastsq", **LEASTSQ_KWS)
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


def profile_chi2(result, name: str):
    """chi2 as a function of parameter ``name`` with all other free parameters refitted (profile likelihood)."""
    userfcn = result.minimizer.userfcn
    base = result.params

    def chi2_of(value: float) -> float:
        p = base.copy()
        p[name].set(value=value, vary=False)
        if not any(q.vary for q in p.values()):
            return float(np.sum(np.square(userfcn(p))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = lmfit.Minimizer(userfcn, p).minimize(method="leastsq", **LEASTSQ_KWS)
        return float(r.chisqr)

    return chi2_of


def confidence_interval(result, name: str, dimension: str, *, level: float = 0.95):
    """Profile-likelihood interval of one parameter, SI (see :func:`interval_1d`); None if unavailable."""
    return interval_1d(profile_chi2(result, name), result, name, dimension, level=level)


def interval_1d(chi2_of, result, name: str, dimension: str, *, level: float = 0.95):
    """Interval where the (profile) chi2 of parameter ``name`` stays below the F-test threshold.

    chi2(p) / chi2_min - 1 = F_inv(level; 1, nfree) / nfree (as lmfit.conf_interval), solved by
    bracketing outwards from the best value in steps of the standard error, then brentq.
    ``chi2_of(value)`` gives chi2 with the parameter held at ``value``.
    """
    p = result.params[name]
    if result.nfree <= 0 or not p.stderr or not math.isfinite(p.stderr):
        return None
    chi2_min = chi2_of(p.value)
    target = chi2_min * (1.0 + stats.f.ppf(level, 1, result.nfree) / result.nfree)
    ends = []
    for sign in (-1.0, 1.0):
        inner, outer = p.value, p.value + sign * p.stderr
        for _ in range(60):
            if (sign < 0 and outer <= 0) or chi2_of(outer) >= target:
                break
            inner, outer = outer, p.value + 2.0 * (outer - p.value)
        else:
            return None
        if sign < 0 and outer <= 0:
            ends.append(0.0 if chi2_of(0.0) < target else optimize.brentq(lambda v: chi2_of(v) - target, 0.0,
                                                                           inner, xtol=1e-10 * p.value))
        else:
            ends.append(optimize.brentq(lambda v: chi2_of(v) - target, inner, outer, xtol=1e-10 * p.value))
    return ends[0] * SI_FACTOR[dimension], ends[1] * SI_FACTOR[dimension]


def chi2_reduced(result) -> float:
    """Reduced chi-square of a fit; NaN when it has no degrees of freedom."""
    return float(result.redchi) if result.nfree > 0 else math.nan
