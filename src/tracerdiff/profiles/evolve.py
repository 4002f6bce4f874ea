"""D*eff from how a profile relaxes in a closed sample (storage or anneal).

After the solution is removed the sample is closed: no flux through its ends,
total 6Li conserved. From an initial profile (the fitted erfc curve of the
exchange step, or the measured points) the exact cosine-series solution
(:class:`~tracerdiff.profiles.solutions.CosineSeries`) gives C at any later
time; one D per temperature step is fitted so that the solution matches one or
several later profiles jointly.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Sequence

import lmfit
import numpy as np

from tracerdiff.errors import FitError, InputError
from tracerdiff.profiles import _fitting as F
from tracerdiff.profiles.erfc import ErfcFit, fit_erfc
from tracerdiff.profiles.load import profile_data
from tracerdiff.profiles.solutions import CosineSeries, modes_needed
from tracerdiff.quantity import Measured
from tracerdiff.units import from_si
from tracerdiff.results import Result


@dataclass(frozen=True)
class LaterProfile:
    """A profile measured ``time`` seconds after the initial one; ``step`` names the D of the interval before it."""

    time: float
    profile: object
    step: str = "closed"


@dataclass(frozen=True, repr=False)
class EvolutionFit(Result):
    """One D per temperature step from the closed-system evolution (SI inside).

    Attributes
    ----------
    d
        Step label -> fitted D (Measured, m^2/s), in order of the steps.
    d_ci95
        Step label -> 95 % profile-likelihood interval (m^2/s) or None.
    initial_fit
        The erfc fit used as the initial profile (None when the measured points were used).
    times
        Elapsed time of each later profile since the initial one (s).
    """

    d: dict
    d_ci95: dict
    chi2_red: float
    n_points: int
    times: tuple
    steps: tuple
    sample_extent: tuple[float, float]
    initial_model: str
    initial_fit: ErfcFit | None = None
    sources: tuple = ()
    _series: CosineSeries | None = field(default=None, repr=False, compare=False)
    _data: tuple = field(default=(), repr=False, compare=False)
    _taus: tuple = field(default=(), repr=False, compare=False)

    @property
    def slowest_mode_remaining(self) -> float:
        """exp(-(pi/L)^2 tau) at the last profile: the fraction of the slowest (first cosine) mode
        left. Near 0 the last profile is flat and D is only bounded from below."""
        length = self.sample_extent[1] - self.sample_extent[0]
        return float(math.exp(-(math.pi / length) ** 2 * self._taus[-1])) if self._taus else math.nan

    @property
    def d_eff(self) -> Measured:
        """D of the first (usually only) step."""
        return next(iter(self.d.values()))

    def predict(self, x, time: float) -> np.ndarray:
        """C at positions ``x`` (m) ``time`` s after the initial profile (time within the fitted steps)."""
        return self._series.evaluate(np.asarray(x, dtype=float), _tau_at(time, self.times, self.steps, self.d))

    def to_dict(self) -> dict:
        out = {"d_eff": self.d_eff.to_dict(),
               "steps": {k: v.to_dict() for k, v in self.d.items()},
               "chi2_red": self.chi2_red if math.isfinite(self.chi2_red) else None,
               "n_points": self.n_points,
               "times": [Measured(t, 0.0, "time").to_dict() for t in self.times],
               "sample_start": Measured(self.sample_extent[0], 0.0, "length").to_dict(),
               "sample_end": Measured(self.sample_extent[1], 0.0, "length").to_dict(),
               "initial_model": self.initial_model, "sources": list(self.sources),
               "slowest_mode_remaining": self.slowest_mode_remaining}
        ci = self.d_ci95.get(next(iter(self.d)))
        if ci is not None:
            out["d_eff_ci95"] = {"low": from_si(ci[0], "diffusivity"), "high": from_si(ci[1], "diffusivity"),
                                 "unit": self.d_eff.unit}
        if self.initial_fit is not None:
            out["d_exchange"] = self.initial_fit.d_eff.to_dict()
            out["initial_fit"] = self.initial_fit.to_dict()
        return out

    def _headline(self) -> tuple[str, str]:
        return "d_eff", str(self.d_eff)

    def _summary(self) -> list[tuple[str, str]]:
        rows = [self._headline()] + [(f"D ({k})", str(v)) for k, v in list(self.d.items())[1:6]]
        rows += [("profiles", f"{len(self.times)} at " + ", ".join(f"{t / 3600:.4g} h" for t in self.times[:6])),
                 ("n_points", str(self.n_points)), ("chi2_red", f"{self.chi2_red:.3g}"),
                 ("sample", f"{self.sample_extent[0] * 1e6:.4g} to {self.sample_extent[1] * 1e6:.4g} µm"),
                 ("initial_model", self.initial_model),
                 ("slowest mode remaining", f"{self.slowest_mode_remaining:.3g}")]
        return rows

    def _rows(self):
        """One row per step: its name, D (display units) and stderr."""
        rows, unit = [], ""
        for k, m in self.d.items():
            v, s = m.to()
            rows.append({"step": k, "d": v, "d_stderr": s})
            unit = m.unit
        return rows, {"step": "", "d": unit, "d_stderr": unit}

    def _plot(self, ax):
        """Initial curve, later data with fitted curves, residual panel below ``ax`` (the figure's last axes)."""
        from tracerdiff.profiles._plot import plot_profiles

        a, b = self.sample_extent
        grid = np.linspace(a, b, 800)
        sets = [{"x": d.x, "c": d.c, "err": d.c_stderr, "model": self._series.evaluate(d.x, tau),
                 "curve": (grid, self._series.evaluate(grid, tau)), "label": f"{t / 3600:.4g} h"}
                for d, tau, t in zip(self._data, self._taus, self.times)]
        ax_main, ax_res = plot_profiles(ax, sets, title=f"closed evolution: D = {self.d_eff}")
        start = self.initial_fit.predict(grid) if self.initial_fit is not None else self._series.evaluate(grid, 0.0)
        ax_main.plot(grid * 1e6, start, "k--", lw=1, label="initial")
        ax_main.legend(fontsize="small")


def fit_closed_evolution(initial, later: Sequence, *, exchange_time: float | None = None,
                         initial_model: str = "auto", sample_extent: tuple[float, float] | None = None,
                         fix_x0: float | None = None, finite_exchange: bool = False,
                         conf_int: bool = True, propagate_initial: bool = True) -> EvolutionFit:
    """Fit one D per step so the closed-sample solution from ``initial`` matches the later profiles.

    Parameters
    ----------
    initial : xarray.Dataset or ProfileData
        Profile at the start of the closed period (labelled dataset or :class:`ProfileData`).
    later : sequence
        :class:`LaterProfile` items or ``(time_s, profile)`` / ``(time_s, profile, step)`` tuples;
        times since the initial profile, strictly increasing. Each interval between
        consecutive profiles uses the D of the later profile's ``step``.
    exchange_time : Measured, str or float, optional
        Contact time of the initial profile with the solution (s); needed for ``"erfc"``.
    initial_model : str
        ``"erfc"``: start from the erfc fit of the initial profile (smooth, C = Cs below
        the meniscus); ``"data"``: from the measured points (piecewise linear, constant
        beyond the scan); ``"auto"``: erfc when ``exchange_time`` is given.
    sample_extent : tuple of float, optional
        (start, end) of the sample in m: the no-flux ends. Default: the extent of all scans.
    fix_x0 : float, optional
        Meniscus position (m) for the erfc fit of the initial profile.
    finite_exchange : bool
        Fit the initial profile with the finite-sample exchange solution (far end of the
        sample closed during the exchange too) instead of the semi-infinite eqn 4.
    propagate_initial : bool
        With ``"erfc"``: add the uncertainty of the fitted initial curve to D's standard error
        (first order, central differences over +-1 sd of each erfc parameter; the 95 % interval
        is widened by the same factor). Without it the stderr is conditional on the initial curve
        and was measured 1.7x too small (pull sd over 30 noisy 2 + 6 week scenarios).

    Raises
    ------
    InputError
        No later profiles, times not increasing, profiles outside the sample, bad options.
    """
    items = _later_items(later)
    init = profile_data(initial)
    datas = [profile_data(it.profile) for it in items]
    if initial_model == "auto":
        initial_model = "erfc" if exchange_time is not None else "data"
    if initial_model not in ("erfc", "data"):
        raise InputError(f"initial_model must be 'erfc', 'data' or 'auto', got {initial_model!r}")
    if sample_extent is None:
        sample_extent = (min(d.x[0] for d in [init, *datas]), max(d.x[-1] for d in [init, *datas]))
    a, b = (float(v) for v in sample_extent)
    if not (math.isfinite(a) and math.isfinite(b) and b > a):
        raise InputError(f"the sample end ({b * 1e6:g} um) must lie beyond its start ({a * 1e6:g} um)",
                         source="sample_extent")
    for d in [init, *datas]:
        if d.x[0] < a - 1e-12 or d.x[-1] > b + 1e-12:
            raise InputError(f"positions [{d.x[0] * 1e6:g}, {d.x[-1] * 1e6:g}] um lie outside the sample "
                             f"[{a * 1e6:g}, {b * 1e6:g}] um", source=d.source or "profile")
    initial_fit = None
    if initial_model == "erfc":
        if exchange_time is None:
            raise InputError("initial_model='erfc' needs the exchange time of the initial profile",
                             source="exchange_time")
        initial_fit = fit_erfc(init, exchange_time, fix_x0=fix_x0, conf_int=False,
                               sample_end=b if finite_exchange else None)
        series = CosineSeries.from_function(initial_fit.predict, a, b, breakpoints=[initial_fit.x0.value])
    else:
        series = CosineSeries.from_samples(init.x, init.c, a, b)

    times = tuple(it.time for it in items)
    steps = tuple(it.step for it in items)
    labels = list(dict.fromkeys(steps))
    length = b - a
    weights = [np.ones_like(d.c) if d.weights is None else d.weights for d in datas]
    bases: list[np.ndarray | None] = [None] * len(datas)

    state = {"series": series}  # swapped for perturbed initial states in _initial_state_covariance

    def model(j, tau):
        n = modes_needed(length, tau)
        current = state["series"]
        if bases[j] is None or bases[j].shape[1] < n:  # the cosine basis depends on x and [a, b] only
            bases[j] = current.basis(datas[j].x, max(n, 32))
        return bases[j][:, :n] @ (current.coefficients(n) * current.damping(n, tau))

    def residual_for(dvals: dict, upto: int | None = None):
        taus = _taus(times, steps, {k: v * 1e-12 for k, v in dvals.items()})
        count = len(datas) if upto is None else upto
        return np.concatenate([(model(j, taus[j]) - datas[j].c) * weights[j] for j in range(count)])

    # D in um^2/s (order one). Coarse log scan, step by step, for a start value the
    # local fit cannot miss; then a joint Levenberg-Marquardt fit of all steps.
    start = {}
    h = float(np.median(np.diff(init.x)))
    for label in labels:
        last = max(j for j, s in enumerate(steps) if s == label)
        dt = min(t1 - t0 for t0, t1, s in zip((0.0,) + times, times, steps) if s == label)
        # below sqrt(D dt) ~ 5 point spacings a profile hardly changes between scans
        lo, hi = (5.0 * h) ** 2 / dt, (2.0 * length) ** 2 / dt
        grid = np.geomspace(lo, hi, 41) / 1e-12
        rest = {k: 1.0 for k in labels if k not in start}  # steps not scanned yet (only if interleaved)
        chi2 = [np.sum(residual_for({**rest, **start, label: g}, last + 1) ** 2) for g in grid]
        start[label] = float(grid[int(np.argmin(chi2))])
    params = lmfit.Parameters()
    names = {label: f"d{i}" for i, label in enumerate(labels)}
    for label in labels:
        params.add(names[label], value=start[label], min=0.0)
    def objective(p):
        return residual_for({lab: p[names[lab]].value for lab in labels})

    result = F.minimize(objective, params, what="closed-evolution", source=init.source)
    if result.nfree <= 0:
        raise FitError("closed-evolution fit has no degrees of freedom")
    d = {lab: F.determined(F.measured(result, names[lab], "diffusivity"), what=f"D of step {lab!r}",
                           source=init.source) for lab in labels}
    ci = {lab: (F.confidence_interval(result, names[lab], "diffusivity") if conf_int else None)
          for lab in labels}
    if propagate_initial and initial_fit is not None and initial_fit.covariance:
        def refit(start_series) -> np.ndarray:
            state["series"] = start_series
            try:
                r = F.minimize(objective, result.params.copy(), what="closed-evolution", source=init.source)
            finally:
                state["series"] = series
            return np.array([r.params[names[lab]].value for lab in labels])

        extra = _initial_state_covariance(initial_fit, refit, a, b) * F.SI_FACTOR["diffusivity"] ** 2
        d, ci = _add_variance(d, ci, np.diag(extra), labels)
    return EvolutionFit(d=d, d_ci95=ci, chi2_red=F.chi2_reduced(result), n_points=int(sum(len(x) for x in datas)),
                        times=times, steps=steps, sample_extent=(a, b), initial_model=initial_model,
                        initial_fit=initial_fit, sources=tuple(x.source for x in [init, *datas]),
                        _series=series, _data=tuple(datas),
                        _taus=tuple(_taus(times, steps, {k: v.value for k, v in d.items()})))


#: erfc parameter -> (ErfcFit field, SI per fit unit).
_ERFC_FIELDS = {"c_s": ("c_s", 1.0), "c_0": ("c_0", 1.0), "x0": ("x0", 1e-6), "d": ("d_eff", 1e-12)}


def _initial_state_covariance(initial_fit: ErfcFit, refit, a: float, b: float) -> np.ndarray:
    """Covariance (fit units, (um^2/s)^2) of the closed-step D values due to the initial erfc fit.

    First order: J C J^T with C the erfc covariance and J = dD/dtheta by central differences
    over +-1 sd of each free erfc parameter, each a full refit of D from the shifted initial curve.
    """
    names, cov = initial_fit.covariance
    cov = np.asarray(cov, dtype=float)
    columns = []
    for i, name in enumerate(names):
        sd = math.sqrt(cov[i, i]) if cov[i, i] > 0 else 0.0
        if name not in _ERFC_FIELDS or sd == 0:
            columns.append(None)
            continue
        attr, si = _ERFC_FIELDS[name]
        m = getattr(initial_fit, attr)
        ends = []
        for sign in (1.0, -1.0):
            shifted = dataclasses.replace(initial_fit, **{attr: Measured(m.value + sign * sd * si, m.stderr,
                                                                         m.dimension)})
            try:
                ends.append(refit(CosineSeries.from_function(shifted.predict, a, b,
                                                             breakpoints=[shifted.x0.value])))
            except (FitError, InputError):  # e.g. D shifted to <= 0: leave this direction out
                break
        columns.append((ends[0] - ends[1]) / (2 * sd) if len(ends) == 2 else None)
    n = next((c.size for c in columns if c is not None), 0)
    if not n:
        return np.zeros((0, 0))
    jac = np.column_stack([np.zeros(n) if c is None else c for c in columns])
    return jac @ cov @ jac.T


def _add_variance(d: dict, ci: dict, extra, labels) -> tuple[dict, dict]:
    """Add ``extra`` (SI variances, one per step) to each D's stderr; widen its interval alike."""
    if not len(extra):
        return d, ci
    d_out, ci_out = {}, {}
    for lab, var in zip(labels, extra):
        m = d[lab]
        total = math.sqrt(m.stderr ** 2 + max(float(var), 0.0))
        d_out[lab] = Measured(m.value, total, m.dimension)
        interval = ci[lab]
        if interval is not None and m.stderr > 0:
            k = total / m.stderr
            interval = (max(m.value - (m.value - interval[0]) * k, 0.0), m.value + (interval[1] - m.value) * k)
        ci_out[lab] = interval
    return d_out, ci_out


def _later_items(later) -> list[LaterProfile]:
    items = []
    for it in later:
        if not isinstance(it, LaterProfile):
            if not isinstance(it, (tuple, list)) or len(it) not in (2, 3):
                raise InputError("later profiles must be LaterProfile or (time_s, profile[, step]) tuples")
            it = LaterProfile(*it)
        if not (isinstance(it.time, (int, float)) and math.isfinite(it.time) and it.time > 0):
            raise InputError("the time of each later profile since the initial one must be a positive "
                             f"number of seconds, got {it.time!r}")
        items.append(it)
    if not items:
        raise InputError("at least one later profile is needed to fit the closed evolution")
    times = [it.time for it in items]
    if any(t1 <= t0 for t0, t1 in zip(times, times[1:])):
        raise InputError("later profiles must come in order of strictly increasing time since the initial "
                         f"profile; got {', '.join(f'{t / 3600:g} h' for t in times)}")
    return items


def _taus(times, steps, dvals) -> list[float]:
    """tau_j = integral of D dt (m^2) up to each profile; ``dvals`` maps step -> D (m^2/s)."""
    out, tau, prev = [], 0.0, 0.0
    for t, s in zip(times, steps):
        tau += float(dvals[s]) * (t - prev)
        prev = t
        out.append(tau)
    return out


def _tau_at(time, times, steps, d) -> float:
    if time < 0 or time > times[-1]:
        raise InputError(f"time {time / 3600:g} h lies outside the fitted period [0, {times[-1] / 3600:g}] h")
    tau, prev = 0.0, 0.0
    for t, s in zip(times, steps):
        span = min(t, time) - prev
        if span <= 0:
            break
        tau += d[s].value * span
        prev = t
    return tau
