"""Result objects of the boundary analysis (frozen dataclasses of Measured values)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tracerdiff.boundaries.summary import BoundarySummary, plot_fit, plot_map
from tracerdiff.errors import InputError
from tracerdiff.quantity import Measured
from tracerdiff.results import Result, display, unit_of


def _measured_dict(m: Measured) -> dict:
    """``m.to_dict()`` without a unit-registry call per value (thousands per image; the
    dimensions used here -- conductance, diffusivity, gradient, dimensionless -- convert by a
    factor)."""
    v, s, unit = display(m)
    clean = lambda x: float(x) if math.isfinite(x) else None  # noqa: E731
    return {"value": clean(v), "stderr": clean(s), "unit": unit}


@dataclass(frozen=True, repr=False)
class PopulationEstimate(Result):
    """The log-normal population of D*gb/delta behind a whole-image inversion.

    Attributes
    ----------
    median
        Population median (Measured, m/s; NaN when no boundary is determined by the image).
    log_sd
        Its log-standard deviation (None when undetermined).
    estimated
        False when the log-sd was fixed by the caller.
    median_log_stderr
        The ln-standard error of the median and its parts (see :mod:`tracerdiff.inversion.quality`).
    """

    median: Measured
    log_sd: float | None
    estimated: bool
    median_log_stderr: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The CLI schema: ``{"median": {value, stderr, unit (cm/s)}, "log_sd", "estimated", "median_log_stderr"}``."""
        return {"median": self.median.to_dict(), "log_sd": self.log_sd, "estimated": self.estimated,
                "median_log_stderr": dict(self.median_log_stderr)}


@dataclass(frozen=True, repr=False)
class BoundaryStep(Result):
    """D*gb/delta from the step at one boundary segment (or one user line).

    Attributes
    ----------
    grains
        (downstream, upstream) grain labels; (0, 0) for a user line.
    x_um, y_um
        Boundary position (segment centre, or where the line crosses the step), micrometres.
    length_um, orientation_deg, flux_angle_deg
        Segment length, its angle from the x axis, and the angle between its normal
        (or the user line) and the transport direction.
    dgb_over_delta, dgb
        Boundary conductance (m/s) and D*gb (m^2/s; NaN without a thickness).
    delta_c, gradient
        ΔC_gb across the boundary and the normal bulk gradient dC/dn at it (1/m),
        both measured towards the source.
    accepted, reason
        Whether the boundary enters the summary, and why not ("" when accepted).
    source
        "auto" (found in the image) or "line" (given by the user).
    """

    grains: tuple[int, int]
    x_um: float
    y_um: float
    length_um: float
    orientation_deg: float
    flux_angle_deg: float
    dgb_over_delta: Measured
    dgb: Measured
    delta_c: Measured
    gradient: Measured
    accepted: bool
    reason: str
    source: str = "auto"
    pixel_size_um: float = 1.0
    normal: tuple[float, float] = (0.0, 1.0)
    coef_down: tuple[float, ...] = ()
    coef_up: tuple[float, ...] = ()
    # Raw samples across the boundary (s in pixels, C, stderr), binned only when plotted.
    profile_s: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)
    profile_c: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)
    profile_se: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)
    # A fitted model at the same samples (whole-image inversion), drawn instead of polynomials.
    profile_model: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)
    # True when the profile_* arrays are already binned per pixel of s (the step analysis keeps
    # only that, summary.binned_profile, to bound a large map's memory); the plot draws them as they are.
    profile_binned: bool = field(default=False, compare=False, repr=False)

    @property
    def label(self) -> str:
        """Short name for plots: the grain pair, or where a user line crosses the step."""
        if self.source == "line":
            return f"line at ({self.x_um:.0f}, {self.y_um:.0f}) µm"
        return f"grains {self.grains[0]}|{self.grains[1]}"

    @property
    def endpoints_um(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Ends of the boundary segment (x, y), micrometres."""
        tx, ty = -self.normal[1], self.normal[0]
        half = self.length_um / 2
        return ((self.x_um - half * tx, self.y_um - half * ty), (self.x_um + half * tx, self.y_um + half * ty))

    def to_dict(self) -> dict:
        """JSON-ready fields; Measured values as {"value", "stderr", "unit"} (null when undefined)."""
        return {"grains": list(self.grains), "x_um": self.x_um, "y_um": self.y_um,
                "length_um": self.length_um, "orientation_deg": self.orientation_deg,
                "flux_angle_deg": self.flux_angle_deg,
                "dgb_over_delta": _measured_dict(self.dgb_over_delta), "dgb": _measured_dict(self.dgb),
                "delta_c": _measured_dict(self.delta_c), "gradient": _measured_dict(self.gradient),
                "accepted": bool(self.accepted), "reason": self.reason, "source": self.source}

    def _headline(self) -> tuple[str, str]:
        return "dgb_over_delta", str(self.dgb_over_delta)

    def _summary(self) -> list[tuple[str, str]]:
        return [("dgb_over_delta", str(self.dgb_over_delta)), ("where", self.label),
                ("position", f"({self.x_um:.4g}, {self.y_um:.4g}) µm"), ("length", f"{self.length_um:.4g} µm"),
                ("accepted", str(self.accepted) + (f" ({self.reason})" if self.reason else "")),
                ("dgb", str(self.dgb)), ("delta_c", str(self.delta_c)), ("gradient", str(self.gradient))]

    def _row(self) -> tuple[dict, dict]:
        row, units = {"grain_down": self.grains[0], "grain_up": self.grains[1]}, {}
        for name in ("x_um", "y_um", "length_um", "orientation_deg", "flux_angle_deg"):
            row[name], units[name] = getattr(self, name), unit_of(name)
        for name in ("dgb_over_delta", "dgb", "delta_c", "gradient"):
            v, s, unit = display(getattr(self, name))
            row[name], row[f"{name}_stderr"] = v, s
            units[name] = units[f"{name}_stderr"] = unit
        row.update(accepted=bool(self.accepted), reason=self.reason, source=self.source)
        return row, units

    def _rows(self):
        row, units = self._row()
        return [row], units

    def _plot(self, ax) -> None:
        """Binned C along the normal with the two polynomial fits."""
        plot_fit(self, ax)


@dataclass(frozen=True, repr=False)
class BoundaryAnalysis(Result):
    """Every boundary of an image analysed, with the summary over the accepted ones.

    Attributes
    ----------
    boundaries
        One :class:`BoundaryStep` per boundary segment or user line.
    summary
        Statistics of D*gb/delta over accepted boundaries (or all finite ones if asked).
    labels
        Grain label image (0 = no grain / no counts); all zeros on the line path.
    c
        The isotope-fraction map analysed (NaN where there were no counts).
    source_edge
        Edge the tracer came from ("top", "bottom", "left", "right").
    optical_shift_px
        (dy, dx) translation applied to the optical image, or None.
    population
        Whole-image inversion only: the estimated log-normal population of D*gb/delta
        (median, log-sd) that regularises the per-boundary values; None otherwise.
    grain_map
        Whole-image inversion only: the grain map's quality figure (cuts made where the map hid
        a step, grains the model leaves unexplained, their sum ``deficiency``; see
        :mod:`tracerdiff.inversion.quality`); None otherwise.
    message
        Why the result is empty or partial ("" otherwise).
    origin_um
        (y, x) of pixel (0, 0), micrometres: the input's coordinates (0, 0 for a bare array);
        boundary positions ``x_um``, ``y_um`` include it.
    """

    boundaries: tuple[BoundaryStep, ...]
    summary: BoundarySummary
    labels: np.ndarray = field(compare=False, repr=False)
    c: np.ndarray = field(compare=False, repr=False)
    pixel_size_um: float = 1.0
    source_edge: str = "bottom"
    optical_shift_px: tuple[float, float] | None = None
    include_flagged: bool = False
    message: str = ""
    population: PopulationEstimate | None = None
    grain_map: dict | None = None
    origin_um: tuple[float, float] = (0.0, 0.0)

    def as_dataarray(self, which: str = "c"):
        """The analysed C map (``"c"``, NaN without counts) or the grain ``"labels"`` as an
        :class:`xarray.DataArray` with y, x coordinates in µm (the input's, when it had them)."""
        import xarray as xr

        if which not in ("c", "labels"):
            raise InputError(f"which must be 'c' or 'labels', got {which!r}", source="which")
        data = np.asarray(getattr(self, which))
        h, w = data.shape
        px = self.pixel_size_um
        return xr.DataArray(data, dims=("y", "x"), name="C" if which == "c" else "labels",
                            coords={"y": self.origin_um[0] + px * np.arange(h), "x": self.origin_um[1] + px * np.arange(w)},
                            attrs={"units": "", "coordinate_units": "µm"})

    @property
    def accepted(self) -> tuple[BoundaryStep, ...]:
        """The boundaries that passed every quality check."""
        return tuple(b for b in self.boundaries if b.accepted)

    @property
    def flag_counts(self) -> dict[str, int]:
        """How many boundaries were flagged for each reason, most frequent first."""
        counts: dict[str, int] = {}
        for b in self.boundaries:
            if not b.accepted:
                counts[b.reason] = counts.get(b.reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    @property
    def n_grains(self) -> int:
        """Number of distinct grain labels (0 on the line path)."""
        return int(np.unique(self.labels[self.labels > 0]).size)

    def to_dict(self) -> dict:
        """The issue's JSON schema ("summary", "boundaries") plus counts, flag reasons and provenance."""
        out = {"summary": self.summary.to_dict(),
               "boundaries": [b.to_dict() for b in self.boundaries],
               "n_grains": self.n_grains, "n_boundaries": len(self.boundaries),
               "n_accepted": len(self.accepted), "flagged": self.flag_counts,
               "source_edge": self.source_edge, "pixel_size_um": self.pixel_size_um,
               "include_flagged": self.include_flagged, "message": self.message}
        if self.population is not None:
            out["population"] = self.population.to_dict()
        if self.grain_map is not None:
            out["grain_map"] = dict(self.grain_map)
        if self.optical_shift_px is not None:
            out["optical_shift_px"] = {"dy": self.optical_shift_px[0], "dx": self.optical_shift_px[1]}
        return out

    def _headline(self) -> tuple[str, str]:
        return "median D*gb/δ", str(self.summary.median)

    def _summary(self) -> list[tuple[str, str]]:
        h, w = np.shape(self.c)
        rows = [self._headline(), ("mean D*gb/δ", str(self.summary.mean)),
                ("geometric mean D*gb/δ", str(self.summary.geometric_mean)),
                ("boundaries", f"{len(self.accepted)} accepted of {len(self.boundaries)}"),
                ("grains", str(self.n_grains)),
                ("image", f"{h}×{w} px of {self.pixel_size_um:.4g} µm, source {self.source_edge}")]
        if self.population is not None:
            rows.append(("population median", f"{self.population.median}, log-sd "
                                              f"{self.population.log_sd if self.population.log_sd is None else round(self.population.log_sd, 3)}"))
        flags = ", ".join(f"{k} {v}" for k, v in list(self.flag_counts.items())[:3])
        if flags:
            rows.append(("flagged", flags))
        if self.message:
            rows.append(("message", self.message[:200] + ("…" if len(self.message) > 200 else "")))
        return rows

    def _rows(self):
        """One row per boundary (:class:`BoundaryStep` columns)."""
        rows, units = [], {}
        for b in self.boundaries:
            row, units = b._row()
            rows.append(row)
        return rows, units

    def plot(self, ax=None, *, fig=None, n_examples: int = 4):
        """C map with boundaries coloured by D*gb/delta; returns its axes.

        With ``ax`` given, only the map is drawn on it. Otherwise (``fig`` given, or a new figure)
        the map fills the top of the figure and ``n_examples`` example fits sit below it.
        """
        if ax is not None:
            plot_map(self, ax)
            return ax
        if fig is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(10, 7), layout="constrained")
        examples = _examples(self.boundaries, n_examples)
        n_cols = max(len(examples), 1)
        grid = fig.add_gridspec(2, n_cols, height_ratios=(2, 1))
        ax = fig.add_subplot(grid[0, :])
        plot_map(self, ax)
        for i, step in enumerate(examples):
            step.plot(fig.add_subplot(grid[1, i]))
        if not examples:
            # Say why the fit panel is empty instead of leaving a blank space.
            empty = fig.add_subplot(grid[1, 0])
            empty.axis("off")
            empty.text(0.5, 0.5, "no accepted boundary to show" + (f":\n{self.message}" if self.message else ""),
                       ha="center", va="center", wrap=True, transform=empty.transAxes)
        return ax


def _examples(boundaries, n: int) -> list[BoundaryStep]:
    """Accepted boundaries spanning the range of D*gb/delta (lowest, quantiles, highest)."""
    ok = [b for b in boundaries if b.accepted and math.isfinite(b.dgb_over_delta.value)]
    ok.sort(key=lambda b: b.dgb_over_delta.value)
    if len(ok) <= n:
        return ok
    idx = np.unique(np.round(np.linspace(0, len(ok) - 1, n)).astype(int))
    return [ok[i] for i in idx]
