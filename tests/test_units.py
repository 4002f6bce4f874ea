"""Unit parsing (tracerdiff.units) and the Measured result type (tracerdiff.quantity)."""

import json
import math

import pint
import pytest

from tracerdiff.errors import InputError
from tracerdiff.quantity import Measured
from tracerdiff.units import DIMENSIONS, celsius_to_kelvin, display_unit, from_si, pretty_unit, to_si


@pytest.mark.parametrize("text, dimension, si", [
    ("2.6e-8 cm^2/s", "diffusivity", 2.6e-12),
    ("2.6e-8 cm**2/s", "diffusivity", 2.6e-12),
    ("1.5e-6 cm/s", "conductance", 1.5e-8),
    ("16 um", "length", 16e-6),
    ("16 µm", "length", 16e-6),
    ("0.5nm", "length", 5e-10),
    ("1.1 1/cm", "gradient", 110.0),
    ("5 h", "time", 18000.0),
    ("2w", "time", 14 * 86400.0),
    ("-110 degC", "temperature", 163.15),
    ("300 K", "temperature", 300.0),
    ("0.43 eV", "energy", 0.43 * 1.602176634e-19),
    ("1e-3 S/cm", "conductivity", 0.1),
    ("5e21 cm^-3", "number_density", 5e27),
    ("0.02", "dimensionless", 0.02),
])
def test_to_si(text, dimension, si):
    assert to_si(text, dimension) == pytest.approx(si, rel=1e-12)


def test_bare_numbers_need_a_unit_or_default():
    with pytest.raises(InputError, match="has no unit"):
        to_si("2.6e-8", "diffusivity", name="--d-bulk")
    with pytest.raises(InputError, match="has no unit"):
        to_si(2.6e-8, "diffusivity")
    assert to_si("16", "length", default_unit="um") == pytest.approx(16e-6)
    assert to_si(16, "length", default_unit="um") == pytest.approx(16e-6)


@pytest.mark.parametrize("text, dimension, match", [
    ("2.6e-8 cm/s", "diffusivity", "not a diffusivity"),
    ("2.6e-8 furlongs/fortnight^3", "diffusivity", "unknown unit|not a diffusivity"),
    ("fast", "diffusivity", "cannot read"),
    ("1 m", "colour", "unknown dimension"),
    ("inf m", "length", "cannot read|not a finite"),
])
def test_to_si_errors_name_the_source(text, dimension, match):
    with pytest.raises(InputError, match=match) as info:
        to_si(text, dimension, name="--x")
    if dimension != "colour":
        assert str(info.value).startswith("--x: ")


def test_pint_quantities_and_round_trip():
    q = pint.UnitRegistry().Quantity(2.0, "cm")
    assert to_si(str(q), "length") == pytest.approx(0.02)
    assert from_si(2.6e-12, "diffusivity") == pytest.approx(2.6e-8, rel=1e-12)
    assert from_si(2.6e-12, "diffusivity", "m**2/s") == 2.6e-12
    assert from_si(1.6e-5, "length") == pytest.approx(16.0)


def test_display_units_and_helpers():
    assert display_unit("diffusivity") == "cm^2/s" and pretty_unit("cm**2/s") == "cm^2/s"
    assert celsius_to_kelvin(27) == pytest.approx(300.15)
    assert set(DIMENSIONS) >= {"diffusivity", "conductance", "length", "gradient", "time", "temperature",
                               "energy", "conductivity", "number_density", "dimensionless"}


def test_measured_parse_and_to_dict():
    m = Measured.parse("2.6e-8 cm^2/s", "diffusivity", stderr="0.3e-8 cm^2/s", name="--d-bulk")
    assert m.value == pytest.approx(2.6e-12) and m.stderr == pytest.approx(0.3e-12)
    d = m.to_dict()
    assert d == {"value": pytest.approx(2.6e-8), "stderr": pytest.approx(0.3e-8), "unit": "cm^2/s"}
    assert m.to("m**2/s") == pytest.approx((2.6e-12, 0.3e-12))
    assert m.relative_stderr == pytest.approx(0.3 / 2.6)
    assert "cm^2/s" in str(m) and float(m) == m.value
    json.dumps(d)


def test_measured_energy_displays_in_ev_and_nan_stderr_is_null():
    m = Measured(0.43 * 1.602176634e-19, math.nan, "energy")
    d = m.to_dict()
    assert d["unit"] == "eV" and d["value"] == pytest.approx(0.43) and d["stderr"] is None


def test_measured_rejects_unknown_dimension_and_negative_stderr():
    with pytest.raises(InputError, match="unknown dimension"):
        Measured(1.0, 0.0, "colour")
    with pytest.raises(InputError, match="negative"):
        Measured.parse("1 um", "length", stderr="-1 um")


def test_measured_ufloat_round_trip():
    m = Measured(2.0, 0.1, "length")
    u = m.to_ufloat()
    back = Measured.from_ufloat(u * 2, "length")
    assert back.value == 4.0 and back.stderr == pytest.approx(0.2)
    assert Measured.from_ufloat(3.0, "length") == Measured(3.0, 0.0, "length")


def test_temperature_to_dict_keeps_kelvin():
    t = Measured.parse("27 degC", "temperature")
    assert t.to_dict() == {"value": pytest.approx(300.15), "stderr": 0.0, "unit": "K"}


@pytest.mark.parametrize("text", ["2.6e-8 cm^2/s)", "2.6e-8 #*,K", "2.6e-8 U7e/0:'", "2.6e-8 9T.B)"])
def test_malformed_unit_text_is_an_input_error_not_a_crash(text):
    # pint's tokenizer/evaluator raised TokenError, AssertionError and ZeroDivisionError for these
    # (found by random unit strings); the CLI showed a traceback
    with pytest.raises(InputError, match="--d-bulk"):
        to_si(text, "diffusivity", name="--d-bulk")


def test_unit_hints_use_display_notation():
    # the hints showed pint's 'cm**2/s' and "is not a dimensionless (expected units like a pure number)"
    with pytest.raises(InputError, match=r"expected units like cm\^2/s\)$"):
        to_si("2.6e-8 cm", "diffusivity", name="--d-bulk")
    with pytest.raises(InputError, match=r"--step: '0.02 cm' is not a pure number$"):
        to_si("0.02 cm", "dimensionless", name="--step")
    with pytest.raises(InputError, match=r"give one, e.g. '2.6e-8 cm\^2/s'$"):
        to_si("2.6e-8", "diffusivity", name="--d-bulk")
