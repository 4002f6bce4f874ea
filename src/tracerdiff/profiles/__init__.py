"""Long-range (effective) diffusivity from line scans (eqn 4 and closed-system time evolution).

* :func:`read_profile`, :func:`profile_data` - line scans in, validated (x, C, sigma_C) out.
* :func:`fit_erfc` - erfc (or surface-exchange-limited) fit of a profile in contact with the solution.
* :func:`fit_closed_evolution` - D from how profiles relax in a closed sample (storage, anneal).
* :class:`SeriesPoint` - one value at one temperature of an Arrhenius series.
"""

from tracerdiff.profiles.erfc import ErfcFit, fit_erfc
from tracerdiff.profiles.evolve import EvolutionFit, LaterProfile, fit_closed_evolution
from tracerdiff.profiles.load import ProfileData, profile_data, read_profile
from tracerdiff.profiles.arrhenius_points import SeriesPoint
from tracerdiff.profiles.solutions import (CosineSeries, erfc_profile, finite_exchange_profile, propagate_grid,
                                           surface_exchange_profile)

__all__ = ["ErfcFit", "fit_erfc", "EvolutionFit", "LaterProfile", "fit_closed_evolution", "ProfileData",
           "profile_data", "read_profile", "SeriesPoint", "CosineSeries",
           "erfc_profile", "finite_exchange_profile", "propagate_grid", "surface_exchange_profile"]
