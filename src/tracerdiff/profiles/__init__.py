"""Long-range (effective) diffusivity from line scans (eqn 4 and closed-system time evolution).

* :func:`read_profile_csv`, :func:`profile_data` - line scans in, validated (x, C, sigma_C) out.
* :func:`fit_erfc` - erfc (or surface-exchange-limited) fit of a profile in contact with the solution.
* :func:`fit_closed_evolution` - D from how profiles relax in a closed sample (storage, anneal).
* :class:`DiffusivitySeries` - D values with temperatures, handed to the Arrhenius model.
"""

from tracerdiff.profiles.erfc import ErfcFit, fit_erfc
from tracerdiff.profiles.evolve import EvolutionFit, LaterProfile, fit_closed_evolution
from tracerdiff.profiles.load import ProfileData, profile_data, read_profile, read_profile_csv
from tracerdiff.profiles.arrhenius_points import DiffusivitySeries, SeriesPoint
from tracerdiff.profiles.solutions import (CosineSeries, erfc_profile, finite_exchange_profile, propagate_grid,
                                           surface_exchange_profile)

__all__ = ["ErfcFit", "fit_erfc", "EvolutionFit", "LaterProfile", "fit_closed_evolution", "ProfileData",
           "profile_data", "read_profile", "read_profile_csv", "DiffusivitySeries", "SeriesPoint", "CosineSeries",
           "erfc_profile", "finite_exchange_profile", "propagate_grid", "surface_exchange_profile"]
