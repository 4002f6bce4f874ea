"""The study file: one sample, its history, its measurements and reference data.

A study is written in TOML (see ``README.md`` for a worked example) and
validated by the pydantic models below. Every quantity is text with a unit
(``"59 h"``, ``"22 degC"``, ``"16 um"``, ``"2.6e-8 cm^2/s"``) and is converted
to SI on load via :func:`tracerdiff.units.to_si`; a bare number, a wrong
dimension or an unknown unit is an error naming the key. Unknown keys are
errors too (``extra="forbid"``), so a typo never silently drops data. File
paths are relative to the study file and must exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tracerdiff.errors import InputError
from tracerdiff.study.fields import (MAX_TEMPERATURE_K, Area, Diffusivity, Duration, ExistingFile, Fraction, GbThickness,
                                     GrainSize, GrainSizeSD, HaloPixels, Length, Name, NumberDensity, PixelSize, Psf,
                                     SampleThickness, Temperature, TilePixels, unit_field)
from tracerdiff.units import check_plausible, to_si


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Sample(_Strict):
    """The specimen and the constants of its analysis."""

    material: str
    grain_size: GrainSize
    grain_size_sd: GrainSizeSD = 0.0
    gb_thickness: GbThickness
    li_density: NumberDensity
    d_bulk: Diffusivity | None = None
    """D*bulk at the temperature of the images' steps (boundary-step analysis); else from D_NMR."""
    natural_fraction: Fraction = None  # type: ignore[assignment] - filled from tracer/other below
    """C0 of unexchanged material; default a_tracer/(a_tracer + a_other) from natural abundances (periodictable)."""
    enriched_fraction: Fraction = 0.95
    tracer: str = "6Li"
    """Tracer species in any notation ("18O", "^18O-"); with ``other`` it names the image/profile channels."""
    other: str = "7Li"

    @model_validator(mode="before")
    @classmethod
    def _isotope_pair(cls, data):
        return _isotope_pair(data)


def _isotope_pair(data):
    """Canonical tracer/other names and the default natural fraction (a sample's isotope pair)."""
    if not isinstance(data, dict):
        return data
    from tracerdiff.species import canonical_channel, natural_fraction

    data = dict(data)
    for key, default in (("tracer", "6Li"), ("other", "7Li")):
        value = data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{key}: expected a species name such as '18O', got {value!r}")
        data[key] = canonical_channel(value)
    if data["tracer"] == data["other"]:
        raise ValueError(f"tracer and other are the same species ({data['tracer']})")
    if data.get("natural_fraction") is None:
        try:
            data["natural_fraction"] = natural_fraction(data["tracer"], data["other"])
        except ValueError as exc:
            raise ValueError(f"natural_fraction: {exc}") from None
    return data


class Imaging(_Strict):
    """Conditions of the SIMS measurement itself (for the cryo-validity check)."""

    temperature: Temperature = 163.15  # -110 degC, the paper's cryo stage
    time_per_image: Duration = 5 * 3600.0
    resolution: PixelSize = 1e-6


class Step(_Strict):
    """One step of the sample's history."""

    name: Name
    kind: Literal["exchange", "storage", "anneal"]
    temperature: Temperature
    duration: Duration


class ImageMeasurement(_Strict):
    """A SIMS image taken after a step: two count files (tracer, other; ``li6``/``li7`` for lithium) or one
    vendor file holding both channels."""

    name: Name
    after: Name
    li6: ExistingFile | None = None
    li7: ExistingFile | None = None
    tracer_file: ExistingFile | None = None
    other_file: ExistingFile | None = None
    file: ExistingFile | None = None
    pixel_size: PixelSize | None = None
    optical: ExistingFile | None = None
    optical_pixel_size: PixelSize | None = None
    """Pixel size of the micrograph when it differs from the SIMS pixel size (it is then resampled)."""
    edge: Literal["auto", "top", "bottom", "left", "right"] = "auto"
    """Which side of the field of view the exchanged edge (liquid) is on."""

    @model_validator(mode="after")
    def _one_source(self):
        generic = self.tracer_file is not None or self.other_file is not None
        if generic and (self.li6 is not None or self.li7 is not None):
            raise ValueError("give 'tracer_file' + 'other_file' or the lithium shorthand 'li6' + 'li7', not both")
        if generic and (self.tracer_file is None or self.other_file is None):
            raise ValueError("give both 'tracer_file' and 'other_file' count files")
        if generic:
            object.__setattr__(self, "li6", self.tracer_file)  # one code path: the pair, tracer first
            object.__setattr__(self, "li7", self.other_file)
        pair = self.li6 is not None or self.li7 is not None
        if pair and (self.li6 is None or self.li7 is None):
            raise ValueError("give both 'li6' and 'li7' count files")
        if pair == (self.file is not None):
            raise ValueError("give either 'li6' + 'li7' or 'file', not both or neither")
        if pair and self.pixel_size is None:
            raise ValueError("'pixel_size' is required for plain count files")
        if pair and Path(self.li6).resolve() == Path(self.li7).resolve():
            raise ValueError(f"'li6' and 'li7' are the same file ({self.li6}); give the two isotopes' count files")
        return self


class LineScan(_Strict):
    """A line scan (position, counts) taken after a step, starting at the exchanged edge, or a depth
    profile from the exchanged surface (against depth, or sputter time with ``sputter_rate``/``crater_depth``)."""

    name: Name
    after: Name
    file: ExistingFile
    sputter_rate: unit_field("conductance", minimum=0.0) | None = None  # type: ignore[valid-type]
    crater_depth: Length | None = None

    @model_validator(mode="after")
    def _one_depth_scale(self):
        if self.sputter_rate is not None and self.crater_depth is not None:
            raise ValueError("give 'sputter_rate' or 'crater_depth', not both")
        return self


class DepthProfile(_Strict):
    """A depth profile or laterally averaged C̄(y) after a step, for the type-B (Le Claire) analysis."""

    name: Name
    after: Name
    file: ExistingFile
    kind: Literal["type_b"] = "type_b"
    source: Literal["constant", "instantaneous"] = "constant"
    time: Duration | None = None
    """Anneal time (default: the duration of the ``after`` step)."""
    d_bulk: Diffusivity | None = None
    segregation: Annotated[float, Field(gt=0.0)] = 1.0
    background: float = 0.0


class ReferencePoint(_Strict):
    temperature: Temperature
    value: str
    stderr: str | None = None


_SERIES_DIMENSION = {"d_nmr": "diffusivity", "sigma_bulk": "conductivity", "sigma_gb": "conductivity",
                     "sigma_total": "conductivity"}


class ReferenceSeries(_Strict):
    """Reference data versus temperature: D_NMR, or sigma_bulk / sigma_gb / sigma_total.

    Give ``points`` inline or a CSV ``file`` with units in its header
    (``temperature_C,D_cm2_s,D_stderr_cm2_s`` or ``temperature_K,sigma_S_cm,sigma_stderr_S_cm``).
    ``sigma_gb`` is the macroscopic (apparent) boundary conductivity L/(R_gb A), the
    quantity impedance papers tabulate; in the brick-layer model it equals
    (l/delta) x the specific boundary conductivity.
    """

    name: Name
    kind: Literal["d_nmr", "sigma_bulk", "sigma_gb", "sigma_total"]
    points: list[ReferencePoint] | None = Field(default=None, min_length=1)
    file: ExistingFile | None = None

    @model_validator(mode="after")
    def _values_have_units(self):
        if (self.points is None) == (self.file is None):
            raise ValueError("give either 'points' or 'file'")
        dim = _SERIES_DIMENSION[self.kind]
        for i, p in enumerate(self.points or []):
            for key in ("value", "stderr"):
                text = getattr(p, key)
                if text is None:
                    continue
                try:
                    v = to_si(text, dim, name="")
                except InputError as exc:
                    raise ValueError(f"points[{i}].{key}: {exc}") from None
                if v < 0 or (key == "value" and v == 0):
                    raise ValueError(f"points[{i}].{key}: {text!r} must be positive")
                if key == "value":
                    try:
                        check_plausible(v, dim, text=text, name="")
                    except InputError as exc:
                        raise ValueError(f"points[{i}].{key}: {exc}") from None
        return self

    def values_si(self) -> list[tuple[float, float, float]]:
        """(T in K, value SI, stderr SI) per point; reads ``file`` if given (errors name it)."""
        dim = _SERIES_DIMENSION[self.kind]
        if self.file is not None:
            from tracerdiff.io import read_series_table as read_series_csv

            q = "D" if self.kind == "d_nmr" else "sigma"
            cols = read_series_csv(self.file, required=("temperature", q), optional=(f"{q}_stderr",))
            err = cols.get(f"{q}_stderr", [0.0] * len(cols[q]))
            out = [(float(t), float(v), float(e)) for t, v, e in zip(cols["temperature"], cols[q], err)]
            for t, v, e in out:
                if not (0 < t <= MAX_TEMPERATURE_K and v > 0 and e >= 0):
                    raise InputError(f"temperature outside (0, {MAX_TEMPERATURE_K:g}] K, non-positive value, or "
                                     f"negative stderr, at T = {t:g} K",
                                     source=self.file)
                check_plausible(v, dim, text=f"{v:g} (SI) at T = {t:g} K", name=str(self.file))
            return out
        return [(p.temperature, to_si(p.value, dim), 0.0 if p.stderr is None else to_si(p.stderr, dim))
                for p in self.points]


class ImpedanceSpectrum(_Strict):
    """A raw impedance spectrum: CSV with columns frequency (Hz), Z' (ohm), Z'' (ohm)."""

    name: Name
    temperature: Temperature
    file: ExistingFile
    thickness: SampleThickness
    area: Area


class Measurements(_Strict):
    images: list[ImageMeasurement] = []
    line_scans: list[LineScan] = []
    profiles: list[DepthProfile] = []


class Reference(_Strict):
    series: list[ReferenceSeries] = []
    impedance: list[ImpedanceSpectrum] = []


class Options(_Strict):
    """Analysis options (all optional)."""

    boundary_source: Literal["auto", "image", "optical"] = "auto"
    """Where boundaries come from: "optical" micrographs, the C "image", or "auto" (optical when given)."""
    boundary_method: Literal["steps", "inversion"] = "steps"
    """"steps": the paper's step fit at each boundary; "inversion": the whole-image network fit
    (tracerdiff.inversion: better per-boundary values, needs a complete grain map, ~18 s per 512 x 206 image)."""
    psf: Psf = 0.0
    """Gaussian beam sigma of the SIMS images, used by the inversion (e.g. "0.5 um")."""
    tile: TilePixels | None = None
    """Step analysis of each image in square tiles of this many pixels (e.g. "1024px"), each a task:
    memory bounded by the tile, for large mosaics. Needs every image's ``edge`` and the C-map boundaries."""
    tile_halo: HaloPixels | None = None
    """Margin analysed around each tile (default "128px"); smaller than ``tile``."""

    @model_validator(mode="after")
    def _tiling(self):
        if self.tile_halo is not None and self.tile is None:
            raise ValueError("tile_halo: applies only with options.tile")
        if self.tile is not None and self.tile_halo is not None and self.tile_halo >= self.tile:
            raise ValueError(f"tile_halo: must be smaller than tile ({self.tile} px), got {self.tile_halo} px")
        if self.tile is not None and self.boundary_method != "steps":
            raise ValueError("tile: the tiled analysis is the step method's; drop options.tile or use "
                             "boundary_method = \"steps\"")
        return self


class Study(_Strict):
    """A whole study file."""

    title: str = ""
    sample: Sample
    imaging: Imaging = Imaging()
    steps: list[Step] = Field(min_length=1)
    measurements: Measurements = Measurements()
    reference: Reference = Reference()
    options: Options = Options()

    @model_validator(mode="after")
    def _names_consistent(self):
        step_names = [s.name for s in self.steps]
        dup = {n for n in step_names if step_names.count(n) > 1}
        if dup:
            raise ValueError(f"steps: duplicate step names {sorted(dup)}")
        for group in ("images", "line_scans", "profiles"):
            items = getattr(self.measurements, group)
            names = [m.name for m in items]
            for i, m in enumerate(items):
                if m.after not in step_names:
                    raise ValueError(f"measurements.{group}[{i}].after: unknown step {m.after!r} "
                                     f"(steps are {step_names})")
                if names.count(m.name) > 1:
                    raise ValueError(f"measurements.{group}[{i}].name: duplicate name {m.name!r}")
        if self.options.tile is not None:
            for i, im in enumerate(self.measurements.images):
                if im.edge == "auto":
                    raise ValueError(f"measurements.images[{i}].edge: options.tile needs the exchanged edge "
                                     "(top, bottom, left or right): a tile does not see the image's large-scale trend")
                if im.optical is not None and self.options.boundary_source != "image":
                    raise ValueError(f"measurements.images[{i}].optical: options.tile takes the boundaries from "
                                     "the C map; set options.boundary_source = \"image\" or drop options.tile")
        if self.options.boundary_source == "optical":
            for i, im in enumerate(self.measurements.images):
                if im.optical is None:
                    raise ValueError(f"measurements.images[{i}].optical: required by "
                                     "options.boundary_source = 'optical'")
        return self

    def step_index(self, name: str) -> int:
        """Position of the step called ``name`` in the history."""
        return [s.name for s in self.steps].index(name)
