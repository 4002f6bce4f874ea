"""How good was the grain map behind an inversion, and what that does to the population median's error.

Three signs of a deficient map are counted per grain of the map as given:
- cuts: grains that hid a step in C and were cut (:mod:`tracerdiff.inversion.repair`), each a
  boundary the map missed;
- steep grains: grains whose C ramp is too steep for their bulk (a boundary too gradual to
  cut), left out of the data term;
- misfits: grains the fitted model still does not explain (chi^2 above n by 4 sd).
Their sum per given grain is the map's ``deficiency``.

Why it enters the error: every repair rests on detection, and a missed boundary that is
neither cut nor seen as a steep ramp still makes its window's model carry more flux (every
conductance there comes out high: 3.6x with 10 % of the boundaries deleted and no repair).
The detected ones are the visible part of the missed boundaries, so the median's remaining
error is taken proportional to the deficiency (see ``LOG_ERROR_PER_DEFICIENCY``).
"""

from __future__ import annotations

import math

#: ln-error of the population median per unit deficiency: a deficiency of 0.2 (10 % of the
#: true boundaries deleted from a 512 x 206 map) adds 10 % in quadrature. On seed 100 that map
#: gave 3.56x truth unrepaired, 1.74x with cuts only and 1.00x with cuts and steep grains left
#: out (deficiency 0.31); benchmarks/bench_inversion_grainmap.py checks the coverage over fresh seeds.
LOG_ERROR_PER_DEFICIENCY = 0.5

#: ln-error of the population median that no statistics of one image show: the model's own
#: error (quasi-steady network, window edges) and the small-sample bias of a ratio. With the
#: true grains, uniform D*gb/delta, the median of 5 images was 1.04/1.01/0.96/1.08/1.025x truth
#: (sd 0.045) where the statistical error was 0.02-0.03; 0.04 is the difference in quadrature.
MODEL_LOG_ERROR = 0.04

#: Above this deficiency (5 % of the grains cut or unexplained) the map is called deficient.
DEFICIENT_ABOVE = 0.05


def grain_map_quality(record: dict) -> dict:
    """The quality figure reported with an inversion (JSON-ready) from the fit's repair record."""
    given = max(int(record.get("grains_before", record["initial"]["n_grains"])), 1)
    final = record["final"]
    cut_fraction = record["accepted"] / given
    steep = int(record.get("steep_grains", 0))
    deficiency = cut_fraction + steep / given + final["misfit_fraction"]
    return {"grains_given": given, "cuts_proposed": int(record["proposed"]), "cuts_made": int(record["accepted"]),
            "cut_fraction": cut_fraction, "steep_grains": steep, "misfit_grains": int(final["n_misfit"]),
            "misfit_fraction": final["misfit_fraction"], "misfit_area_fraction": final["misfit_area_fraction"],
            "unexplained_chi2_per_pixel": final["excess_chi2_per_pixel"], "deficiency": deficiency,
            "deficient": deficiency > DEFICIENT_ABOVE,
            "median_log_stderr_map": LOG_ERROR_PER_DEFICIENCY * deficiency}


def median_log_stderr(independent: float, block: float, quality: dict) -> dict:
    """The ln-standard error of the population median and its parts.

    ``independent`` (boundaries as independent) and ``block`` (windows as clusters) estimate the
    same statistical error; the larger is kept, and the model term (``MODEL_LOG_ERROR``) and the
    grain-map term are added in quadrature (biases that averaging over boundaries does not reduce)."""
    stat = max(x for x in (independent, block) if math.isfinite(x)) if any(
        math.isfinite(x) for x in (independent, block)) else math.inf
    total = math.sqrt(stat ** 2 + MODEL_LOG_ERROR ** 2 + quality["median_log_stderr_map"] ** 2)
    return {"total": total, "independent": independent, "windows": block, "model": MODEL_LOG_ERROR,
            "map": quality["median_log_stderr_map"]}
