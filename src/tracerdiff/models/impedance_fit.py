"""Impedance spectra -> bulk and grain-boundary conductivities (brick-layer model).

A polycrystalline ionic conductor between blocking-free electrodes is described
by two arcs in series: bulk (high frequency) and grain boundary (low
frequency), each a resistor in parallel with a constant-phase element,
``p(R1,CPE1)-p(R2,CPE2)`` in impedance.py's circuit syntax. The circuit is evaluated by
:func:`circuit_impedance` and fitted with :func:`scipy.optimize.least_squares` on
log-parameters, residuals weighted by |Z| so both arcs count although R_gb may be 100x R_b.

Brick-layer conversion (sample thickness L, electrode area A, grain size l,
boundary thickness delta):

* sigma_bulk = L / (R_b A).
* The *apparent* boundary conductivity sigma_gb,app = L / (R_gb A). With
  L/l boundaries in series, each of resistance delta/(sigma_gb,sp A), it equals
  (l/delta) sigma_gb,sp; it is what gives (l/delta) D_sigma,gb by Nernst-Einstein.
* The *specific* boundary conductivity needs delta/l. Assuming bulk and boundary
  have the same permittivity, the capacitances scale inversely with thickness,
  so delta/l = C_bulk/C_gb and sigma_gb,sp = sigma_gb,app C_bulk / C_gb
  (the usual brick-layer capacitance-ratio method). Effective capacitances of
  R||CPE come from C = (R Q)^(1/alpha) / R (Hsu & Mansfeld; exact for alpha = 1).

Standard errors: the fit covariance (Gauss-Newton, scaled by the residual
variance) of (ln R, ln Q, alpha), propagated to first order with correlations
(``uncertainties.correlated_values``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracerdiff.errors import FitError, InputError
from tracerdiff.models._common import result_dict
from tracerdiff.quantity import Measured
from tracerdiff.results import Result

CIRCUIT = "p(R1,CPE1)-p(R2,CPE2)"


@dataclass(frozen=True, repr=False)
class ImpedanceFit(Result):
    """Result of fitting one spectrum and converting it with the brick-layer model.

    Every value is a :class:`Measured` (SI): resistances in ohm, capacitances in F,
    conductivities in S/m.
    """

    r_bulk: Measured
    r_gb: Measured
    c_bulk: Measured
    c_gb: Measured
    alpha_bulk: float
    alpha_gb: float
    sigma_bulk: Measured
    sigma_gb_apparent: Measured
    sigma_gb_specific: Measured
    delta_over_l: Measured
    relative_rms_residual: float
    parameters: tuple[float, ...]

    def to_dict(self) -> dict:
        """JSON-safe dict; resistances and capacitances as {value, stderr, unit} in ohm and F."""
        out = result_dict(self)
        out["circuit"] = CIRCUIT
        return out

    def model_impedance(self, frequency_hz: np.ndarray) -> np.ndarray:
        """Impedance of the fitted circuit at ``frequency_hz``."""
        return circuit_impedance(frequency_hz, *self.parameters)

    def _headline(self) -> tuple[str, str]:
        return "sigma_bulk", str(self.sigma_bulk)

    def _plot(self, ax, *, frequency_hz=None, z=None) -> None:
        """Nyquist plot of the data (if given) and the fitted circuit."""
        f = np.logspace(-2, 8, 400) if frequency_hz is None else np.asarray(frequency_hz)
        zf = self.model_impedance(np.logspace(np.log10(f.min()), np.log10(f.max()), 400))
        if z is not None:
            ax.plot(np.real(z), -np.imag(z), "o", ms=3, label="data")
        ax.plot(zf.real, -zf.imag, "-", label="fit (R‖CPE)(R‖CPE)")
        ax.set_xlabel("Z' (Ω)")
        ax.set_ylabel("−Z'' (Ω)")
        ax.set_aspect("equal", adjustable="datalim")
        ax.legend(fontsize=7)


# Six circuit parameters (two R, Q, alpha); twice as many points leaves the fit determined by the data.
MIN_SPECTRUM_POINTS = 12
# An arc below 0.1 % of the total resistance is not resolvable next to the other (noise is ~0.5 %).
MIN_ARC_FRACTION = 1e-3


def circuit_impedance(frequency_hz, r1, q1, a1, r2, q2, a2) -> np.ndarray:
    """Z of (R1‖CPE1)(R2‖CPE2); CPE impedance 1/(Q (j omega)^alpha)."""
    w = 2 * np.pi * np.asarray(frequency_hz, dtype=float)
    z1 = r1 / (1 + r1 * q1 * (1j * w) ** a1)
    z2 = r2 / (1 + r2 * q2 * (1j * w) ** a2)
    return z1 + z2


def _initial_guess(f: np.ndarray, z: np.ndarray) -> list[float]:
    """Arc resistances and peak frequencies read off the spectrum."""
    order = np.argsort(f)[::-1]  # high -> low frequency
    f, z = f[order], z[order]
    r_total = float(np.max(z.real))
    mz = -z.imag
    # Split the spectrum where -Z'' has its deepest interior minimum between two maxima.
    split = None
    peaks = [i for i in range(1, len(mz) - 1) if mz[i] >= mz[i - 1] and mz[i] >= mz[i + 1]]
    if len(peaks) >= 2:
        a, b = peaks[0], peaks[-1]
        split = a + int(np.argmin(mz[a:b + 1]))
    if split is None:
        r1 = 0.1 * r_total
        split = int(np.searchsorted(z.real, r1))
    else:
        r1 = float(z.real[split])
    r2 = max(r_total - r1, 1e-3 * r_total)
    i1 = int(np.argmax(mz[: split + 1]))
    i2 = split + int(np.argmax(mz[split:]))
    c1 = 1.0 / (2 * np.pi * f[i1] * max(r1, 1e-12))
    c2 = 1.0 / (2 * np.pi * f[i2] * r2)
    return [max(r1, 1e-6 * r_total), c1, 0.95, r2, c2, 0.95]


def fit_impedance(frequency_hz, z, *, thickness: float, area: float, name: str = "spectrum") -> ImpedanceFit:
    """Fit ``p(R1,CPE1)-p(R2,CPE2)`` and convert with the brick-layer model.

    Parameters
    ----------
    frequency_hz, z : array_like
        Frequencies (Hz) and complex impedances (ohm, Z' - jZ'' convention as measured).
    thickness, area : float
        Sample thickness L (m) and electrode area A (m^2).
    name : str
        Used in error messages.

    Raises
    ------
    InputError
        Too few points, non-finite data, or non-positive geometry.
    FitError
        The fit fails or gives no usable arcs.
    """
    f = np.asarray(frequency_hz, dtype=float)
    z = np.asarray(z, dtype=complex)
    if f.shape != z.shape or f.ndim != 1 or f.size < MIN_SPECTRUM_POINTS:
        raise InputError(f"need matching 1D frequency and impedance arrays with >= {MIN_SPECTRUM_POINTS} points, "
                         f"got {f.shape}",
                         source=name)
    if not (np.all(np.isfinite(f)) and np.all(np.isfinite(z)) and np.all(f > 0)):
        raise InputError("frequencies must be positive and impedances finite", source=name)
    if not (thickness > 0 and area > 0):
        raise InputError("thickness and area must be positive", source=name)
    try:
        x, cov = _least_squares_fit(f, z, _initial_guess(f, z))
    except (ArithmeticError, ValueError) as exc:  # exp overflow / log of 0 on spectra without arcs
        raise FitError(f"equivalent-circuit fit failed ({exc}); does the spectrum show two arcs?") from None
    # Bulk is the arc with the smaller time constant (higher frequency): ln tau = (ln R + ln Q)/alpha.
    if (x[0] + x[1]) / x[2] > (x[3] + x[4]) / x[5]:
        perm = [3, 4, 5, 0, 1, 2]
        x, cov = x[perm], cov[np.ix_(perm, perm)]
    if not np.all(np.isfinite(x)):
        raise FitError("the fit returned non-finite parameters")
    r_small, r_total = math.exp(min(x[0], x[3])), math.exp(x[0]) + math.exp(x[3])
    if r_small < MIN_ARC_FRACTION * r_total:
        # One arc fitted twice: the other R collapses to ~0 and its brick-layer numbers mean nothing.
        raise FitError(f"only one arc is resolved (the other has R = {r_small:.3g} ohm, < "
                       f"{MIN_ARC_FRACTION:.1%} of the total {r_total:.3g} ohm); a bulk and a boundary arc are needed")
    p = np.array([math.exp(x[0]), math.exp(x[1]), x[2], math.exp(x[3]), math.exp(x[4]), x[5]])
    zfit = circuit_impedance(f, *p)
    rel_rms = float(np.sqrt(np.mean(np.abs((zfit - z) / np.abs(z)) ** 2)))
    return _brick_layer(x, cov, thickness=thickness, area=area, rel_rms=rel_rms)


def _least_squares_fit(f: np.ndarray, z: np.ndarray, guess: list[float]):
    """Fit the two-arc circuit in (ln R, ln Q, alpha) with |Z| weighting.

    The linear parameters span ~17 decades (Q ~ 1e-11 F s^(a-1), R ~ 1e6 ohm), so
    :func:`scipy.optimize.least_squares` is driven on log-parameters, which are O(1)-scaled.
    (impedance.py's ``CustomCircuit.fit`` was used before; its circuit is the same
    :func:`circuit_impedance`, and dropping it removes a dependency that pulls in altair.)
    """
    from scipy.optimize import least_squares

    def model(freq, *params):
        z = circuit_impedance(freq, *params)
        return np.hstack([z.real, z.imag])

    target = np.hstack([z.real, z.imag])
    weight = np.hstack([np.abs(z), np.abs(z)])

    def unpack(x):
        return [math.exp(x[0]), math.exp(x[1]), x[2], math.exp(x[3]), math.exp(x[4]), x[5]]

    def resid(x):
        return (np.asarray(model(f, *unpack(x))) - target) / weight

    x0 = np.array([math.log(guess[0]), math.log(guess[1]), guess[2], math.log(guess[3]), math.log(guess[4]),
                   guess[5]])
    lo = [-np.inf, -np.inf, 0.3, -np.inf, -np.inf, 0.3]
    hi = [np.inf, np.inf, 1.0, np.inf, np.inf, 1.0]
    x0 = np.clip(x0, np.array(lo) + 1e-9, np.array(hi) - 1e-9)
    try:
        res = least_squares(resid, x0, bounds=(lo, hi), method="trf", x_scale="jac", max_nfev=5000)
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise FitError(f"equivalent-circuit fit failed: {exc}") from None
    if not res.success:
        raise FitError(f"equivalent-circuit fit did not converge: {res.message}")
    dof = max(target.size - x0.size, 1)
    s2 = float(res.fun @ res.fun) / dof
    try:
        cov = np.linalg.inv(res.jac.T @ res.jac) * s2
    except np.linalg.LinAlgError:
        cov = np.full((x0.size, x0.size), np.nan)
    return res.x, cov


def _brick_layer(x, cov, *, thickness: float, area: float, rel_rms: float) -> ImpedanceFit:
    """Brick-layer conversion with first-order propagation of the full fit covariance."""
    from uncertainties import correlated_values
    from uncertainties import umath

    if np.all(np.isfinite(cov)):
        lr1, lq1, a1, lr2, lq2, a2 = correlated_values(list(x), cov)
    else:
        lr1, lq1, a1, lr2, lq2, a2 = (float(v) for v in x)
    exp = umath.exp if np.all(np.isfinite(cov)) else math.exp
    r1, q1, r2, q2 = exp(lr1), exp(lq1), exp(lr2), exp(lq2)
    p = [float(getattr(v, "nominal_value", v)) for v in (r1, q1, a1, r2, q2, a2)]
    c1 = (r1 * q1) ** (1 / a1) / r1
    c2 = (r2 * q2) ** (1 / a2) / r2
    sig_b = thickness / (r1 * area)
    sig_gb = thickness / (r2 * area)
    ratio = c1 / c2
    sig_sp = sig_gb * ratio

    def m(x, dim):
        return Measured.from_ufloat(x, dim)

    def pair(x, dim):
        return Measured(float(getattr(x, "nominal_value", x)), float(getattr(x, "std_dev", math.nan)), dim)

    return ImpedanceFit(r_bulk=pair(r1, "resistance"), r_gb=pair(r2, "resistance"), c_bulk=pair(c1, "capacitance"),
                        c_gb=pair(c2, "capacitance"),
                        alpha_bulk=p[2], alpha_gb=p[5], sigma_bulk=m(sig_b, "conductivity"),
                        sigma_gb_apparent=m(sig_gb, "conductivity"), sigma_gb_specific=m(sig_sp, "conductivity"),
                        delta_over_l=m(ratio, "dimensionless"), relative_rms_residual=rel_rms,
                        parameters=tuple(float(x) for x in p))
