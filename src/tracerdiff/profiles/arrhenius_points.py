"""Collect D values with their temperatures from several profile fits, then Arrhenius and cryo checks.

The Arrhenius fit and the cryo-validity verdict are :mod:`tracerdiff.models`'
(:func:`~tracerdiff.models.arrhenius.fit_arrhenius`,
:func:`~tracerdiff.models.cryo.cryo_validity`); this module only gathers the inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tracerdiff.errors import InputError
from tracerdiff.quantity import Measured

#: Cryo-SIMS imaging temperature of the paper (-110 degC), K.
CRYO_TEMPERATURE_K = 163.15


@dataclass(frozen=True)
class SeriesPoint:
    """One D at one temperature; ``label`` says where it came from (e.g. "erfc 110 h")."""

    temperature_k: float
    d: Measured
    label: str = ""

    def to_dict(self) -> dict:
        return {"temperature": Measured(self.temperature_k, 0.0, "temperature").to_dict(),
                "d": self.d.to_dict(), "label": self.label}


@dataclass(frozen=True)
class DiffusivitySeries:
    """An immutable series of (T, D) points; :meth:`add` and :meth:`add_fit` return a longer series."""

    name: str = "D*eff"
    points: tuple = ()

    def add(self, temperature_k: float, d: Measured, *, label: str = "") -> "DiffusivitySeries":
        """Append a point; ``d`` a diffusivity Measured (SI), ``temperature_k`` in K."""
        if not (isinstance(d, Measured) and d.dimension == "diffusivity"):
            raise InputError(f"expected a diffusivity Measured, got {d!r}", source=self.name)
        if not (math.isfinite(temperature_k) and temperature_k > 0):
            raise InputError(f"temperature must be > 0 K, got {temperature_k!r}", source=self.name)
        if not (d.value > 0):
            raise InputError(f"D must be > 0 for an Arrhenius series, got {d.value!r} m^2/s", source=label or self.name)
        return DiffusivitySeries(self.name, self.points + (SeriesPoint(float(temperature_k), d, label),))

    def add_fit(self, fit, temperature_k: float, *, step: str | None = None, label: str = "") -> "DiffusivitySeries":
        """Append D from an :class:`~tracerdiff.profiles.ErfcFit` or, for ``step``, an
        :class:`~tracerdiff.profiles.EvolutionFit` (default: its first step)."""
        if hasattr(fit, "d") and isinstance(fit.d, dict):
            key = step if step is not None else next(iter(fit.d))
            if key not in fit.d:
                raise InputError(f"fit has no step {key!r}; steps: {list(fit.d)}", source=self.name)
            return self.add(temperature_k, fit.d[key], label=label or f"evolution {key}")
        return self.add(temperature_k, fit.d_eff, label=label or getattr(fit, "model", "fit"))

    @property
    def temperatures_k(self) -> list[float]:
        """Temperatures of the points, K, in the order added."""
        return [p.temperature_k for p in self.points]

    def arrhenius(self, *, weighted: bool = True):
        """Ea and D0 by :func:`tracerdiff.models.fit_arrhenius` (weighted by the stderrs when all are known)."""
        from tracerdiff.models.arrhenius import fit_arrhenius

        if len(self.points) < 2:
            raise InputError(f"an Arrhenius fit needs two or more points, the series has {len(self.points)}",
                             source=self.name)
        d = [p.d.value for p in self.points]
        errs = [p.d.stderr for p in self.points]
        use_err = weighted and all(math.isfinite(e) and e > 0 for e in errs)
        return fit_arrhenius(self.temperatures_k, d, errs if use_err else None, name=self.name)

    def extrapolate(self, temperature_k: float = CRYO_TEMPERATURE_K) -> Measured:
        """D at ``temperature_k`` from the Arrhenius fit (default -110 degC)."""
        return self.arrhenius().predict(temperature_k)

    def cryo_validity(self, *, imaging_time: float, resolution: float,
                      temperature_k: float = CRYO_TEMPERATURE_K):
        """Is an image of ``imaging_time`` (s) at ``resolution`` (m) valid at ``temperature_k``?

        Returns :class:`tracerdiff.models.cryo.CryoValidity` (diffusion length sqrt(2 D t) vs resolution).
        """
        from tracerdiff.models.cryo import cryo_validity

        return cryo_validity(self.extrapolate(temperature_k), Measured(imaging_time, 0.0, "time"),
                             Measured(resolution, 0.0, "length"))

    def to_dict(self) -> dict:
        return {"name": self.name, "points": [p.to_dict() for p in self.points]}

    def plot(self, ax):
        """Arrhenius plot (data, fit and band) via the fit's own plot."""
        return self.arrhenius().plot(ax, label=self.name)
