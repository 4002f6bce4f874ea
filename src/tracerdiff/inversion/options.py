"""Options of the whole-image inversion (:func:`tracerdiff.inversion.invert_boundaries`).

The measurements behind the defaults are on the validation page of the documentation.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from tracerdiff.errors import InputError


def _integer(value, name: str, lo: int) -> None:
    if isinstance(value, bool) or not (isinstance(value, numbers.Integral) and value >= lo):
        raise InputError(f"must be an integer >= {lo}, got {value!r}", source=name)


@dataclass(frozen=True)
class InversionOptions:
    """Model, windows, acceptance and grain-map repair of the whole-image inversion.

    Attributes
    ----------
    psf_sigma_um : float
        Gaussian beam sigma used to blur the model before comparing it with the data, micrometres.
    window_px, stride_px : int
        Window size and spacing, pixels (each boundary is reported from a window in which it
        lies at least ``(window_px - stride_px) / 2`` from the edges, when the image allows).
    max_log_sd, max_data_log_sd : float
        A boundary is accepted when its posterior sd of ln G is below ``max_log_sd`` and the sd
        from its own data alone (others fixed) is below ``max_data_log_sd``.
    population_sigma : float or None
        Fix the log-sd of the population prior instead of estimating it (a large value, e.g. 5,
        gives nearly unregularised estimates).
    min_population_log_sd : float
        Floor of the estimated log-sd, in (0, 3]. A narrower prior makes all boundaries share one
        value, so any local model error moves that common value (realistic micrograph, uniform
        image, seed 215: 0.78x truth at 0.05). The floor has a price on images whose true spread is
        below it: each boundary then fits noise, and the median comes out ~5 % high (uniform
        images with the true grains; see the validation page).
    n_passes : int
        Most nonlinear passes over the windows, each followed by re-estimating the population;
        they stop once the population median moves by less than 1 % (at least two passes). Seed
        204 (uniform, true grains): passes 2, 3, 4 moved it by -0.15, -0.011, 0.000.
    boundary_margin_px : int
        Pixels this close to a boundary of the labels are left out of the fit (a boundary
        misplaced by a pixel would otherwise shrink the fitted step).
    misfit_sigmas : float
        Boundaries of a grain whose chi^2/n exceeds 1 by more than this many of its standard
        deviations are flagged and left out of the population estimate.
    repair_rounds : int
        Grain-map repair depth (0: off); see :mod:`tracerdiff.inversion.repair`.
    include_flagged : bool
        Summarise flagged boundaries too.
    """

    psf_sigma_um: float = 0.0
    window_px: int = 96
    stride_px: int = 64
    max_log_sd: float = 0.35
    max_data_log_sd: float = 1.0
    population_sigma: float | None = None
    min_population_log_sd: float = 0.3
    n_passes: int = 3
    boundary_margin_px: int = 2
    misfit_sigmas: float = 4.0
    repair_rounds: int = 3
    include_flagged: bool = False

    def __post_init__(self):
        for name, lo in (("window_px", 16), ("stride_px", 8), ("n_passes", 1), ("boundary_margin_px", 0),
                         ("repair_rounds", 0)):
            _integer(getattr(self, name), name, lo)
        if self.stride_px > self.window_px:
            raise InputError(f"must not exceed window_px ({self.window_px}), got {self.stride_px}", source="stride_px")
        for name in ("psf_sigma_um", "max_log_sd", "max_data_log_sd", "min_population_log_sd", "misfit_sigmas"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0):
                raise InputError(f"must be a finite number >= 0, got {value!r}", source=name)
        if not 0 < self.min_population_log_sd <= 3:
            raise InputError(f"must be in (0, 3], got {self.min_population_log_sd!r}", source="min_population_log_sd")
        p = self.population_sigma
        if p is not None and not (isinstance(p, numbers.Real) and not isinstance(p, bool) and p > 0):
            raise InputError(f"must be a positive number, got {p!r}", source="population_sigma")
        if not isinstance(self.include_flagged, bool):
            raise InputError(f"must be True or False, got {self.include_flagged!r}", source="include_flagged")
