"""Nernst-Einstein relation: D_sigma = sigma kB T / (n q^2), and its inverse.

``n`` is the number density of mobile carriers (Li: 5.0e21 cm^-3 in LLTO; the
paper prints 10^-21 by mistake) and ``q`` their charge (default e).
"""

from __future__ import annotations

from scipy import constants

from tracerdiff.models._common import as_measured, positive, propagate, u
from tracerdiff.quantity import Measured

KB = constants.k
E_CHARGE = constants.e


def _factor(temperature_k, carrier_density, charge):
    t = positive(temperature_k, "temperature", name="temperature")
    n = positive(carrier_density, "number_density", name="carrier_density")
    q = as_measured(charge, "charge", name="charge")
    if q.value == 0:
        from tracerdiff.errors import InputError
        raise InputError("carrier charge must be non-zero", source="charge")
    return KB * u(t) / (u(n) * u(q) ** 2)


def d_sigma_from_conductivity(sigma, temperature_k, carrier_density, *, charge=E_CHARGE) -> Measured:
    """Conductivity diffusivity D_sigma = sigma kB T / (n q^2).

    Parameters
    ----------
    sigma : Measured, str or float
        Ionic conductivity ("conductivity": Measured, "1e-3 S/cm", or S/m float), > 0.
    temperature_k : Measured, str or float
        Temperature ("temperature": Measured, "27 degC", or K float), > 0 K.
    carrier_density : Measured, str or float
        Mobile-ion number density ("number_density", 1/m^3 float or "5e21 cm^-3").
    charge : float
        Carrier charge in coulombs (default the elementary charge).

    Returns
    -------
    Measured
        D_sigma, dimension "diffusivity", with first-order propagated stderr.
    """
    s = positive(sigma, "conductivity", name="sigma")
    return propagate(lambda: u(s) * _factor(temperature_k, carrier_density, charge), "diffusivity", what="d_sigma")


def conductivity_from_d_sigma(d_sigma, temperature_k, carrier_density, *, charge=E_CHARGE) -> Measured:
    """Inverse of :func:`d_sigma_from_conductivity`: sigma = n q^2 D_sigma / (kB T)."""
    d = positive(d_sigma, "diffusivity", name="d_sigma")
    return propagate(lambda: u(d) / _factor(temperature_k, carrier_density, charge), "conductivity", what="sigma")
