"""Arrhenius analysis: D = D0 exp(-Ea / kB T), fitted as ln D = ln D0 - (Ea/kB)(1/T).

The model is linear in (ln D0, Ea), so the weighted least-squares solution is
closed-form (numpy ``lstsq`` on centred 1/T, which keeps exact data exact to
~1e-12); an iterative fitter (lmfit) would add nothing but tolerance.

Uncertainty
-----------
* With ``d_stderr``: weights are 1/sd(ln D)^2 with sd(ln D) = sd(D)/D, and the
  covariance is (X^T W X)^-1, i.e. the given errors are taken as absolute
  (``absolute_sigma=True``). ``reduced_chi2`` tells whether they are
  consistent with the scatter; pass ``absolute_sigma=False`` to scale the
  covariance by it instead (needs dof > 0).
* Without ``d_stderr``: errors come from the scatter, s^2 = RSS/(n - 2).
  With only two points (dof = 0) there is no scatter to judge: the values are
  exact interpolation, and the stderrs and covariance are **NaN** (unknown),
  never 0. ``stderr_source`` says which case applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import constants, stats

from tracerdiff.errors import FitError, InputError
from tracerdiff.models._common import result_dict
from tracerdiff.quantity import Measured
from tracerdiff.units import DIMENSIONS
from tracerdiff.results import Result

KB = constants.k  # J/K
EV = constants.e  # J per eV


def weighted_linear_fit(x: np.ndarray, y: np.ndarray, sigma: np.ndarray | None, *,
                        absolute_sigma: bool = True):
    """Least squares y = X beta with optional per-point sd; returns (beta, cov, chi2, dof).

    ``x`` is the (n, p) design matrix. Covariance is NaN when it is unknown
    (unweighted with dof = 0).
    """
    n, p = x.shape
    dof = n - p
    w = np.ones(n) if sigma is None else 1.0 / np.asarray(sigma, float)
    xw, yw = x * w[:, None], y * w
    beta, _, rank, _ = np.linalg.lstsq(xw, yw, rcond=None)
    if rank < p:
        raise FitError("the fit is degenerate (e.g. all temperatures equal): cannot separate the parameters")
    resid = yw - xw @ beta
    chi2 = float(resid @ resid)
    cov = np.linalg.inv(xw.T @ xw)
    if sigma is None or not absolute_sigma:
        cov = cov * (chi2 / dof) if dof > 0 else np.full((p, p), np.nan)
    return beta, cov, chi2, dof


def _arrays(temperature_k, d, d_stderr, *, name: str):
    t = np.atleast_1d(np.asarray(temperature_k, dtype=float))
    y = np.atleast_1d(np.asarray(d, dtype=float))
    if t.shape != y.shape or t.ndim != 1:
        raise InputError(f"temperature and D must be 1-D of equal length, got {t.shape} and {y.shape}",
                         source=name)
    if t.size < 2:
        raise FitError(f"{name}: an Arrhenius fit needs at least 2 temperatures, got {t.size}")
    if not (np.all(np.isfinite(t)) and np.all(t > 0)):
        raise InputError("temperatures must be finite and > 0 K", source=name)
    if not (np.all(np.isfinite(y)) and np.all(y > 0)):
        raise InputError("values must be finite and > 0 (ln D is fitted)", source=name)
    s = None
    if d_stderr is not None:
        s = np.atleast_1d(np.asarray(d_stderr, dtype=float))
        if s.shape != y.shape:
            raise InputError(f"stderr has shape {s.shape}, values {y.shape}", source=name)
        if not (np.all(np.isfinite(s)) and np.all(s > 0)):
            raise InputError("standard errors must be finite and > 0 for a weighted fit", source=name)
    return t, y, s


@dataclass(frozen=True, repr=False)
class ArrheniusFit(Result):
    """Result of :func:`fit_arrhenius`.

    Attributes
    ----------
    activation_energy
        Ea, Measured "energy" (J inside, eV in ``to_dict``).
    prefactor
        D0, Measured of ``dimension``; its stderr is D0 * sd(ln D0).
    covariance
        2x2 covariance of (ln D0, Ea [J]) as nested tuples (NaN if unknown).
    temperature_k, values, stderr
        The data fitted (SI); ``stderr`` is None for an unweighted fit.
    """

    activation_energy: Measured
    prefactor: Measured
    covariance: tuple = field(repr=False)
    temperature_k: tuple = field(repr=False)
    values: tuple = field(repr=False)
    stderr: tuple | None = field(repr=False)
    n_points: int
    dof: int
    chi2: float
    reduced_chi2: float
    stderr_source: str
    name: str = "D"
    dimension: str = "diffusivity"
    absolute_sigma: bool = True

    @property
    def ln_prefactor(self) -> float:
        """ln D0 with D0 in SI units (the fitted intercept)."""
        return math.log(self.prefactor.value)

    def _ln_predict(self, temperature_k):
        t = np.asarray(temperature_k, dtype=float)
        if not np.all(t > 0):
            raise InputError("temperatures must be > 0 K", source=self.name)
        jac = np.stack([np.ones_like(t), -1.0 / (KB * t)], axis=-1)
        beta = np.array([self.ln_prefactor, self.activation_energy.value])
        cov = np.array(self.covariance)
        ln_d = jac @ beta
        var = np.einsum("...i,ij,...j->...", jac, cov, jac)
        return ln_d, np.sqrt(var)

    def predict(self, temperature_k) -> Measured:
        """D at one temperature (K float, Measured or text like "-110 degC"), stderr D * sd(ln D)."""
        from tracerdiff.models._common import as_measured
        t = as_measured(temperature_k, "temperature", name="temperature").value
        ln_d, sd = self._ln_predict(t)
        d = float(np.exp(ln_d))
        return Measured(d, float(d * sd), self.dimension)

    def confidence_band(self, temperature_k, *, level: float = 0.95):
        """(center, lower, upper) arrays (SI) of the fitted curve at ``temperature_k``.

        The band is symmetric in ln D (z or, when errors come from the
        scatter, Student-t quantile) and exponentiated, so it stays positive.
        """
        if not 0 < level < 1:
            raise InputError(f"level must be in (0, 1), got {level}", source="level")
        ln_d, sd = self._ln_predict(np.atleast_1d(temperature_k))
        q = 0.5 + level / 2
        k = stats.norm.ppf(q) if (self.stderr is not None and self.absolute_sigma) or self.dof <= 0 \
            else stats.t.ppf(q, self.dof)
        return np.exp(ln_d), np.exp(ln_d - k * sd), np.exp(ln_d + k * sd)

    def to_dict(self) -> dict:
        out = result_dict(self)
        for key in ("temperature_k", "values", "stderr"):
            out.pop(key)
        cov = np.array(self.covariance) * np.array([[1, 1 / EV], [1 / EV, 1 / EV**2]])
        out["covariance"] = {"parameters": ["ln_prefactor", "activation_energy_eV"],
                             "ln_prefactor_unit": f"ln({DIMENSIONS[self.dimension][0]})",
                             "matrix": [[None if not math.isfinite(c) else float(c) for c in row] for row in cov]}
        return out

    def _headline(self) -> tuple[str, str]:
        return "activation_energy", str(self.activation_energy)

    def _rows(self):
        """One row per fitted point: temperature, value, stderr and the fitted curve there (display units)."""
        from tracerdiff.units import from_si
        conv, unit = from_si(1.0, self.dimension), DIMENSIONS[self.dimension][1].replace("**", "^")
        center = self.confidence_band(np.array(self.temperature_k))[0] if self.n_points else []
        errs = self.stderr if self.stderr is not None else [math.nan] * len(self.values)
        rows = [{"temperature_K": t, self.name: v * conv, f"{self.name}_stderr": e * conv, "fitted": c * conv}
                for t, v, e, c in zip(self.temperature_k, self.values, errs, center)]
        return rows, {"temperature_K": "K", self.name: unit, f"{self.name}_stderr": unit, "fitted": unit}

    def _plot(self, ax, *, label: str | None = None, band: bool = True):
        """Data (with error bars) and fit on ``ax`` against 1000/T, log D axis, display units."""
        from tracerdiff.units import from_si
        t = np.array(self.temperature_k)
        conv = from_si(1.0, self.dimension)
        err = None if self.stderr is None else np.array(self.stderr) * conv
        lines = ax.errorbar(1000 / t, np.array(self.values) * conv, yerr=err, fmt="o",
                            label=label or self.name)
        tt = np.linspace(t.min(), t.max(), 100)
        c, lo, hi = self.confidence_band(tt)
        colour = lines[0].get_color()
        ax.plot(1000 / tt, c * conv, color=colour,
                label=f"Ea = {self.activation_energy.to()[0]:.3g} eV")
        if band and np.all(np.isfinite(lo)):
            ax.fill_between(1000 / tt, lo * conv, hi * conv, color=colour, alpha=0.2)
        ax.set_yscale("log")
        ax.set_xlabel("1000/T (1/K)")
        ax.set_ylabel(f"{self.name} ({DIMENSIONS[self.dimension][1].replace('**', '^')})")
        return ax


def fit_arrhenius(temperature_k, d, d_stderr=None, *, name: str = "D", dimension: str = "diffusivity",
                  absolute_sigma: bool = True) -> ArrheniusFit:
    """Fit D = D0 exp(-Ea/kB T) by (weighted) least squares on ln D vs 1/T.

    Parameters
    ----------
    temperature_k : array_like
        Temperatures in kelvin (array-like, >= 2 distinct values).
    d : array_like
        Values in SI units of ``dimension`` (m^2/s for diffusivities), > 0.
    d_stderr : array_like, optional
        Optional standard errors of ``d`` (same units, > 0) for weighting.
    name : str
        Label of the series (e.g. "D*eff", "(l/delta) D*gb") for messages/plots.
    dimension : str
        Dimension of ``d`` and of the prefactor (default "diffusivity").
    absolute_sigma : bool
        Treat ``d_stderr`` as absolute (default) or rescale by reduced chi^2.

    Raises
    ------
    InputError
        Non-positive/non-finite values or temperatures, mismatched lengths.
    FitError
        Fewer than 2 points or all temperatures equal.
    """
    if dimension not in DIMENSIONS:
        raise InputError(f"unknown dimension {dimension!r}", source=name)
    t, y, s = _arrays(temperature_k, d, d_stderr, name=name)
    if np.ptp(t) == 0:
        raise FitError(f"{name}: all temperatures are equal ({t[0]} K); Ea is undetermined")
    inv_t = 1.0 / t
    # centre 1/T for conditioning, then map (a, b) at the centre back to (ln D0, Ea)
    weights = np.ones_like(t) if s is None else (y / s) ** 2
    x0 = float(np.sum(weights * inv_t) / np.sum(weights))
    # slope column in eV so both columns are O(1) (lstsq's rank test is relative)
    design = np.stack([np.ones_like(t), -(inv_t - x0) * (EV / KB)], axis=1)
    sigma_ln = None if s is None else s / y
    beta, cov_c, chi2, dof = weighted_linear_fit(design, np.log(y), sigma_ln, absolute_sigma=absolute_sigma)
    # ln D0 = a + Ea * x0 / kB, Ea[J] = eV * b
    jac = np.array([[1.0, EV * x0 / KB], [0.0, EV]])
    ln_d0, ea = jac @ beta
    cov = jac @ cov_c @ jac.T
    d0 = math.exp(ln_d0)
    ea_sd = math.sqrt(cov[1, 1]) if math.isfinite(cov[1, 1]) else math.nan
    d0_sd = d0 * math.sqrt(cov[0, 0]) if math.isfinite(cov[0, 0]) else math.nan
    if s is not None:
        source = "given stderr (absolute)" if absolute_sigma else "given stderr scaled by reduced chi2"
    else:
        source = "scatter (unweighted)" if dof > 0 else "unknown: unweighted with dof = 0"
    if s is not None and not absolute_sigma and dof <= 0:
        source = "unknown: scaled with dof = 0"
    red = chi2 / dof if dof > 0 else math.nan
    return ArrheniusFit(Measured(float(ea), ea_sd, "energy"), Measured(d0, d0_sd, dimension),
                        tuple(tuple(float(c) for c in row) for row in cov), tuple(t.tolist()),
                        tuple(y.tolist()), None if s is None else tuple(s.tolist()), int(t.size), int(dof),
                        chi2, red, source, name, dimension, absolute_sigma)
