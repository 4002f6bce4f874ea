"""Which kind of boundary does an image hold? Joint whole-image fit of G (across) and P (along).

The forward simulator (:func:`tracerdiff.simulate.simulate_history`) is run on the image's
grain map with one uniform across-boundary conductance G = D*gb/delta and one uniform
along-boundary transport P = s delta D_gb, and (log10 G, log10 P) are fitted to every pixel
(scipy least squares, finite differences). Three models are compared by the Bayesian
information criterion: ``"slow"`` (P = 0, G fitted), ``"fast"`` (no resistance across, P
fitted) and ``"both"``. Uniform values only: per-boundary values are the business of
:func:`tracerdiff.inversion.invert_boundaries` (slow) and of a type-B profile analysis (fast).

The grain map must cover the simulated domain with the wetted edge on ``source_edge``; the
image may be the whole domain or its first ``image_rows`` lines next to the wetted edge.
Costs one simulation per function evaluation (about 30 per model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from tracerdiff.errors import FitError, InputError
from tracerdiff.quantity import Measured, positive_si
from tracerdiff.grains import GrainMap
from tracerdiff.simulate import ExchangeStep, simulate_history
from tracerdiff.results import Result

MODELS = ("slow", "fast", "both")


@dataclass(frozen=True, repr=False)
class KindFit(Result):
    """Result of :func:`fit_boundary_kind`.

    Attributes
    ----------
    kind
        The model with the lowest BIC: ``"slow"``, ``"fast"`` or ``"both"``.
    g, p
        Across-boundary conductance (m/s; None for "fast") and along-boundary P (m^3/s; None
        for "slow") of the chosen model, with standard errors from the Jacobian.
    bic, chi2
        Per model: Bayesian information criterion and chi-square.
    """

    kind: str
    g: Measured | None
    p: Measured | None
    bic: dict
    chi2: dict
    n_pixels: int

    def to_dict(self) -> dict:
        return {"kind": self.kind, "dgb_over_delta": None if self.g is None else self.g.to_dict(),
                "p": None if self.p is None else self.p.to_dict(), "bic": dict(self.bic), "chi2": dict(self.chi2),
                "n_pixels": self.n_pixels}

    def _headline(self) -> tuple[str, str]:
        return "kind", self.kind

    def _rows(self):
        """One row per model tried: its BIC, BIC above the best, and chi-square."""
        best = min(self.bic.values()) if self.bic else float("nan")
        rows = [{"model": m, "bic": self.bic[m], "delta_bic": self.bic[m] - best, "chi2": self.chi2.get(m),
                 "chosen": m == self.kind} for m in MODELS if m in self.bic]
        return rows, {}

    def _plot(self, ax):
        """BIC of the three models (lower is better)."""
        names = [m for m in MODELS if m in self.bic]
        ax.bar(names, [self.bic[m] - min(self.bic.values()) for m in names])
        ax.set_ylabel("BIC - min BIC")
        ax.set_title(f"chosen: {self.kind}")


def _crop(c: np.ndarray, rows: int | None, edge: str) -> np.ndarray:
    if rows is None:
        return c
    return {"top": c[:rows], "bottom": c[-rows:], "left": c[:, :rows], "right": c[:, -rows:]}[edge]


def fit_boundary_kind(c, c_stderr, grains: GrainMap, *, d_bulk, exchange_time, source_edge: str = "bottom",
                      image_rows: int | None = None, start: tuple[float, float] = (1e-8, 1e-20),
                      n_steps: int = 20, models=MODELS) -> KindFit:
    """Fit uniform G and/or P to a normalised C map with the forward simulator; pick the kind.

    Parameters
    ----------
    c, c_stderr : numpy.ndarray
        Normalised tracer fraction (0 natural, 1 solution) and its standard error per pixel
        (NaN: not used), of the image (``image_rows`` lines next to the wetted edge, or the domain).
    grains : GrainMap
        Grain map of the simulated domain.
    d_bulk, exchange_time : Measured, str or float
        Bulk diffusivity (SI float: m^2/s) and exchange time (SI float: s) of one exchange step.
    start : tuple of float
        Starting values of G (m/s) and P (m^3/s).
    """
    c = np.asarray(c, float)
    err = np.asarray(c_stderr, float)
    if c.shape != err.shape:
        raise InputError(f"C and its errors differ in shape: {c.shape} vs {err.shape}", source="c_stderr")
    use = np.isfinite(c) & np.isfinite(err) & (err > 0)
    if use.sum() < 10:
        raise InputError("fewer than 10 usable pixels", source="c")
    d_bulk = positive_si(d_bulk, "diffusivity", name="d_bulk")
    time = positive_si(exchange_time, "time", name="exchange_time")
    try:
        g_start, p_start = (float(v) for v in start)
    except (TypeError, ValueError):
        raise InputError(f"must be two numbers (G in m/s, P in m^3/s), got {start!r}", source="start") from None
    for name, v in (("start", g_start), ("start", p_start)):
        if not (math.isfinite(v) and v > 0):
            raise InputError(f"must be positive, got {v!r}", source=name)
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise InputError(f"models must be among {MODELS}, got {models!r}", source="models")

    def simulate(log_g, log_p):
        step = ExchangeStep(time, d_bulk=d_bulk, dgb_over_delta=None if log_g is None else 10.0 ** log_g,
                            p_gb=None if log_p is None else 10.0 ** log_p, source_edge=source_edge)
        model = _crop(simulate_history(grains, step, n_steps=n_steps).c, image_rows, source_edge)
        if model.shape != c.shape:
            raise InputError(f"the image has shape {c.shape} but the simulated region {model.shape}; set "
                             "image_rows or give the domain's grain map", source="image_rows")
        return model

    results = {}
    for name in models:
        x0 = {"slow": [math.log10(g_start)], "fast": [math.log10(p_start)],
              "both": [math.log10(g_start), math.log10(p_start)]}[name]

        def resid(x, name=name):
            if name == "slow":
                lg, lp = x[0], None
            elif name == "fast":
                lg, lp = None, x[0]
            else:
                lg, lp = x[0], x[1]
            return ((simulate(lg, lp) - c) / np.where(use, err, 1.0))[use]

        sol = optimize.least_squares(resid, x0, diff_step=1e-3, x_scale=1.0, xtol=1e-6)
        if not sol.success:
            raise FitError(f"the {name} model did not converge ({sol.message})")
        chi2 = float(np.sum(sol.fun ** 2))
        try:
            cov = np.linalg.inv(sol.jac.T @ sol.jac) * max(1.0, chi2 / max(sol.fun.size - len(x0), 1))
        except np.linalg.LinAlgError:
            cov = np.full((len(x0), len(x0)), np.nan)
        results[name] = (sol.x, cov, chi2, chi2 + len(x0) * math.log(sol.fun.size))
    best = min(results, key=lambda k: results[k][3])
    x, cov, _, _ = results[best]
    ln10 = math.log(10.0)

    def measured(i, dim):
        v = 10.0 ** x[i]
        return Measured(v, v * ln10 * math.sqrt(cov[i, i]) if np.isfinite(cov[i, i]) else math.nan, dim)

    g = measured(0, "conductance") if best in ("slow", "both") else None
    p = measured(0 if best == "fast" else 1, "gb_transport") if best in ("fast", "both") else None
    return KindFit(best, g, p, {k: v[3] for k, v in results.items()}, {k: v[2] for k, v in results.items()},
                   int(use.sum()))
