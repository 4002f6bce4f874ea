"""Harrison's A/B/C kinetic regimes and which grain-boundary analyses suit the data.

Le Claire's parameters (Kaur, Mishin & Lojkowski, ch. 3):

* ``alpha = s delta / (2 sqrt(D t))`` -- boundary width against the bulk diffusion length;
* ``beta = (s Delta - 1) delta / (2 sqrt(D t))`` with ``Delta = D_gb / D``, i.e.
  ``beta = (P - delta D) / (2 D sqrt(D t))`` with ``P = s delta D_gb``;
* ``Lambda = sqrt(D t) / d`` -- bulk diffusion length against the grain size d.

Regimes (Mishin's criteria): **A** when ``sqrt(D t) >= d / 0.8`` (``Lambda >= 1.25``); **C** when ``alpha >= 1`` (the bulk diffusion length is below the
boundary width); **B** when ``alpha <= 0.1`` and ``Lambda <= 0.2`` (sδ << sqrt(Dt) << d);
between them the transitional ``"A/B"`` and ``"B/C"``. Boundaries with ``beta < 0``
(``D_gb < D``) are slow: they resist transport across them, and the step analysis or the
inversion applies, not Le Claire's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tracerdiff.errors import InputError
from tracerdiff.models._common import as_measured, positive
from tracerdiff.quantity import Measured
from tracerdiff.results import Result

#: sqrt(D t) / d above which the kinetics are type A (diffusion fields of boundaries overlap).
A_LAMBDA = 1.0 / 0.8
#: sqrt(D t) / d below which boundaries are isolated (type B or C).
B_LAMBDA = 0.2
#: alpha above which bulk diffusion is frozen (type C); below B_ALPHA the boundary is thin.
C_ALPHA = 1.0
B_ALPHA = 0.1


class RegimeWarning(UserWarning):
    """The data or the anneal lie outside the regime an analysis assumes."""


class BoundaryKindWarning(RegimeWarning):
    """The data contradict the assumed kind of boundary (fast along vs slow across)."""


#: beta below which Le Claire's 1.322 needs the beta-dependent (Chung-Wuensch) correction.
LECLAIRE_BETA = 10.0


@dataclass(frozen=True, repr=False)
class HarrisonRegime(Result):
    """Harrison's regime of a diffusion anneal and the analyses valid for it.

    Attributes
    ----------
    regime
        ``"A"``, ``"A/B"``, ``"B"``, ``"B/C"``, ``"C"``, or ``"unknown"`` without a grain size
        and not in C.
    alpha, beta, lam
        Le Claire's alpha and beta, and ``sqrt(D t) / d`` (NaN without a grain size or P).
    diffusion_length
        ``sqrt(D_bulk t)``, a :class:`Measured` length (m inside; µm in ``to_dict``).
    boundary_kind
        ``"fast"`` (beta > 0), ``"slow"`` (D_gb < D) or ``"unknown"`` (no P given).
    valid_analyses
        Names among ``"leclaire"``, ``"effective_d"``, ``"step"``, ``"inversion"``, ``"bulk_erfc"``.
    reasons
        One sentence per decision.
    """

    regime: str
    alpha: float
    beta: float
    lam: float
    diffusion_length: Measured
    boundary_kind: str
    valid_analyses: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def is_type_b(self) -> bool:
        return self.regime == "B"

    def to_dict(self) -> dict:
        clean = lambda x: x if math.isfinite(x) else None  # noqa: E731
        return {"regime": self.regime, "alpha": clean(self.alpha), "beta": clean(self.beta),
                "lambda": clean(self.lam), "diffusion_length_um": self.diffusion_length.value * 1e6,
                "boundary_kind": self.boundary_kind, "valid_analyses": list(self.valid_analyses),
                "reasons": list(self.reasons)}

    def _headline(self) -> tuple[str, str]:
        return "regime", self.regime

    def _plot(self, ax):
        """Mark this anneal on the (Lambda, alpha) plane with the regime borders."""
        ax.axvline(A_LAMBDA, color="0.5", ls="--")
        ax.axvline(B_LAMBDA, color="0.5", ls=":")
        ax.axhline(C_ALPHA, color="0.5", ls="--")
        ax.axhline(B_ALPHA, color="0.5", ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        if math.isfinite(self.lam) and math.isfinite(self.alpha):
            ax.plot([self.lam], [self.alpha], "o", label=f"regime {self.regime}")
            ax.legend()
        else:
            ax.set_title(f"regime {self.regime} (no grain size: Λ unknown)", fontsize=9)
        ax.set_xlabel("sqrt(D t) / d")
        ax.set_ylabel("alpha = s delta / (2 sqrt(D t))")


def harrison_regime(d_bulk, exchange_time, *, thickness="0.5 nm", grain_size=None, p=None,
                    segregation: float = 1.0) -> HarrisonRegime:
    """Harrison regime of an anneal of ``exchange_time`` with bulk diffusivity ``d_bulk``.

    Parameters
    ----------
    d_bulk, exchange_time : Measured, str or float
        Bulk diffusivity and anneal (exchange) time (text with units, or SI numbers).
    thickness : Measured, str or float
        Boundary width delta.
    grain_size : Measured, str or float, optional
        Mean grain size d; without it only C can be told apart from the rest.
    p : Measured, str or float, optional
        ``s delta D_gb`` (m^3/s) if known (from a Le Claire fit or an assumption): gives beta
        and the boundary kind.
    segregation : float
        Segregation factor s (> 0).
    """
    d_m, t_m = positive(d_bulk, "diffusivity", name="d_bulk"), positive(exchange_time, "time", name="exchange_time")
    d, t = d_m.value, t_m.value
    delta = positive(thickness, "length", name="thickness").value
    if not (isinstance(segregation, (int, float)) and math.isfinite(segregation) and segregation > 0):
        raise InputError(f"must be a positive number, got {segregation!r}", source="segregation")
    length = math.sqrt(d * t)
    alpha = segregation * delta / (2.0 * length)
    reasons = []
    beta, kind = math.nan, "unknown"
    if p is not None:
        pv = as_measured(p, "gb_transport", name="p").value
        beta = (pv - delta * d) / (2.0 * d * length)
        kind = "fast" if beta > 0 else "slow"
        reasons.append(f"beta = {beta:.3g}: boundaries are {'faster' if beta > 0 else 'slower'} than the bulk")
    lam = math.nan
    if grain_size is not None:
        lam = length / positive(grain_size, "length", name="grain_size").value
    if alpha >= C_ALPHA:
        regime = "C"
        reasons.append(f"alpha = {alpha:.3g} >= {C_ALPHA:g}: bulk diffusion length below the boundary width")
    elif math.isnan(lam):
        regime = "unknown"
        reasons.append("no grain size: A and B cannot be told apart")
    elif lam >= A_LAMBDA:
        regime = "A"
        reasons.append(f"sqrt(D t)/d = {lam:.3g} >= {A_LAMBDA:g}: diffusion fields of boundaries overlap")
    elif lam > B_LAMBDA:
        regime = "A/B"
        reasons.append(f"sqrt(D t)/d = {lam:.3g} between {B_LAMBDA:g} and {A_LAMBDA:g}: transitional")
    elif alpha > B_ALPHA:
        regime = "B/C"
        reasons.append(f"alpha = {alpha:.3g} between {B_ALPHA:g} and {C_ALPHA:g}: transitional")
    else:
        regime = "B"
        reasons.append(f"alpha = {alpha:.3g} <= {B_ALPHA:g} and sqrt(D t)/d = {lam:.3g} <= {B_LAMBDA:g}: "
                       "isolated boundaries with bulk leakage")
    valid = _valid(regime, kind, beta, reasons)
    # sqrt(D t): relative error half the quadrature sum of D's and t's
    length_se = 0.5 * length * math.hypot(d_m.stderr / d, t_m.stderr / t)
    return HarrisonRegime(regime, alpha, beta, lam, Measured(length, length_se, "length"), kind, valid, tuple(reasons))


def _valid(regime: str, kind: str, beta: float, reasons: list) -> tuple[str, ...]:
    if kind == "slow":
        reasons.append("slow boundaries: the step analysis or the inversion applies (G = D*gb/delta)")
        # the image analyses read single boundaries in any regime; in A the series model
        # (the slow-boundary effective D) also describes the long-range profile
        return ("step", "inversion", "effective_d") if regime in ("A", "A/B") else ("step", "inversion", "bulk_erfc")
    out = []
    if regime in ("B", "unknown", "B/C") and kind in ("fast", "unknown"):
        out.append("leclaire")
        if math.isfinite(beta) and beta < LECLAIRE_BETA:
            reasons.append(f"beta = {beta:.3g} < {LECLAIRE_BETA:g}: Le Claire's constant needs the "
                           "beta-dependent (Chung-Wuensch) correction")
    if regime in ("A", "A/B"):
        out.append("effective_d")
        reasons.append("type A: one effective D (Hart: f D_gb + (1 - f) D) describes the profile")
    if regime == "C":
        reasons.append("type C: only the boundary carries tracer; no bulk or Le Claire analysis")
    if kind == "unknown" and regime not in ("A", "C"):
        out += ["step", "inversion"]
    return tuple(out)


def hart_effective_diffusivity(d_bulk, d_gb, *, thickness, grain_size, geometry: float = 1.0) -> float:
    """Hart's ``D_eff = f D_gb + (1 - f) D`` with ``f = geometry * delta / d`` (1: parallel slabs)."""
    db = positive(d_bulk, "diffusivity", name="d_bulk").value
    dg = positive(d_gb, "diffusivity", name="d_gb").value
    f = geometry * positive(thickness, "length", name="thickness").value \
        / positive(grain_size, "length", name="grain_size").value
    if not 0 < f < 1:
        raise InputError(f"boundary fraction f = {f:.3g} must lie in (0, 1)", source="grain_size")
    return f * dg + (1.0 - f) * db
