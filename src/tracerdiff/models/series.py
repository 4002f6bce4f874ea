"""The series (1D brick-layer) model of effective diffusion (eqns 5-6).

With grains of size l in series with boundaries of conductance D*gb/delta,

    (l + delta)/D*eff = l/D*bulk + delta/D*gb  ~  D*eff = 1/(1/D*bulk + 1/(l D*gb/delta))

(the approximate form for delta << l is used unless ``thickness`` is given).
Valid when D*bulk >> D*gb and sqrt(D*eff t) >> l; see
:func:`tracerdiff.models.brick_layer.series_regime`.

Uncertainty: ``method="linear"`` is first-order propagation (the paper's
choice; l = 16 +- 11 um gives D*eff = 2.2 +- 1.4e-9 cm^2/s). For large
relative errors, ``method="montecarlo"`` samples every input with a non-zero
stderr from a **log-normal** with the same mean and standard deviation (inputs
are positive, and a normal with sd/mean = 0.7 would give negative grain
sizes), and summarises the output distribution (mean, median, 16-84 %
interval, sd). The point value stays the model evaluated at the inputs'
values, so both methods report the same ``value``; ``stderr`` is the first-order
error or the sample sd respectively.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracerdiff.errors import FitError, InputError
from tracerdiff.models._common import positive, u
from tracerdiff.quantity import Measured
from tracerdiff.results import Result

_METHODS = ("linear", "montecarlo")


@dataclass(frozen=True, repr=False)
class MonteCarloSummary(Result):
    """Distribution of a Monte Carlo output (SI units of ``dimension``)."""

    mean: Measured
    median: Measured
    p16: Measured
    p84: Measured
    sd: Measured
    n_samples: int
    n_rejected: int
    seed: int | None


@dataclass(frozen=True, repr=False)
class SeriesResult(Result):
    """D*eff from the series model (``d_eff``) with the inputs used."""

    d_eff: Measured
    d_bulk: Measured
    dgb_over_delta: Measured
    grain_size: Measured
    thickness: Measured | None
    method: str
    distribution: MonteCarloSummary | None = None


@dataclass(frozen=True, repr=False)
class SeriesInverseResult(Result):
    """D*gb/delta inferred from a measured D*eff with the series model."""

    dgb_over_delta: Measured
    d_eff: Measured
    d_bulk: Measured
    grain_size: Measured
    thickness: Measured | None
    method: str
    distribution: MonteCarloSummary | None = None


def lognormal_samples(m: Measured, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` positive samples with mean ``m.value`` and sd ``m.stderr`` (constant if stderr is 0)."""
    if not m.stderr > 0:
        return np.full(n, m.value)
    s2 = np.log1p((m.stderr / m.value) ** 2)
    return rng.lognormal(np.log(m.value) - s2 / 2, np.sqrt(s2), n)


def _summary(samples: np.ndarray, dimension: str, *, n_rejected: int, seed) -> MonteCarloSummary:
    ok = samples[np.isfinite(samples)]
    if ok.size < 2:
        raise FitError("Monte Carlo: fewer than 2 valid samples; inputs too uncertain for this model")
    p16, med, p84 = np.percentile(ok, [15.865, 50.0, 84.135])
    mk = lambda v: Measured(float(v), 0.0, dimension)  # noqa: E731
    return MonteCarloSummary(mk(ok.mean()), mk(med), mk(p16), mk(p84), mk(ok.std(ddof=1)),
                             int(ok.size), n_rejected, seed)


#: Monte Carlo sample bounds: below 100 the percentiles are noise; above 10^7 the four
#: float64 sample arrays alone need > 300 MB.
MIN_SAMPLES, MAX_SAMPLES = 100, 10_000_000


def _check_method(method: str, n_samples: int, seed) -> None:
    if method not in _METHODS:
        raise InputError(f"unknown method {method!r}; use one of {_METHODS}", source="method")
    if method == "montecarlo":
        if not MIN_SAMPLES <= n_samples <= MAX_SAMPLES:
            raise InputError(f"must be between {MIN_SAMPLES} and {MAX_SAMPLES:g}, got {n_samples}",
                             source="n_samples")
        if seed is not None and not (isinstance(seed, (int, np.integer)) and seed >= 0):
            # numpy's default_rng accepts only non-negative integer seeds
            raise InputError(f"must be a non-negative integer or None, got {seed!r}", source="seed")


def _propagate(model, inputs, delta, value, dimension: str, *, method: str, n_samples: int, seed):
    """Standard error of ``model(*inputs, delta)`` at ``value``: first order, or log-normal Monte Carlo.

    Monte Carlo draws without a positive result (no solution of the model) are dropped and
    counted, so the summary says how much of the input distribution had no answer.
    """
    if method == "linear":
        lin = model(*(u(m) for m in inputs), None if delta is None else u(delta))
        return Measured(float(value), float(getattr(lin, "std_dev", 0.0)), dimension), None
    rng = np.random.default_rng(seed)
    draws = [lognormal_samples(m, n_samples, rng) for m in inputs]
    ds = None if delta is None else lognormal_samples(delta, n_samples, rng)
    samples = model(*draws, ds)
    bad = ~(samples > 0)
    dist = _summary(np.where(bad, np.nan, samples), dimension, n_rejected=int(bad.sum()), seed=seed)
    return Measured(float(value), dist.sd.value, dimension), dist


def _deff(db, g, length, delta):
    # works on floats, ufloats and arrays alike
    if delta is None:
        return 1.0 / (1.0 / db + 1.0 / (length * g))
    return (length + delta) / (length / db + 1.0 / g)


def _inverse(deff, db, length, delta):
    if delta is None:
        return 1.0 / (length * (1.0 / deff - 1.0 / db))
    return 1.0 / ((length + delta) / deff - length / db)


def series_effective_diffusivity(d_bulk, dgb_over_delta, grain_size, *, thickness=None,
                                 method: str = "linear", n_samples: int = 200_000,
                                 seed: int | None = 0) -> SeriesResult:
    """D*eff = 1/(1/D*bulk + 1/(l D*gb/delta)).

    Parameters
    ----------
    d_bulk, dgb_over_delta, grain_size : Measured, str or float
        D*bulk ("diffusivity"), D*gb/delta ("conductance") and l ("length"),
        as Measured, text with units, or SI floats. All must be positive.
    thickness : Measured, str or float, optional
        Boundary thickness delta; if given, the exact (l + delta) form is used.
    method : str
        ``"linear"`` (first-order propagation) or ``"montecarlo"``.
    n_samples, seed : int
        Monte Carlo sample count and RNG seed.
    """
    _check_method(method, n_samples, seed)
    db = positive(d_bulk, "diffusivity", name="d_bulk")
    g = positive(dgb_over_delta, "conductance", name="dgb_over_delta")
    length = positive(grain_size, "length", name="grain_size")
    delta = None if thickness is None else positive(thickness, "length", name="thickness")
    value = _deff(db.value, g.value, length.value, None if delta is None else delta.value)
    d_eff, dist = _propagate(_deff, (db, g, length), delta, value, "diffusivity", method=method,
                             n_samples=n_samples, seed=seed)
    return SeriesResult(d_eff, db, g, length, delta, method, dist)


def dgb_over_delta_from_series(d_eff, d_bulk, grain_size, *, thickness=None, method: str = "linear",
                               n_samples: int = 200_000, seed: int | None = 0) -> SeriesInverseResult:
    """Invert the series model: D*gb/delta = 1/(l (1/D*eff - 1/D*bulk)).

    Needs D*eff < D*bulk (slow boundaries). In Monte Carlo, samples with
    D*eff >= D*bulk have no solution; they are dropped and counted in
    ``distribution.n_rejected``.

    Raises
    ------
    InputError
        Non-positive inputs, or D*eff >= D*bulk.
    """
    _check_method(method, n_samples, seed)
    deff = positive(d_eff, "diffusivity", name="d_eff")
    db = positive(d_bulk, "diffusivity", name="d_bulk")
    length = positive(grain_size, "length", name="grain_size")
    delta = None if thickness is None else positive(thickness, "length", name="thickness")
    if not deff.value < db.value:
        raise InputError(f"D*eff ({deff}) must be smaller than D*bulk ({db}) for slow boundaries "
                         "(the series model has no solution otherwise)", source="d_eff")
    dv = None if delta is None else delta.value
    value = _inverse(deff.value, db.value, length.value, dv)
    if not value > 0:
        raise InputError("D*eff is too close to D*bulk for this thickness: no positive D*gb/delta",
                         source="d_eff")
    g, dist = _propagate(_inverse, (deff, db, length), delta, value, "conductance", method=method,
                         n_samples=n_samples, seed=seed)
    return SeriesInverseResult(g, deff, db, length, delta, method, dist)
