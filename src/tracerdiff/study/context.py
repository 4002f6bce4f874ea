"""What the analyses of one run share: the study, loaded data, results, figures, tables."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from tracerdiff.profiles.arrhenius_points import SeriesPoint
from tracerdiff.quantity import Measured
from tracerdiff.study.schema import Study


@dataclass(frozen=True)
class Figure:
    """A rendered figure: the report section it belongs to, its file stem, PNG bytes, caption."""

    section: str
    name: str
    png: bytes
    caption: str


@dataclass
class RunContext:
    """Mutable state of one ``tracerdiff run``; analyses read earlier results and add their own.

    Attributes
    ----------
    results
        Analysis name -> JSON-safe dict (``status`` "done" / "skipped" / "failed", ``note``, values).
    series
        Arrhenius series name -> points (SI), filled by the data analyses, fitted later.
    fits
        Series name -> :class:`tracerdiff.models.ArrheniusFit`.
    """

    study: Study
    study_path: Path
    out: Path
    images: dict = field(default_factory=dict)
    optical: dict = field(default_factory=dict)
    scans: dict = field(default_factory=dict)
    spectra: dict = field(default_factory=dict)
    reference_values: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    series: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)
    tables: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)

    def add_point(self, series: str, temperature: float, value: Measured, origin: str) -> None:
        """Add a point (T in K, SI value) to an Arrhenius series."""
        self.series.setdefault(series, []).append(SeriesPoint(float(temperature), value, origin))

    def skip(self, analysis: str, note: str) -> dict:
        """Record ``analysis`` as skipped with the reason ``note``; returns its result entry."""
        self.results[analysis] = {"status": "skipped", "note": note}
        return self.results[analysis]

    def add_figure(self, section: str, name: str, fig, caption: str) -> None:
        """Write ``fig`` to ``figures/<name>.png`` (atomically) and keep its PNG for the report."""
        from tracerdiff.report.atomic import write_png_atomic

        png = write_png_atomic(self.out / "figures" / f"{name}.png", fig)
        self.figures.append(Figure(section, name, png, caption))

    def d_bulk_at(self, temperature: float) -> tuple[Measured | None, str]:
        """D*bulk at ``temperature``.

        ``sample.d_bulk`` holds at the temperatures of the steps before the images (where the
        boundary steps are measured); elsewhere, and when it is absent, D*bulk comes from the
        D_NMR Arrhenius fit, else from a D_NMR point at that temperature.
        """
        s = self.study
        image_temps = [s.steps[s.step_index(im.after)].temperature for im in s.measurements.images]
        if s.sample.d_bulk is not None and any(math.isclose(t, temperature, abs_tol=1.0) for t in image_temps):
            return Measured(s.sample.d_bulk, 0.0, "diffusivity"), "sample.d_bulk"
        if "D_NMR" in self.fits:
            return self.fits["D_NMR"].predict(temperature), "Arrhenius fit of the D_NMR series"
        for p in self.series.get("D_NMR", []):
            if math.isclose(p.temperature_k, temperature, abs_tol=1.0):
                return p.value, f"D_NMR point at {p.temperature_k - 273.15:g} degC"
        return None, (f"no D*bulk at {temperature - 273.15:g} degC: give sample.d_bulk (image temperatures) "
                      "or a D_NMR series")
