r"""Type-B (Whipple-Le Claire) analysis of fast grain-boundary diffusion.

A depth profile (sectioning, SIMS depth profile, or the laterally averaged C̄(y) of an
image) after a type-B anneal is a bulk erfc near the surface followed by a tail, where
``ln C̄`` is nearly linear in ``y^(6/5)``. Le Claire's relation gives the triple product

    P = s delta D_gb = K sqrt(D_bulk / t) (-d ln C̄ / d y^(6/5))^(-5/3),

``K = 1.322`` for a constant source, 1.308 for an instantaneous one.

``ln C̄`` is not exactly linear in ``y^(6/5)``: on Whipple's exact solution the constant
``2 beta m^(5/3)`` runs from 1.46 to 1.27 as the window moves from 1.5 to 6 boundary
lengths ``sqrt(beta D t)`` deep, and falls further for beta below ~10 (the regime of
Chung and Wuensch's correction). So the slope is also inverted exactly: beta is the
value whose exact excess (:mod:`tracerdiff.profiles.whipple`) has the measured slope over
the same window; ``P = 2 beta D sqrt(D t) + delta D``. This is the reported ``p``; the
textbook value is kept as ``p_leclaire``.

Steps: (1) fit ``ln C̄ = ln(c_s erfc(y / 2 sqrt(D t)) + exp(a - m y^(6/5)))`` to the whole
profile (D fixed when given); (2) the tail starts where the bulk term is below 1 % of C̄
and the curvature of ``ln C̄`` in ``y^(6/5)`` changes the slope by less than 20 % over the
window, and ends before C̄ drops to within three standard errors of zero; (3) weighted
straight line through ``ln(C̄ - bulk)`` against ``y^(6/5)`` over the tail; (4) exact inversion.
Standard errors: the slope's from the line fit (scaled by the reduced chi-square when it
exceeds 1), D's from the joint fit, propagated through the inversion by finite differences
(their correlation is neglected).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import lmfit
import numpy as np
from scipy import optimize, special

from tracerdiff.errors import FitError, InputError
from tracerdiff.models.harrison import HarrisonRegime, RegimeWarning, harrison_regime
from tracerdiff.profiles import _fitting as F
from tracerdiff.profiles.load import ProfileData, profile_data
from tracerdiff.profiles.whipple import leclaire_slope, suzuoka_excess, whipple_excess
from tracerdiff.quantity import Measured, positive_si
from tracerdiff.results import Result

LECLAIRE_CONSTANT = {"constant": 1.322, "instantaneous": 1.308}
#: Bulk share of C̄ below which a point may belong to the tail.
BULK_SHARE = 0.01
#: Largest relative change of the local slope over the tail window (curvature test).
MAX_SLOPE_CHANGE = 0.2


@dataclass(frozen=True)
class TypeBOptions:
    """Options of :func:`fit_leclaire` (SI units)."""

    source: str = "constant"
    segregation: float = 1.0
    thickness: float = 0.5e-9
    grain_size: float | None = None
    background: float = 0.0
    tail: tuple[float, float] | None = None
    min_tail_points: int = 6
    exact: bool = True

    def __post_init__(self):
        if self.source not in LECLAIRE_CONSTANT:
            raise InputError(f"source must be 'constant' or 'instantaneous', got {self.source!r}", source="source")
        for name in ("segregation", "thickness"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InputError(f"must be a positive number, got {v!r}", source=name)
        if self.grain_size is not None and not (math.isfinite(self.grain_size) and self.grain_size > 0):
            raise InputError(f"must be positive, got {self.grain_size!r}", source="grain_size")
        if self.min_tail_points < 4:
            raise InputError("a tail needs at least 4 points", source="min_tail_points")


@dataclass(frozen=True, repr=False)
class LeClaireResult(Result):
    """Result of a type-B analysis (SI inside; ``to_dict`` in cm^3/s and um).

    Attributes
    ----------
    p, sd_gb
        ``s delta D_gb`` from the exact inversion, and ``delta D_gb`` (= p / s).
    p_leclaire
        The textbook value with Le Claire's constant.
    slope
        ``d ln C̄ / d y^(6/5)`` over the tail, in m^(-6/5) (dimensionless Measured).
    d_bulk, c_s
        Bulk diffusivity (given or fitted) and surface value of the bulk term.
    tail
        (y_min, y_max) of the tail in m, and ``n_tail`` points in it.
    regime
        Harrison regime at the fitted P.
    """

    p: Measured
    sd_gb: Measured
    p_leclaire: Measured
    slope: Measured
    d_bulk: Measured
    d_bulk_fitted: bool
    c_s: Measured
    time: Measured
    tail: tuple[float, float]
    n_tail: int
    regime: HarrisonRegime
    options: TypeBOptions
    chi2_red: float
    source: str = ""
    data: ProfileData | None = field(default=None, repr=False, compare=False)

    @property
    def beta(self) -> float:
        return self.regime.beta

    @property
    def alpha(self) -> float:
        return self.regime.alpha

    def to_dict(self) -> dict:
        """The CLI's JSON: ``p``/``sd_gb`` in cm^3/s, beta, alpha, regime, tail in um."""
        clean = lambda x: x if math.isfinite(x) else None  # noqa: E731
        return {"p": self.p.to_dict(), "sd_gb": self.sd_gb.to_dict(), "beta": clean(self.beta),
                "alpha": clean(self.alpha), "regime": self.regime.regime,
                "tail": {"y_min_um": self.tail[0] * 1e6, "y_max_um": self.tail[1] * 1e6},
                "p_leclaire": self.p_leclaire.to_dict(), "d_bulk": self.d_bulk.to_dict(),
                "d_bulk_fitted": self.d_bulk_fitted, "n_tail": self.n_tail,
                "slope_per_um6_5": {"value": self.slope.value * 1e-6 ** 1.2,
                                    "stderr": clean(self.slope.stderr * 1e-6 ** 1.2)},
                "source_kind": self.options.source, "segregation": self.options.segregation,
                "chi2_red": clean(self.chi2_red), "harrison": self.regime.to_dict(), "source": self.source}

    def _headline(self) -> tuple[str, str]:
        return "p", str(self.p)

    def _summary(self) -> list[tuple[str, str]]:
        return [self._headline(), ("sd_gb", str(self.sd_gb)), ("regime", self.regime.regime),
                ("beta", f"{self.beta:.4g}"), ("d_bulk", str(self.d_bulk) + (" (fitted)" if self.d_bulk_fitted else "")),
                ("tail", f"{self.tail[0] * 1e6:.4g} to {self.tail[1] * 1e6:.4g} µm, {self.n_tail} points"),
                ("chi2_red", f"{self.chi2_red:.3g}"), ("source", self.source)]

    def _plot(self, ax):
        """ln C̄ against y^(6/5) with the tail and its line."""
        d = self.data
        c = d.c - self.options.background
        ok = c > 0
        z = (d.x * 1e6) ** 1.2
        ax.plot(z[ok], np.log(c[ok]), ".", ms=3, color="0.5", label="data")
        zt = np.linspace(*(np.asarray(self.tail) * 1e6) ** 1.2, 50)
        tail = (d.x >= self.tail[0]) & (d.x <= self.tail[1]) & ok
        b = np.polyfit(z[tail], np.log(c[tail]), 1)[1]
        ax.plot(zt, b + self.slope.value * 1e-6 ** 1.2 * zt, "-", label=f"tail: P = {self.p}")
        ax.set_xlabel("y^(6/5) (um^(6/5))")
        ax.set_ylabel("ln C̄")
        ax.legend()


def _joint_fit(y_um, c, sigma_ln, t, d_fixed_um2, source, kind):
    """ln C̄ = ln(c_s erfc + exp(a - m z)): bulk D (um^2/s) and the tail's start values."""
    z = y_um ** 1.2
    deep = np.arange(y_um.size) >= y_um.size // 2
    m0, a0 = np.polyfit(z[deep], np.log(c[deep]), 1)
    cs0 = max(c[0], 1e-6)
    if d_fixed_um2 is None:
        half = np.flatnonzero(c <= 0.5 * cs0)
        y_half = y_um[half[0]] if half.size else y_um[y_um.size // 4]
        d0 = max((y_half / (2 * 0.4769)) ** 2 / t, 1e-30)
    else:
        d0 = d_fixed_um2
    params = lmfit.Parameters()
    params.add("cs", value=cs0, min=0.0)
    params.add("d", value=d0, min=d0 * 1e-4, vary=d_fixed_um2 is None)
    params.add("a", value=a0)
    params.add("m", value=max(-m0, 1e-12), min=0.0)

    def resid(p):
        bulk = p["cs"].value * _bulk_shape(y_um / math.sqrt(p["d"].value * t), kind)
        model = bulk + np.exp(p["a"].value - p["m"].value * z)
        return (np.log(np.maximum(model, 1e-300)) - np.log(c)) / sigma_ln

    return F.minimize(resid, params, what="type-B joint (bulk + tail)", source=source)


def _bulk_shape(eta, source):
    """Bulk term per unit surface value (constant) or per film content M/sqrt(D t) (instantaneous)."""
    return special.erfc(eta / 2.0) if source == "constant" else np.exp(-eta * eta / 4.0)


def _exact_joint_fit(y_um, c, sigma_ln, t, d0, beta0, source, label):
    """D_bulk from the whole profile with the exact boundary excess (Whipple or Suzuoka shape).

    The simple ``exp(a - m z)`` tail misses the excess near the surface, where boundaries still
    feed the bulk: on Whipple's C̄ (beta = 100, period 20 sqrt(D t)) it biased D by +19 %.
    """
    excess = whipple_excess if source == "constant" else suzuoka_excess
    params = lmfit.Parameters()
    c0 = float(c[0])
    params.add("cs", value=max(c0, 1e-6), min=0.0)
    params.add("lnd", value=math.log(d0))
    params.add("lnb", value=math.log(beta0), min=math.log(0.05), max=math.log(1e7))
    root0 = math.sqrt(d0 * t)
    ref = excess(y_um[-1:] / root0, beta0)[0]
    params.add("lna", value=math.log(max(c[-1], 1e-300) / ref) if ref > 0 else 0.0)

    def resid(p):
        root = math.sqrt(math.exp(p["lnd"].value) * t)
        eta = y_um / root
        model = p["cs"].value * _bulk_shape(eta, source) + math.exp(p["lna"].value) * excess(
            eta, math.exp(p["lnb"].value), epsrel=1e-7)
        return (np.log(np.maximum(model, 1e-300)) - np.log(c)) / sigma_ln

    return F.minimize(resid, params, what="type-B bulk (exact excess)", source=label)


def _tail_window(y_um, c, c_err, bulk, opts: TypeBOptions, scaled_sigma):
    """Indices of the tail: bulk share < 1 %, above noise, nearly linear in y^(6/5)."""
    n_min = opts.min_tail_points
    if opts.tail is not None:
        lo, hi = (v * 1e6 for v in opts.tail)
        idx = np.flatnonzero((y_um >= lo) & (y_um <= hi) & (c > 0))
        if idx.size < n_min:
            raise InputError(f"the tail range holds {idx.size} usable points; {n_min} needed", source="tail")
        return idx
    above = c > 3.0 * c_err if c_err is not None else c > 0
    end = y_um.size if above.all() else int(np.argmin(above))  # first point lost in the noise
    candidates = np.flatnonzero((bulk[:end] < BULK_SHARE * c[:end]) & (c[:end] > 0))
    if candidates.size < n_min:
        return None
    z = y_um ** 1.2
    for k in range(candidates.size - n_min + 1):
        idx = candidates[k:]
        w = 1.0 / scaled_sigma[idx]
        coef, cov = np.polyfit(z[idx], np.log(c[idx]), 2, w=w, cov="unscaled")
        span = z[idx[-1]] - z[idx[0]]
        change = abs(2 * coef[0] * span / (coef[1] + 2 * coef[0] * z[idx].mean()))
        significant = abs(coef[0]) > 3.0 * math.sqrt(max(cov[0, 0], 0.0))
        if change < MAX_SLOPE_CHANGE or not significant:
            return idx
    return candidates[-n_min:]


def _beta_from_slope(m_eta: float, eta_pts: np.ndarray, weights, source: str) -> float:
    """beta whose exact excess has slope -m_eta (per eta^(6/5)) over [eta_lo, eta_hi]; NaN if none."""
    kind = "constant" if source == "constant" else "instantaneous"

    def f(lb):
        try:
            return -leclaire_slope(eta_pts[0], eta_pts[-1], math.exp(lb), source=kind, n=25, eta=eta_pts,
                                   weights=weights) - m_eta
        except InputError:  # the excess underflows: far too small a beta, the slope is steep
            return math.inf

    # Start from Le Claire's estimate and widen the bracket: the slope flattens as beta grows.
    guess = math.log(max(0.5 * LECLAIRE_CONSTANT[source] * m_eta ** (-5.0 / 3.0), 1e-3))
    lo, hi = guess - 0.7, guess + 0.7
    for _ in range(12):
        f_lo, f_hi = f(lo), f(hi)
        if f_lo > 0 > f_hi:
            return math.exp(optimize.brentq(f, lo, hi, xtol=1e-9, rtol=1e-12))
        if not f_lo > 0:
            lo -= 1.0
        if not f_hi < 0:
            hi += 1.0
        if lo < math.log(1e-3) or hi > math.log(1e9):
            break
    return math.nan


def _p_exact(m_y, d, t, y_tail, weights, opts: TypeBOptions) -> float:
    """P from the exact inversion: the same weighted line through the exact excess at the tail's depths."""
    root = math.sqrt(d * t)
    m_eta = m_y * root ** 1.2
    beta = _beta_from_slope(m_eta, y_tail / root, weights, opts.source)
    return 2.0 * beta * d * root + opts.thickness * d


def fit_leclaire(profile, exchange_time, *, d_bulk=None, options: TypeBOptions | None = None) -> LeClaireResult:
    """Whipple-Le Claire type-B analysis of a depth profile or laterally averaged C̄(y).

    Parameters
    ----------
    profile : xarray.Dataset or ProfileData
        Labelled profile (``x`` = depth, um) or :class:`ProfileData` (m); C̄ >= 0.
    exchange_time : Measured, str or float
        Anneal (exchange) time: text such as ``"27.8 h"``, or SI float (s).
    d_bulk : Measured, str or float, optional
        Bulk diffusivity (SI float: m^2/s); None fits it jointly from the near-surface part.
    options : TypeBOptions, optional
        :class:`TypeBOptions` (source kind, s, delta, grain size, background, fixed tail range).

    Raises
    ------
    FitError
        No tail (no points where the bulk term is below 1 % and C̄ above the noise), or no fit.

    Warns
    -----
    RegimeWarning
        The anneal is outside type B, or beta < 10 with the textbook constant only.
    """
    opts = options or TypeBOptions()
    data = profile_data(profile)
    time = positive_si(exchange_time, "time", name="exchange_time")
    dm = None
    if d_bulk is not None:
        dm = d_bulk if isinstance(d_bulk, Measured) else Measured(float(d_bulk), 0.0, "diffusivity")
        if not (math.isfinite(dm.value) and dm.value > 0):
            raise InputError(f"D_bulk must be positive, got {dm.value!r} m^2/s", source="d_bulk")
    y_um = data.x / F.UM
    c = data.c - opts.background
    err = data.c_stderr
    use = c > (3.0 * err if err is not None else 0.0)
    if use.sum() < opts.min_tail_points + 3:
        raise FitError(f"only {int(use.sum())} points stand above the background", source=data.source)
    sigma_ln = np.where(use, (err / np.maximum(c, 1e-300)) if err is not None else 1.0, np.inf)
    fit = _joint_fit(y_um[use], c[use], sigma_ln[use], time, None if dm is None else dm.value * 1e12, data.source,
                     opts.source)
    d_um2 = fit.params["d"].value
    if dm is None and opts.exact:
        m0 = fit.params["m"].value
        beta0 = max(0.5 * LECLAIRE_CONSTANT[opts.source] * (m0 * (d_um2 * time) ** 0.6) ** (-5.0 / 3.0), 0.1)
        fit = _exact_joint_fit(y_um[use], c[use], sigma_ln[use], time, d_um2, min(beta0, 1e6), opts.source,
                               data.source)
        lnd = fit.params["lnd"]
        d_um2 = math.exp(lnd.value)
        dm = Measured(d_um2 * 1e-12, d_um2 * 1e-12 * (lnd.stderr if lnd.stderr is not None else math.nan),
                      "diffusivity")
    elif dm is None:
        derr = fit.params["d"].stderr
        dm = Measured(d_um2 * 1e-12, (derr if derr is not None else math.nan) * 1e-12, "diffusivity")
    cs = F.measured(fit, "cs", "dimensionless")
    bulk = cs.value * _bulk_shape(y_um / math.sqrt(d_um2 * time), opts.source)
    chi_scale = max(1.0, fit.redchi) if err is not None else fit.redchi
    idx = _tail_window(y_um, c, err, bulk, opts, np.where(np.isfinite(sigma_ln), sigma_ln, 1e300)
                       * math.sqrt(chi_scale))
    if idx is None:
        raise FitError(f"no type-B tail: fewer than {opts.min_tail_points} points have a bulk "
                       f"share below {BULK_SHARE:.0%} and C̄ above the noise; the profile looks like bulk "
                       "diffusion only (regime C kinetics or no fast boundaries)", source=data.source)
    z = y_um[idx] ** 1.2
    excess = np.maximum(c[idx] - bulk[idx], 1e-300)
    w = 1.0 / sigma_ln[idx] if err is not None else None
    coef, cov = np.polyfit(z, np.log(excess), 1, w=w, cov="unscaled" if err is not None else True)
    resid = np.log(excess) - np.polyval(coef, z)
    chi2 = float(np.sum((resid * (w if w is not None else 1.0)) ** 2) / max(z.size - 2, 1))
    if err is not None:
        cov = cov * max(1.0, chi2)
    m_y = -coef[0] / 1e-6 ** 1.2  # per m^(6/5)
    sm_y = math.sqrt(cov[0, 0]) / 1e-6 ** 1.2
    if not m_y > 0:
        raise FitError(f"ln C̄ does not fall along the tail (slope {coef[0]:.3g} per um^6/5)", source=data.source)
    window = (y_um[idx[0]] * 1e-6, y_um[idx[-1]] * 1e-6)
    k = LECLAIRE_CONSTANT[opts.source]
    p_text = lambda m, d: k * math.sqrt(d / time) * m ** (-5.0 / 3.0)  # noqa: E731
    y_tail = y_um[idx] * 1e-6
    p_fun = (lambda m, d: _p_exact(m, d, time, y_tail, w, opts)) if opts.exact else p_text
    p = p_fun(m_y, dm.value)
    if not math.isfinite(p):
        warnings.warn(f"{data.source}: the tail slope lies outside the exact solution's range; "
                      "reporting Le Claire's textbook value", RegimeWarning, stacklevel=2)
        p_fun = p_text
        p = p_fun(m_y, dm.value)
    sp = _propagate(p_fun, m_y, sm_y, dm)
    sp_text = _propagate(p_text, m_y, sm_y, dm)
    s = opts.segregation
    regime = harrison_regime(dm, time, thickness=opts.thickness, grain_size=opts.grain_size, p=p,
                             segregation=s)
    if regime.regime not in ("B", "unknown"):
        warnings.warn(f"{data.source}: regime {regime.regime}, not type B ({'; '.join(regime.reasons)}): "
                      "the Le Claire analysis does not apply", RegimeWarning, stacklevel=2)
    return LeClaireResult(
        p=Measured(p, sp, "gb_transport"), sd_gb=Measured(p / s, sp / s, "gb_transport"),
        p_leclaire=Measured(p_text(m_y, dm.value), sp_text, "gb_transport"),
        slope=Measured(-m_y, sm_y, "dimensionless"), d_bulk=dm, d_bulk_fitted=d_bulk is None, c_s=cs,
        time=Measured(time, 0.0, "time"), tail=window, n_tail=int(idx.size), regime=regime, options=opts,
        chi2_red=chi2, source=data.source, data=data)


def _propagate(p_fun, m, sm, dm: Measured) -> float:
    """First-order error of P(m, D) by central differences (m and D taken independent)."""
    total = 0.0
    for value, err, which in ((m, sm, 0), (dm.value, dm.stderr, 1)):
        if not (math.isfinite(err) and err > 0):
            if not math.isfinite(err):
                return math.nan
            continue
        h = min(err, 0.2 * value)
        args_hi, args_lo = [m, dm.value], [m, dm.value]
        args_hi[which] += h
        args_lo[which] -= h
        deriv = (p_fun(*args_hi) - p_fun(*args_lo)) / (2 * h)
        total += (deriv * err) ** 2
    return math.sqrt(total)
