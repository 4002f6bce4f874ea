"""Typed fields of the study file: quantities written with units, pixel counts and existing files.

Each field type converts TOML text to SI on load (:func:`tracerdiff.units.to_si`) and turns a
bare number, a wrong dimension, an unknown unit or an implausible value into an error naming
the key; :mod:`tracerdiff.study.schema` builds the study's models from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

from tracerdiff.errors import InputError
from tracerdiff.units import DIMENSIONS, check_plausible, parse_pixels, to_si, ureg


def unit_field(dimension: str, *, minimum: float | None = None, strict_min: bool = True,
                maximum: float | None = None, why_max: str = "", plausible: str | None = None):
    """An annotated float parsed from text with a unit; optional bounds (in SI) and plausible range
    (a kind of :data:`tracerdiff.units.PLAUSIBLE`, shared with the CLI)."""

    def parse(value):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"expected text with a unit, e.g. '1 {_example_unit(dimension)}'")
        try:
            out = to_si(value, dimension, name="")
        except InputError as exc:
            raise ValueError(str(exc)) from None
        if minimum is not None and (out <= minimum if strict_min else out < minimum):
            raise ValueError(f"{value!r} must be {'>' if strict_min else '>='} {minimum:g} "
                             f"(it is a {dimension.replace('_', ' ')})")
        if maximum is not None and out > maximum:
            raise ValueError(f"{value!r} is out of range: above {maximum:g} {DIMENSIONS[dimension][0]} {why_max}")
        if plausible is not None:
            try:
                check_plausible(out, plausible, text=value, name="")
            except InputError as exc:
                raise ValueError(str(exc)) from None
        return out

    return Annotated[float, BeforeValidator(parse)]


def _example_unit(dimension: str) -> str:
    return DIMENSIONS[dimension][1].replace("**", "^")


def _parse_area(value) -> float:
    if not isinstance(value, str):
        raise ValueError("expected text with a unit, e.g. '0.25 cm^2'")
    try:
        q = ureg.Quantity(value.replace("^", "**").replace("µ", "u"))
        out = float(q.to("m**2").magnitude)
    except Exception as exc:  # pint raises several unrelated types for bad text
        raise ValueError(f"{value!r} is not an area ({exc.__class__.__name__})") from None
    if not out > 0:
        raise ValueError(f"{value!r} must be > 0")
    return out


def _existing_file(value: str, info: ValidationInfo) -> Path:
    base = Path((info.context or {}).get("base_dir", "."))
    path = Path(value)
    path = path if path.is_absolute() else base / path
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, not a file")
    if not path.is_file():
        raise ValueError(f"file not found: {str(path)!r}")
    return path.resolve()


def _pixels_field(minimum: int):
    """An int parsed from ``1024``, ``"1024"`` or ``"1024px"`` (at least ``minimum``)."""

    def parse(value):
        try:
            return parse_pixels(value, name="", minimum=minimum)
        except InputError as exc:
            raise ValueError(exc.message) from None

    return Annotated[int, BeforeValidator(parse)]


#: The smallest tile core of :mod:`tracerdiff.boundaries.tiled` (``MIN_TILE_PX``; a test keeps them equal).
MIN_TILE_PX = 64
TilePixels = _pixels_field(MIN_TILE_PX)
HaloPixels = _pixels_field(0)


Length = unit_field("length", minimum=0.0)
PixelSize = unit_field("length", minimum=0.0, plausible="pixel_size")
GrainSize = unit_field("length", minimum=0.0, plausible="grain_size")
GrainSizeSD = unit_field("length", minimum=0.0, strict_min=False, plausible="grain_size_sd")
GbThickness = unit_field("length", minimum=0.0, plausible="gb_thickness")
SampleThickness = unit_field("length", minimum=0.0, plausible="sample_thickness")
Psf = unit_field("length", minimum=0.0, strict_min=False, plausible="psf")
Duration = unit_field("time", minimum=0.0, plausible="duration")
# No solid electrolyte survives 3000 K; a larger value is a typo (e.g. a unit slip), not an experiment.
MAX_TEMPERATURE_K = 3000.0
Temperature = unit_field("temperature", minimum=0.0, maximum=MAX_TEMPERATURE_K,
                          why_max="(no solid electrolyte survives it; check the value and unit)")
Diffusivity = unit_field("diffusivity", minimum=0.0, plausible="diffusivity")
NumberDensity = unit_field("number_density", minimum=0.0, plausible="number_density")
Area = Annotated[float, BeforeValidator(_parse_area)]
ExistingFile = Annotated[str, AfterValidator(_existing_file)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]
