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
from tracerdiff.results import Result

#: Cryo-SIMS imaging temperature of the paper (-110 degC), K.
CRYO_TEMPERATURE_K = 163.15


@dataclass(frozen=True, repr=False)
class SeriesPoint(Result):
    """One point of an Arrhenius series: temperature (K), value (a SI :class:`Measured`) and
    where it came from (e.g. "erfc fit of scan 3"). Used by :class:`DiffusivitySeries` and by the
    study runner's series."""

    temperature_k: float
    value: Measured
    origin: str = ""

    def to_dict(self) -> dict:
        return {"temperature_K": self.temperature_k, "value": self.value.to_dict(), "origin": self.origin}

    def _headline(self) -> tuple[str, str]:
        return "value", str(self.value)

    def _plot(self, ax) -> None:
        v, s = self.value.to()
        ax.errorbar([1000 / self.temperature_k], [v], yerr=[s], fmt="o", label=self.origin or None)
        ax.set_yscale("log")
        ax.set_xlabel("1000/T (1/K)")
        ax.set_ylabel(f"value ({self.value.unit})")


@dataclass(frozen=True, repr=False)
class DiffusivitySeries(Result):
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

    def _headline(self) -> tuple[str, str]:
        return "points", str(len(self.points))

    def _summary(self) -> list[tuple[str, str]]:
        rows = [("name", self.name), self._headline()]
        return rows + [(f"{p.temperature_k:.5g} K", f"{p.value}" + (f" ({p.origin})" if p.origin else ""))
                       for p in self.points[:10]]

    def _rows(self):
        """One row per point: temperature (K), D and stderr (display units), origin."""
        rows, unit = [], ""
        for p in self.points:
            v, s = p.value.to()
            unit = p.value.unit
            rows.append({"temperature_K": p.temperature_k, "d": v, "d_stderr": s, "origin": p.origin})
        return rows, {"temperature_K": "K", "d": unit, "d_stderr": unit, "origin": ""}

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
        d = [p.value.value for p in self.points]
        errs = [p.value.stderr for p in self.points]
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

    def _plot(self, ax):
        """Arrhenius plot (data, fit and band) via the fit's own plot (the points alone when fewer than two)."""
        if len(self.points) < 2:
            for p in self.points:
                p.plot(ax)
            return
        self.arrhenius().plot(ax, label=self.name)
