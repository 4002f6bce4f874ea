"""Haven ratio H_R = D*/D_sigma, pointwise or from Arrhenius prefactors at a shared Ea.

For the grain boundaries the paper compares the prefactors of (l/delta) D*gb
and (l/delta) D_sigma,gb, which share Ea = 0.43 eV: H_R = 0.048/0.20 = 0.24.
Prefactors of fits with *different* Ea are not comparable (their ratio would
depend on temperature), so by default both data sets are refitted jointly
with one common Ea and two prefactors; the ratio and its stderr come from that
fit's covariance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracerdiff.errors import InputError
from tracerdiff.models._common import positive, propagate, u
from tracerdiff.models.arrhenius import EV, KB, ArrheniusFit, weighted_linear_fit
from tracerdiff.quantity import Measured
from tracerdiff.results import Result


@dataclass(frozen=True, repr=False)
class HavenResult(Result):
    """H_R with how it was obtained.

    Attributes
    ----------
    haven_ratio
        D*/D_sigma (dimensionless).
    method
        "shared_activation_energy" (joint refit), "separate_fits" or "prefactors".
    activation_energy
        The common Ea of the joint refit (None otherwise).
    tracer_prefactor, sigma_prefactor
        The prefactors whose ratio is H_R.
    """

    haven_ratio: Measured
    method: str
    activation_energy: Measured | None
    tracer_prefactor: Measured
    sigma_prefactor: Measured


def haven_ratio(d_tracer, d_sigma) -> Measured:
    """Pointwise H_R = D*/D_sigma (both "diffusivity", > 0), first-order stderr."""
    dt = positive(d_tracer, "diffusivity", name="d_tracer")
    ds = positive(d_sigma, "diffusivity", name="d_sigma")
    return propagate(lambda: u(dt) / u(ds), "dimensionless", what="haven_ratio")


def _joint_fit(a: ArrheniusFit, b: ArrheniusFit) -> HavenResult:
    # ln D = ln D0_k - Ea/(kB T), with indicator columns for the two prefactors
    t = np.concatenate([a.temperature_k, b.temperature_k])
    y = np.concatenate([a.values, b.values])
    weighted = a.stderr is not None and b.stderr is not None
    sigma = np.concatenate([a.stderr, b.stderr]) / y if weighted else None
    na = len(a.temperature_k)
    ind = np.zeros((t.size, 2))
    ind[:na, 0] = 1
    ind[na:, 1] = 1
    design = np.column_stack([ind, -(1.0 / t) * (EV / KB)])  # slope in eV for conditioning
    beta, cov, _, dof = weighted_linear_fit(design, np.log(y), sigma,
                                            absolute_sigma=a.absolute_sigma and b.absolute_sigma)
    ln_ratio = beta[0] - beta[1]
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    sd = math.sqrt(var) if math.isfinite(var) else math.nan
    ratio = math.exp(ln_ratio)
    ea = Measured(float(beta[2] * EV), math.sqrt(cov[2, 2]) * EV if math.isfinite(cov[2, 2]) else math.nan,
                  "energy")
    pa = Measured(math.exp(beta[0]), math.exp(beta[0]) * math.sqrt(cov[0, 0]) if math.isfinite(cov[0, 0])
                  else math.nan, a.dimension)
    pb = Measured(math.exp(beta[1]), math.exp(beta[1]) * math.sqrt(cov[1, 1]) if math.isfinite(cov[1, 1])
                  else math.nan, b.dimension)
    return HavenResult(Measured(ratio, ratio * sd, "dimensionless"), "shared_activation_energy", ea, pa, pb)


def haven_ratio_from_prefactors(tracer_fit, sigma_fit, *, shared_activation_energy: bool = True) -> HavenResult:
    """H_R as the ratio of Arrhenius prefactors of D* and D_sigma.

    Parameters
    ----------
    tracer_fit, sigma_fit : ArrheniusFit, Measured or str
        :class:`ArrheniusFit` of D* and D_sigma, or their prefactors directly
        (Measured/text "diffusivity"; e.g. the paper's 0.048 and 0.20 cm^2/s).
    shared_activation_energy : bool
        With two fits: refit both data sets with one common Ea (default;
        unweighted unless both fits were weighted). If False, take each fit's
        own prefactor (meaningful only when their Ea agree) with independent
        first-order errors.

    Raises
    ------
    InputError
        Fits of different dimensions, or a fit mixed with a bare prefactor.
    """
    fits = isinstance(tracer_fit, ArrheniusFit), isinstance(sigma_fit, ArrheniusFit)
    if all(fits):
        if tracer_fit.dimension != sigma_fit.dimension:
            raise InputError(f"cannot compare a {tracer_fit.dimension} with a {sigma_fit.dimension}",
                             source="sigma_fit")
        if shared_activation_energy:
            return _joint_fit(tracer_fit, sigma_fit)
        pa, pb, method = tracer_fit.prefactor, sigma_fit.prefactor, "separate_fits"
    elif any(fits):
        raise InputError("give two Arrhenius fits or two prefactors, not one of each", source="sigma_fit")
    else:
        pa = positive(tracer_fit, "diffusivity", name="tracer_prefactor")
        pb = positive(sigma_fit, "diffusivity", name="sigma_prefactor")
        method = "prefactors"
    ratio = propagate(lambda: u(pa) / u(pb), "dimensionless", what="haven_ratio")
    if math.isnan(pa.stderr) or math.isnan(pb.stderr):
        ratio = Measured(ratio.value, math.nan, "dimensionless")
    return HavenResult(ratio, method, None, pa, pb)
