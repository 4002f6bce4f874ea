"""The paper's analysis chain (Hasegawa et al. 2024), step by step, with its own numbers.

Executed when the documentation is built: the output shown on the page is this script's.
"""

from tracerdiff.models import (cryo_validity, d_sigma_from_conductivity, dgb_over_delta_from_step,
                               series_effective_diffusivity)
from tracerdiff.quantity import Measured


def show(label, m, unit):
    value, stderr = m.to(unit)
    print(f"{label:<38s} {value:10.3g} ± {stderr:8.2g} {unit}")


# Eqn (3): the step of C at one boundary (Fig. 3e) next to the bulk gradient.
step = dgb_over_delta_from_step("2.6e-8 cm^2/s", "1.1 1/cm", 0.02, thickness="0.5 nm")
show("D*gb/delta (Fig. 3e)", step.dgb_over_delta, "cm/s")
show("D*gb with delta = 0.5 nm", step.dgb, "cm**2/s")

# Eqns (5)-(6): series model with the grain-size spread l = 16 ± 11 um.
grain = Measured.parse("16 um", "length", stderr="11 um")
series = series_effective_diffusivity("2.8e-8 cm^2/s", "1.5e-6 cm/s", grain)
show("D*eff, series model", series.d_eff, "cm**2/s")

# Nernst-Einstein at 27 degC with n = 5.0e21 cm^-3 (the paper prints 10^-21 by mistake).
d_sigma = d_sigma_from_conductivity("1e-3 S/cm", 300.15, "5.0e21 cm^-3")
show("D_sigma (sigma = 1e-3 S/cm, 27 degC)", d_sigma, "cm**2/s")

# Cryo validity: sqrt(2 D t) during a 5 h image at D*eff(-110 degC) = 1e-14 cm^2/s.
cryo = cryo_validity("1e-14 cm^2/s", "5 h", "1 um")
show("cryo diffusion length sqrt(2 D t)", cryo.diffusion_length, "um")
print(f"valid (length < 1 um resolution): {cryo.valid}")
