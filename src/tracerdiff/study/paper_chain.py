"""The paper's calculation chain, recomputed from its printed inputs.

Hasegawa et al. (2024) print their inputs (D*bulk, gradients, steps, grain
size, Arrhenius prefactors, ...) and their results. This module feeds the
inputs through :mod:`tracerdiff.models` and lines our values up against the
printed ones: a regression check of the models, and the first table of the demo.
The numbers come from the packaged ``tracerdiff/data/paper_values.toml``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files

from tracerdiff.quantity import Measured
from tracerdiff.units import to_si


def paper_values() -> dict:
    """The packaged table of the paper's numbers (units as printed: cm, s, eV, degC)."""
    return tomllib.loads(files("tracerdiff").joinpath("data/paper_values.toml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ChainRow:
    """One line of the comparison: our value, the paper's printed value, their ratio."""

    quantity: str
    ours: Measured
    paper: float
    unit: str
    note: str = ""

    @property
    def ours_display(self) -> float:
        """Our value in the paper's unit."""
        return self.ours.to(self.unit)[0]

    @property
    def ratio(self) -> float:
        """Ours / paper."""
        return self.ours_display / self.paper

    def to_dict(self) -> dict:
        """JSON-safe row; ``ours`` as {value, stderr, unit} in the paper's unit."""
        return {"quantity": self.quantity, "ours": self.ours.to_dict(self.unit), "paper": self.paper,
                "ratio": self.ratio, "note": self.note}


def paper_chain() -> list[ChainRow]:
    """Recompute the paper's results from its inputs (see ``METHOD.md`` for the known typos)."""
    from tracerdiff.models import (cryo_validity, d_sigma_from_conductivity, dgb_over_delta_from_step,
                                   haven_ratio_from_prefactors, series_effective_diffusivity)

    pv = paper_values()
    delta = f"{pv['constants']['gb_thickness_nm']} nm"
    rows: list[ChainRow] = []
    printed = {0: (1.5e-6, 7.6e-14), 1: (1.88e-6, 9.2e-14)}  # as printed in the text (rounded)
    for i, case in enumerate(pv["gb_step"]):
        r = dgb_over_delta_from_step(f"{case['d_bulk_cm2_s']} cm^2/s", f"{case['gradient_per_cm']} 1/cm",
                                     case["step"], thickness=delta)
        label = case["label"].split(",")[0]
        rows.append(ChainRow(f"D*gb/δ ({label})", r.dgb_over_delta, printed[i][0], "cm/s",
                             "eqn 3; paper rounds 1.43e-6 to 1.5e-6" if i == 0 else "eqn 3"))
        rows.append(ChainRow(f"D*gb, δ = 0.5 nm ({label})", r.dgb, printed[i][1], "cm^2/s",
                             "paper multiplies the rounded 1.5e-6" if i == 0 else ""))
    s = pv["series_model"]
    series = series_effective_diffusivity(
        f"{s['d_bulk_cm2_s']} cm^2/s", f"{s['dgb_over_delta_cm_s']} cm/s",
        Measured(to_si(f"{s['grain_size_um']} um", "length"), to_si(f"{s['grain_size_sd_um']} um", "length"),
                 "length"))
    rows.append(ChainRow("series-model D*eff (eqn 6)", series.d_eff, s["expect_deff_cm2_s"], "cm^2/s",
                         f"paper ± {s['expect_deff_sd_cm2_s']:.2g}; ours ± {series.d_eff.to('cm^2/s')[1]:.2g}"))
    rows.append(ChainRow("series-model D*eff stderr", Measured(series.d_eff.stderr, 0.0, "diffusivity"),
                         s["expect_deff_sd_cm2_s"], "cm^2/s", "first-order propagation of l = 16 ± 11 um"))
    a = pv["arrhenius"]
    haven = haven_ratio_from_prefactors(f"{a['prefactor_tracer_gb_cm2_s']} cm^2/s",
                                        f"{a['prefactor_sigma_gb_cm2_s']} cm^2/s")
    rows.append(ChainRow("Haven ratio (boundaries)", haven.haven_ratio, a["expect_haven_ratio"], "",
                         "ratio of Arrhenius prefactors 0.048 / 0.20"))
    ne = pv["nernst_einstein"]
    d_sigma = d_sigma_from_conductivity(f"{ne['sigma_S_cm']} S/cm", f"{ne['temperature_C']} degC",
                                        f"{ne['li_number_density_cm3']} cm^-3")
    rows.append(ChainRow("Dσ from σ = 1e-3 S/cm at 27 °C", d_sigma, ne["expect_d_sigma_cm2_s"], "cm^2/s",
                         "Nernst–Einstein, n = 5.0e21 cm^-3"))
    c = pv["cryo_validity"]
    cryo = cryo_validity(f"{c['deff_at_minus110C_cm2_s']} cm^2/s", f"{c['imaging_time_h']} h",
                         f"{c['spatial_resolution_um']} um")
    rows.append(ChainRow("cryo diffusion length √(2Dt), 5 h at −110 °C", cryo.diffusion_length, 0.2, "um",
                         f"valid: {cryo.valid} (< {c['spatial_resolution_um']} um); paper prints 0.2"))
    return rows
