"""Fitting exchange profiles: eqn 4 (erfc) and the surface-exchange-limited solution.

The solution law holds only beyond the meniscus/surface, so points with
x < x0 are left out of the residuals (x0 fitted or fixed). Counting errors
weight the fit when the profile has counts; standard errors are scaled by the
reduced chi-square (lmfit default), so extra scatter (grains) widens them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import lmfit
import numpy as np
from scipy.ndimage import median_filter

from tracerdiff.errors import FitError, InputError
from tracerdiff.profiles import _fitting as F
from tracerdiff.profiles.load import MIN_POINTS, ProfileData, profile_data
from tracerdiff.profiles.solutions import erfc_profile, finite_exchange_profile, surface_exchange_profile
from tracerdiff.quantity import Measured, positive_si
from tracerdiff.units import from_si
from tracerdiff.results import Result

_ERFC_INV_HALF = 0.4769362762044699  # erfc(u) = 1/2


@dataclass(frozen=True, repr=False)
class ErfcFit(Result):
    """Result of an exchange-profile fit (SI inside; ``to_dict`` gives display units).

    Attributes
    ----------
    d_eff, c_s, c_0, x0
        Diffusivity, surface (solution) and background fractions, meniscus/surface position.
    k_star
        Surface exchange coefficient (None for the plain erfc model).
    time
        Exchange time the fit assumed.
    chi2_red
        Reduced chi-square (with counting weights ~1 means counting noise explains the scatter).
    d_eff_ci95
        95 % profile-likelihood interval of D (m^2/s), or None.
    """

    d_eff: Measured
    c_s: Measured
    c_0: Measured
    x0: Measured
    time: Measured
    chi2_red: float
    n_points: int
    model: str = "erfc"
    k_star: Measured | None = None
    d_eff_ci95: tuple[float, float] | None = None
    sample_end: float | None = None
    source: str = ""
    data: ProfileData | None = field(default=None, repr=False, compare=False)
    #: (free parameter names, covariance matrix) in fit units (um, um^2/s); () if unknown.
    covariance: tuple = field(default=(), repr=False, compare=False)

    def predict(self, x) -> np.ndarray:
        """Fitted C at positions ``x`` (m); C = Cs below x0."""
        kw = dict(c_s=self.c_s.value, c_0=self.c_0.value, x0=self.x0.value, d=self.d_eff.value,
                  t=self.time.value)
        if self.model == "surface_exchange":
            return surface_exchange_profile(x, k=self.k_star.value, **kw)
        if self.model == "finite_exchange":
            return finite_exchange_profile(x, end=self.sample_end, **kw)
        return erfc_profile(x, **kw)

    def to_dict(self) -> dict:
        out = {"model": self.model, "d_eff": self.d_eff.to_dict(), "c_s": self.c_s.to_dict(),
               "c_0": self.c_0.to_dict(), "x0": self.x0.to_dict(), "time": self.time.to_dict(),
               "chi2_red": self.chi2_red if math.isfinite(self.chi2_red) else None,
               "n_points": self.n_points, "source": self.source}
        if self.k_star is not None:
            out["k_star"] = self.k_star.to_dict()
        if self.sample_end is not None:
            out["sample_end"] = Measured(self.sample_end, 0.0, "length").to_dict()
        if self.d_eff_ci95 is not None:
            out["d_eff_ci95"] = {"low": from_si(self.d_eff_ci95[0], "diffusivity"),
                                 "high": from_si(self.d_eff_ci95[1], "diffusivity"),
                                 "unit": self.d_eff.unit}
        return out

    def _headline(self) -> tuple[str, str]:
        return "d_eff", str(self.d_eff)

    def _rows(self):
        """One row per profile point: x (µm), C, its stderr, the fit there and whether it was fitted."""
        d = self.data
        if d is None:
            return super()._rows()
        err = d.c_stderr if d.c_stderr is not None else np.full(d.x.shape, np.nan)
        rows = [{"x": x * 1e6, "C": c, "C_stderr": e, "fit": f, "fitted": bool(x >= self.x0.value)}
                for x, c, e, f in zip(d.x, d.c, err, self.predict(d.x))]
        return rows, {"x": "µm", "C": "", "C_stderr": "", "fit": "", "fitted": ""}

    def _plot(self, ax):
        """Data, fitted curve and residuals (panel appended below ``ax``, the figure's last axes)."""
        from tracerdiff.profiles._plot import plot_profiles

        d = self.data
        used = d.x >= self.x0.value
        grid = np.linspace(d.x[0], d.x[-1], 600)
        if (~used).any():  # points before the meniscus: shown, not fitted
            ax.plot(d.x[~used] * 1e6, d.c[~used], ".", ms=2, color="0.6", label="not fitted (x < x0)")
        plot_profiles(ax, [{"x": d.x[used], "c": d.c[used], "model": self.predict(d.x[used]),
                                   "err": None if d.c_stderr is None else d.c_stderr[used],
                                   "curve": (grid, self.predict(grid)), "label": self.model}],
                             title=f"D = {self.d_eff}")


def fit_erfc(profile, exchange_time, *, fix_x0: float | None = None, fix_c_s: float | None = None,
             fix_c_0: float | None = None, x_range: tuple[float, float] | None = None,
             surface_exchange: bool = False, sample_end: float | None = None, conf_int: bool = True) -> ErfcFit:
    """Fit eqn 4 (or the surface-exchange-limited solution) to an exchange profile.

    Parameters
    ----------
    profile : xarray.Dataset or ProfileData
        Labelled profile (:func:`tracerdiff.io.image.make_profile`) or :class:`ProfileData`.
    exchange_time : Measured, str or float
        Exchange time (> 0): text such as ``"59 h"``, or SI float (s).
    fix_x0, fix_c_s, fix_c_0 : float, optional
        Hold the meniscus position (m) or the fractions at these values.
    x_range : tuple of float, optional
        (min, max) positions (m) of the points to fit; default all.
    surface_exchange : bool
        Fit Crank's surface-exchange-limited solution (k* and D* together).
    sample_end : float, optional
        Far end of the sample (m), closed during the exchange: fit the finite-slab solution
        (:func:`~tracerdiff.profiles.solutions.finite_exchange_profile`) instead of eqn 4, for
        samples not much longer than the diffusion length. Default: semi-infinite (eqn 4).
    conf_int : bool
        Also compute the 95 % profile-likelihood interval on D.

    Raises
    ------
    InputError
        Bad time, fewer than 5 points in range. FitError: no convergence.
    """
    data = _in_range(profile_data(profile), x_range)
    time = positive_si(exchange_time, "time", name="exchange_time")
    for label, held in (("Cs", fix_c_s), ("C0", fix_c_0)):
        if held is not None and not 0.0 <= held <= 1.0:  # also refuses NaN
            raise InputError(f"fixed {label} = {held!r} lies outside [0, 1] (C is an isotope fraction)",
                             source=data.source)
    if fix_x0 is not None and not math.isfinite(fix_x0):
        raise InputError(f"fixed x0 = {fix_x0!r} is not a finite position", source=data.source)
    x_um = data.x / F.UM
    weights = np.ones_like(data.c) if data.weights is None else data.weights
    params = _guess(x_um, data.c, time, fix_x0=fix_x0, fix_c_s=fix_c_s, fix_c_0=fix_c_0, source=data.source)
    if surface_exchange:
        d0 = params["d"].value
        # start where surface and diffusion resistances are equal: h sqrt(D t) = 1
        params.add("k", value=d0 / math.sqrt(d0 * time), min=0.0)
        # h = k/D: keep D off exactly 0, which lmfit's bound transform can reach
        params["d"].set(min=d0 * 1e-12)
    if sample_end is not None:
        if surface_exchange:
            raise InputError("the finite-sample solution is available for the erfc model only; drop "
                             "surface_exchange or sample_end", source="sample_end")
        if not sample_end >= data.x[-1]:
            raise InputError(f"sample end {sample_end * 1e6:g} um lies before the last point "
                             f"{data.x[-1] * 1e6:g} um", source="sample_end")
        end_um = sample_end / F.UM
        model = lambda x, **kw: finite_exchange_profile(x, end=end_um, **kw)  # noqa: E731
        kind = "finite_exchange"
    else:
        model = surface_exchange_profile if surface_exchange else erfc_profile
        kind = "surface_exchange" if surface_exchange else "erfc"

    def residual(p, x, c, w):
        v = p.valuesdict()
        kw = dict(c_s=v["c_s"], c_0=v["c_0"], x0=v["x0"], d=v["d"], t=time)
        if surface_exchange:
            kw["k"] = v["k"]
        return (model(x, **kw) - c) * w

    # The fitted point set is fixed during each pass (x >= the x0 of the previous
    # pass): masking by the current x0 would make chi2 drop whenever x0 grows.
    # Points overtaken by x0 inside a pass see the continuous extension C = Cs.
    what = kind.replace("_", "-")
    for _ in range(2):
        x0 = params["x0"].value
        used = x_um >= x0 - 1e-9
        if used.sum() < MIN_POINTS + 1:
            raise FitError(f"only {int(used.sum())} points lie beyond x0 = {x0:g} um; "
                           "fix x0 or give a longer profile", source=data.source)
        args = (x_um[used], data.c[used], weights[used])
        result = F.minimize(lambda p, a=args: residual(p, *a), params, what=what, source=data.source)
        params = result.params
    d_eff = F.determined(F.measured(result, "d", "diffusivity"), what="D", source=data.source)
    ci = F.confidence_interval(result, "d", "diffusivity") if conf_int else None
    return ErfcFit(d_eff=d_eff, c_s=F.measured(result, "c_s", "dimensionless"),
                   c_0=F.measured(result, "c_0", "dimensionless"), x0=F.measured(result, "x0", "length"),
                   time=Measured(float(time), 0.0, "time"), chi2_red=F.chi2_reduced(result),
                   n_points=int(used.sum()), model=kind, sample_end=sample_end,
                   k_star=F.measured(result, "k", "conductance") if surface_exchange else None,
                   d_eff_ci95=ci, source=data.source, data=data,
                   covariance=() if result.covar is None else
                   (tuple(result.var_names), tuple(map(tuple, np.asarray(result.covar, dtype=float)))))


def _in_range(data: ProfileData, x_range) -> ProfileData:
    if x_range is None:
        return data
    lo, hi = x_range
    keep = (data.x >= lo) & (data.x <= hi)
    if keep.sum() < MIN_POINTS:
        raise InputError(f"only {int(keep.sum())} points in the fit range [{lo * 1e6:g}, {hi * 1e6:g}] um; "
                         f"at least {MIN_POINTS} are needed", source=data.source)
    err = None if data.c_stderr is None else data.c_stderr[keep]
    return ProfileData(data.x[keep], data.c[keep], err, data.source)


def _guess(x_um, c, time, *, fix_x0, fix_c_s, fix_c_0, source: str = "") -> lmfit.Parameters:
    """Starting values from the plateaus and the half-height position of a median-smoothed profile."""
    n = c.size
    edge = max(3, n // 10)
    smooth = median_filter(c, size=max(3, (n // 50) | 1), mode="nearest")
    c_0 = float(np.median(c[-edge:])) if fix_c_0 is None else fix_c_0
    # the end of the scan next to the solution is the plateau farthest from C0 (Cs < C0 for back-exchange)
    head = smooth[:edge]
    c_s = float(head[np.argmax(np.abs(head - c_0))]) if fix_c_s is None else fix_c_s
    if abs(c_s - c_0) < 1e-9:
        raise FitError(f"profile is flat: no exchange front to fit (Cs = C0)", source=source or None)
    norm = (smooth - c_0) / (c_s - c_0)
    if fix_x0 is None:
        below = np.flatnonzero(norm < 0.95)
        x0 = float(x_um[max(below[0] - 1, 0)]) if below.size else float(x_um[0])
    else:
        x0 = fix_x0 / F.UM
    half = np.flatnonzero((norm < 0.5) & (x_um > x0))
    span = x_um[-1] - x_um[0]
    dist = (x_um[half[0]] - x0) if half.size and x_um[half[0]] > x0 else span / 10
    d = max((dist / (2 * _ERFC_INV_HALF)) ** 2 / time, 1e-30)
    p = lmfit.Parameters()
    p.add("c_s", value=c_s, vary=fix_c_s is None)
    p.add("c_0", value=c_0, vary=fix_c_0 is None)
    p.add("x0", value=x0, vary=fix_x0 is None)
    p.add("d", value=d, min=0.0)
    return p
