"""D values from profile fits collected into an Arrhenius series (models.fit_arrhenius underneath)."""

import math

import pytest

from tracerdiff.errors import InputError
from tracerdiff.profiles.arrhenius_points import CRYO_TEMPERATURE_K, DiffusivitySeries
from tracerdiff.quantity import Measured

KB_EV = 8.617333262e-5  # Boltzmann constant, eV/K


def _paper_series():
    # Fig. 4: 3.0e-9 cm^2/s at 22 C (storage) and 6.6e-6 cm^2/s at 200 C (anneal)
    s = DiffusivitySeries("D*eff")
    s = s.add(295.15, Measured(3.0e-13, 0.0, "diffusivity"), label="storage 22 C")
    return s.add(473.15, Measured(6.6e-10, 0.0, "diffusivity"), label="anneal 200 C")


def test_two_points_give_the_hand_derived_activation_energy_and_extrapolation():
    s = _paper_series()
    fit = s.arrhenius(weighted=False)
    # Ea = kB ln(D2/D1) / (1/T1 - 1/T2) = 0.5207 eV (two points: the line passes through both)
    ea = KB_EV * math.log(6.6e-10 / 3.0e-13) / (1 / 295.15 - 1 / 473.15)
    assert fit.activation_energy.to("eV")[0] == pytest.approx(ea, rel=1e-9)
    d_cryo = 3.0e-13 * math.exp(-ea / KB_EV * (1 / CRYO_TEMPERATURE_K - 1 / 295.15))
    assert s.extrapolate().value == pytest.approx(d_cryo, rel=1e-9)
    v = s.cryo_validity(imaging_time=5 * 3600.0, resolution=1e-6)
    # sqrt(2 D t) at -110 C for a 5 h image, far below 1 um
    assert v.diffusion_length.value == pytest.approx(math.sqrt(2 * d_cryo * 5 * 3600), rel=1e-9)
    assert v.valid


def test_add_fit_takes_d_from_erfc_and_evolution_results():
    from tracerdiff.profiles import fit_closed_evolution, fit_erfc
    from tracerdiff.profiles.synthetic import exchange_then_closed
    import numpy as np

    sc = exchange_then_closed(d_exchange=8.0e-13, exchange_time=110 * 3600.0, d_closed=3.0e-13,
                              times=(14 * 86400.0,), x=np.linspace(0, 3.5e-3, 200))
    s = DiffusivitySeries().add_fit(fit_erfc(sc.initial, sc.exchange_time, conf_int=False), 295.15)
    s = s.add_fit(fit_closed_evolution(sc.initial, sc.later, exchange_time=sc.exchange_time, conf_int=False),
                  296.15)
    assert [p.value.value for p in s.points] == pytest.approx([8.0e-13, 3.0e-13], rel=1e-6)
    assert s.to_dict()["points"][0]["value"]["unit"] == "cm^2/s"  # SeriesPoint schema = the study's series points


def test_bad_series_inputs():
    with pytest.raises(InputError, match="two or more points"):
        DiffusivitySeries().add(300.0, Measured(1e-13, 0, "diffusivity")).arrhenius()
    with pytest.raises(InputError, match="diffusivity"):
        DiffusivitySeries().add(300.0, Measured(1e-13, 0, "length"))
    with pytest.raises(InputError, match="> 0 K"):
        DiffusivitySeries().add(-5.0, Measured(1e-13, 0, "diffusivity"))
