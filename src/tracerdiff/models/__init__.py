"""Analytic physics models: small pure functions, Measured in and out (SI inside).

* :mod:`.gb_step` - D*gb/delta from the concentration step at a boundary (eqns 2-3)
* :mod:`.series` - series (1D brick-layer) model of D*eff and its inverse (eqns 5-6)
* :mod:`.arrhenius` - weighted Arrhenius fits, prediction and confidence bands
* :mod:`.nernst_einstein` - D_sigma from conductivity and back
* :mod:`.haven` - Haven ratio, pointwise and from prefactors at a shared Ea
* :mod:`.cryo` - is the cryo-SIMS image valid (sqrt(2 D t) vs resolution)
* :mod:`.brick_layer` - brick-layer and Maxwell-Garnett models, series-model regime check

Inputs may be :class:`~tracerdiff.quantity.Measured`, text with units, or
bare numbers taken as SI (see :func:`as_measured`).
"""

from tracerdiff.models._common import as_measured
from tracerdiff.models.arrhenius import ArrheniusFit, fit_arrhenius
from tracerdiff.models.brick_layer import (BrickLayerResult, RegimeCheck, brick_layer_effective_diffusivity,
                                           maxwell_garnett_effective_diffusivity, series_regime)
from tracerdiff.models.cryo import CryoValidity, cryo_validity, cryo_validity_from_fit
from tracerdiff.models.gb_step import GBStepResult, dgb_over_delta_from_step
from tracerdiff.models.haven import HavenResult, haven_ratio, haven_ratio_from_prefactors
from tracerdiff.models.nernst_einstein import conductivity_from_d_sigma, d_sigma_from_conductivity
from tracerdiff.models.series import (MonteCarloSummary, SeriesInverseResult, SeriesResult,
                                      dgb_over_delta_from_series, series_effective_diffusivity)

__all__ = [
    "as_measured",
    "ArrheniusFit", "fit_arrhenius",
    "BrickLayerResult", "RegimeCheck", "brick_layer_effective_diffusivity",
    "maxwell_garnett_effective_diffusivity", "series_regime",
    "CryoValidity", "cryo_validity", "cryo_validity_from_fit",
    "GBStepResult", "dgb_over_delta_from_step",
    "HavenResult", "haven_ratio", "haven_ratio_from_prefactors",
    "conductivity_from_d_sigma", "d_sigma_from_conductivity",
    "MonteCarloSummary", "SeriesInverseResult", "SeriesResult",
    "dgb_over_delta_from_series", "series_effective_diffusivity",
]
