"""Brick-layer and Maxwell-Garnett effective diffusivities, and when the series model holds.

Grains are cubes (squares in 2D) of edge ``l`` separated by boundaries of
thickness ``delta``; the unit cell has edge l + delta. Concentration is taken
as continuous across the grain/boundary interface (no segregation factor).

* **Brick layer** (parallel-series unit cell): a column of cross-section
  a^(d-1), a = l/(l + delta), crosses grain and boundary in series
  (the slow-boundary path, D_series = (l + delta)/(l/D*bulk + delta/D*gb));
  the remaining 1 - a^(d-1) is boundary parallel to the flux (the fast-boundary
  path). D*eff = a^(d-1) D_series + (1 - a^(d-1)) D*gb.
* **Maxwell-Garnett**: grains (volume fraction phi = a^d) as inclusions in a
  continuous boundary matrix (``matrix="boundary"``, the natural picture of a
  polycrystal), or boundaries as inclusions in a bulk matrix (``"bulk"``).
  The two choices are the Hashin-Shtrikman bounds.

For D*gb << D*bulk and delta << l both reduce to the series model
1/(1/D*bulk + 1/(l D*gb/delta)) of :mod:`tracerdiff.models.series`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracerdiff.errors import InputError
from tracerdiff.models._common import as_measured, positive, u
from tracerdiff.quantity import Measured
from tracerdiff.results import Result


@dataclass(frozen=True, repr=False)
class BrickLayerResult(Result):
    """D*eff with the contributions of the series (slow-boundary) and parallel (fast-boundary) paths."""

    d_eff: Measured
    series_path: Measured
    parallel_path: Measured
    dominant_path: str
    dimensions: int


@dataclass(frozen=True, repr=False)
class RegimeCheck(Result):
    """Whether the series model applies: ``ok`` if every flag is True; ``reasons`` explain failures."""

    ok: bool
    flags: dict
    reasons: tuple
    factor: float

    def _headline(self) -> tuple[str, str]:
        return "ok", str(self.ok)


def _inputs(d_bulk, d_gb, grain_size, thickness, dimensions):
    if dimensions not in (1, 2, 3):
        raise InputError(f"dimensions must be 1, 2 or 3, got {dimensions!r}", source="dimensions")
    return (positive(d_bulk, "diffusivity", name="d_bulk"), positive(d_gb, "diffusivity", name="d_gb"),
            positive(grain_size, "length", name="grain_size"), positive(thickness, "length", name="thickness"))


def brick_layer_effective_diffusivity(d_bulk, d_gb, grain_size, thickness, *,
                                      dimensions: int = 3) -> BrickLayerResult:
    """Brick-layer D*eff = a^(d-1) D_series + (1 - a^(d-1)) D*gb, a = l/(l + delta).

    Parameters
    ----------
    d_bulk, d_gb : Measured, str or float
        Grain and boundary diffusivities ("diffusivity"), > 0.
    grain_size, thickness : Measured, str or float
        Grain edge l and boundary thickness delta ("length"), > 0.
    dimensions : int
        1 (pure series), 2 or 3.
    """
    db, dg, length, delta = _inputs(d_bulk, d_gb, grain_size, thickness, dimensions)
    a = u(length) / (u(length) + u(delta))
    area_series = a ** (dimensions - 1)
    d_series = (u(length) + u(delta)) / (u(length) / u(db) + u(delta) / u(dg))
    series = area_series * d_series
    parallel = (1 - area_series) * u(dg)
    total = Measured.from_ufloat(series + parallel, "diffusivity")
    sp = Measured.from_ufloat(series, "diffusivity")
    pp = Measured.from_ufloat(parallel if dimensions > 1 else 0.0, "diffusivity")
    return BrickLayerResult(total, sp, pp, "series" if sp.value >= pp.value else "parallel", dimensions)


def maxwell_garnett_effective_diffusivity(d_bulk, d_gb, grain_size, thickness, *, dimensions: int = 3,
                                          matrix: str = "boundary") -> Measured:
    """Maxwell-Garnett D*eff for grains in a boundary matrix (or the reverse).

    D*eff = Dm [Di + (d-1) Dm + (d-1) phi (Di - Dm)] / [Di + (d-1) Dm - phi (Di - Dm)],
    with inclusion fraction phi: grains phi = (l/(l + delta))^d for
    ``matrix="boundary"``; boundaries 1 - that for ``matrix="bulk"``.
    """
    if matrix not in ("boundary", "bulk"):
        raise InputError(f"matrix must be 'boundary' or 'bulk', got {matrix!r}", source="matrix")
    db, dg, length, delta = _inputs(d_bulk, d_gb, grain_size, thickness, dimensions)
    if dimensions == 1:
        raise InputError("Maxwell-Garnett needs dimensions 2 or 3 (1D is the series model)", source="dimensions")
    grains = (u(length) / (u(length) + u(delta))) ** dimensions
    if matrix == "boundary":
        dm, di, phi = u(dg), u(db), grains
    else:
        dm, di, phi = u(db), u(dg), 1 - grains
    k = dimensions - 1
    d_eff = dm * (di + k * dm + k * phi * (di - dm)) / (di + k * dm - phi * (di - dm))
    return Measured.from_ufloat(d_eff, "diffusivity")


def series_regime(d_bulk, dgb_over_delta, grain_size, *, thickness=None, d_eff=None, exchange_time=None,
                  factor: float = 10.0) -> RegimeCheck:
    """Check the series model's conditions; "much greater" means by at least ``factor``.

    Flags: ``slow_boundaries`` (D*bulk >= factor * D*gb; needs ``thickness``),
    ``thin_boundaries`` (l >= factor * delta), ``long_range``
    (sqrt(D*eff t) >= factor * l; needs ``d_eff`` and ``exchange_time``). A flag whose
    inputs are missing is left out and a reason says so; ``ok`` needs every
    present flag True and at least the long-range flag present.
    """
    if not factor > 1:
        raise InputError(f"factor must be > 1, got {factor}", source="factor")
    db = positive(d_bulk, "diffusivity", name="d_bulk")
    g = positive(dgb_over_delta, "conductance", name="dgb_over_delta")
    length = positive(grain_size, "length", name="grain_size")
    flags, reasons = {}, []
    if thickness is not None:
        delta = positive(thickness, "length", name="thickness")
        dgb = g.value * delta.value
        flags["slow_boundaries"] = db.value >= factor * dgb
        if not flags["slow_boundaries"]:
            reasons.append(f"D*bulk/D*gb = {db.value / dgb:.3g} < {factor:g}: boundaries are not slow; "
                           "use the brick-layer/Maxwell-Garnett or type-B (Le Claire) analysis")
        flags["thin_boundaries"] = length.value >= factor * delta.value
        if not flags["thin_boundaries"]:
            reasons.append(f"l/delta = {length.value / delta.value:.3g} < {factor:g}: boundaries not thin")
    else:
        reasons.append("no boundary thickness given: D*bulk >> D*gb not checked")
    if d_eff is not None and exchange_time is not None:
        deff = as_measured(d_eff, "diffusivity", name="d_eff")
        t = positive(exchange_time, "time", name="exchange_time")
        reach = (max(deff.value, 0.0) * t.value) ** 0.5
        flags["long_range"] = reach >= factor * length.value
        if not flags["long_range"]:
            reasons.append(f"sqrt(D*eff t) = {reach * 1e6:.3g} um is not >> l = {length.value * 1e6:.3g} um "
                           f"(ratio {reach / length.value:.3g} < {factor:g}): profile resolves single grains")
    else:
        reasons.append("no D*eff and exchange time given: sqrt(D*eff t) >> l not checked")
    ok = "long_range" in flags and all(flags.values())
    return RegimeCheck(bool(ok), {k: bool(v) for k, v in flags.items()}, tuple(reasons), float(factor))
