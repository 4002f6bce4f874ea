"""Every test vector of tests/data/paper_values.toml, reproduced by the models.

Tolerances are the toml's ``rtol`` (the paper's own rounding) unless stated.
The toml records the paper's typos (D*gb/delta = 2.8e-6 in the series paragraph,
7.6e-14 from the rounded 1.5e-6, 10^-21 for n): the vectors below use the
corrected inputs and the unrounded expectations it gives, never the typos.
"""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from tracerdiff.models import (cryo_validity, d_sigma_from_conductivity, dgb_over_delta_from_step,
                               fit_arrhenius, haven_ratio_from_prefactors, series_effective_diffusivity,
                               series_regime)
from tracerdiff.models.arrhenius import EV, KB
from tracerdiff.quantity import Measured

PAPER = tomllib.loads((Path(__file__).parent / "data" / "paper_values.toml").read_text())
C = PAPER["constants"]


@pytest.mark.parametrize("vec", PAPER["gb_step"], ids=lambda v: v["label"])
def test_gb_step_vectors(vec):
    r = dgb_over_delta_from_step(f"{vec['d_bulk_cm2_s']} cm^2/s", f"{vec['gradient_per_cm']} 1/cm", vec["step"],
                                 thickness=f"{C['gb_thickness_nm']} nm")
    g, _ = r.dgb_over_delta.to("cm/s")
    d, _ = r.dgb.to("cm**2/s")
    assert g == pytest.approx(vec["expect_dgb_over_delta_cm_s"], rel=vec["rtol"])
    assert d == pytest.approx(vec["expect_dgb_cm2_s"], rel=vec["rtol"])
    # the formula itself is exact arithmetic: check it much tighter than the paper's rounding
    assert g == pytest.approx(vec["d_bulk_cm2_s"] * vec["gradient_per_cm"] / vec["step"], rel=1e-12)


def test_gb_step_per_boundary_values_lie_in_paper_range():
    lo, hi = PAPER["gb_step_summary"]["per_boundary_dgb_range_cm2_s"]
    for vec in PAPER["gb_step"]:
        r = dgb_over_delta_from_step(f"{vec['d_bulk_cm2_s']} cm^2/s", f"{vec['gradient_per_cm']} 1/cm",
                                     vec["step"], thickness=f"{C['gb_thickness_nm']} nm")
        assert lo <= r.dgb.to("cm**2/s")[0] <= hi


def test_series_model_value_and_first_order_sd():
    v = PAPER["series_model"]
    r = series_effective_diffusivity(f"{v['d_bulk_cm2_s']} cm^2/s", f"{v['dgb_over_delta_cm_s']} cm/s",
                                     Measured.parse(f"{v['grain_size_um']} um", "length",
                                                    stderr=f"{v['grain_size_sd_um']} um"))
    value, sd = r.d_eff.to("cm**2/s")
    assert value == pytest.approx(v["expect_deff_cm2_s"], rel=v["rtol"])
    assert sd == pytest.approx(v["expect_deff_sd_cm2_s"], rel=v["rtol"])
    # hand value: 1/(1/2.8e-8 + 1/(16e-4 cm * 1.5e-6 cm/s)) = 2.2105e-9 cm^2/s
    assert value == pytest.approx(1 / (1 / 2.8e-8 + 1 / (16e-4 * 1.5e-6)), rel=1e-12)


def test_series_model_paper_regime_holds_for_the_long_range_profile():
    # the 110 h erfc profile: sqrt(8e-9 cm^2/s * 110 h) = 563 um >> l = 16 um
    check = series_regime(f"{PAPER['bulk_reference']['d_nmr_bulk_22C_cm2_s']} cm^2/s", "1.5e-6 cm/s",
                          f"{C['grain_size_um']} um", thickness=f"{C['gb_thickness_nm']} nm",
                          d_eff=f"{PAPER['erfc_fit']['expect_deff_cm2_s']} cm^2/s", exchange_time="110 h")
    assert check.ok, check.reasons
    assert check.flags == {"slow_boundaries": True, "thin_boundaries": True, "long_range": True}


def test_nernst_einstein_vector():
    v = PAPER["nernst_einstein"]
    d = d_sigma_from_conductivity(f"{v['sigma_S_cm']} S/cm", f"{v['temperature_C']} degC",
                                  f"{v['li_number_density_cm3']} cm^-3")
    assert d.to("cm**2/s")[0] == pytest.approx(v["expect_d_sigma_cm2_s"], rel=v["rtol"])
    assert v["li_number_density_cm3"] == C["li_number_density_cm3"]


def test_cryo_validity_vector():
    v = PAPER["cryo_validity"]
    r = cryo_validity(f"{v['deff_at_minus110C_cm2_s']} cm^2/s", f"{v['imaging_time_h']} h",
                      f"{v['spatial_resolution_um']} um")
    # printed to two significant figures (0.19): half a unit in the last place is 2.6 %
    assert r.diffusion_length.to("um")[0] == pytest.approx(v["expect_diffusion_length_um"], rel=0.03)
    assert r.valid is True
    assert r.ratio.value == pytest.approx(r.diffusion_length.value / 1e-6, rel=1e-12)
    assert v["spatial_resolution_um"] == C["imaging_pixel_um"]


def test_haven_ratio_from_paper_prefactors():
    a = PAPER["arrhenius"]
    h = haven_ratio_from_prefactors(f"{a['prefactor_tracer_gb_cm2_s']} cm^2/s",
                                    f"{a['prefactor_sigma_gb_cm2_s']} cm^2/s")
    assert h.haven_ratio.value == pytest.approx(a["expect_haven_ratio"], rel=1e-12)  # 0.048/0.20 exactly


def test_haven_ratio_from_synthetic_arrhenius_series_with_paper_parameters():
    # (l/delta) D*gb and (l/delta) D_sigma,gb share Ea = 0.43 eV; synthetic exact data at 22-400 C
    a = PAPER["arrhenius"]
    t = np.array([22.0, 100.0, 200.0, 300.0, 400.0]) + 273.15
    ea = a["gb_activation_energy_eV"] * EV
    tracer = fit_arrhenius(t, a["prefactor_tracer_gb_cm2_s"] * 1e-4 * np.exp(-ea / (KB * t)))
    sigma = fit_arrhenius(t[::2], a["prefactor_sigma_gb_cm2_s"] * 1e-4 * np.exp(-ea / (KB * t[::2])))
    h = haven_ratio_from_prefactors(tracer, sigma)
    assert h.method == "shared_activation_energy"
    assert h.haven_ratio.value == pytest.approx(a["expect_haven_ratio"], rel=1e-9)
    assert h.activation_energy.to("eV")[0] == pytest.approx(a["gb_activation_energy_eV"], rel=1e-9)
    assert tracer.prefactor.to("cm**2/s")[0] == pytest.approx(a["prefactor_tracer_gb_cm2_s"], rel=1e-9)
