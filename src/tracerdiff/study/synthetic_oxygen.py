"""A synthetic 18O/16O study: an image in one vendor file and a SurfaceLab depth profile.

The same physics as the lithium study (:mod:`tracerdiff.study.synthetic`), with the isotope pair
of oxide tracer work: natural fraction 0.002, enriched 0.95.

* Image (after 59 h exchange at 22 °C, the lithium study's boundary parameters): one Cameca
  ``.im`` file with channels ``16O`` and ``18O``, plus an etched-surface micrograph.
* Depth profile (IEDP, after 1 h exchange at 500 °C): C(z) = C0 + (Cs - C0) erfc(z / 2 sqrt(D t))
  with D* = 1e-12 cm²/s, sampled at 165 sputter times at 0.5 nm/s with Poisson counts of 2e4
  per point, written as SurfaceLab exports it (``O-``, ``^18O-``, a ratio column holding inf).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
from scipy.special import erfc

from tracerdiff.report.atomic import write_bytes_atomic, write_text_atomic

TRUTH_O = {"c_natural": 0.002, "c_enriched": 0.95, "d_profile_m2_s": 1e-16, "profile_exchange_s": 3600.0,
           "profile_temperature_C": 500.0, "sputter_rate_m_s": 0.5e-9, "profile_points": 165,
           "profile_duration_s": 6000.0, "counts_per_point": 20000.0}


def depth_profile_counts(rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sputter times (s) and the 16O, 18O counts of the IEDP profile of :data:`TRUTH_O`."""
    t = np.linspace(0.0, TRUTH_O["profile_duration_s"], TRUTH_O["profile_points"])
    z = t * TRUTH_O["sputter_rate_m_s"]
    c0, cs = TRUTH_O["c_natural"], TRUTH_O["c_enriched"]
    c = c0 + (cs - c0) * erfc(z / (2 * math.sqrt(TRUTH_O["d_profile_m2_s"] * TRUTH_O["profile_exchange_s"])))
    n = TRUTH_O["counts_per_point"]
    o18 = rng.poisson(n * c)
    o16 = rng.poisson(n * (1 - c))
    return t, o16, o18


def write_oxygen_study(folder: str | Path, *, seed: int = 0, image_shape: tuple[int, int] = (206, 256),
                       counts_per_pixel: float = 30000.0) -> Path:
    """Write the synthetic 18O/16O study (data + ``study.toml`` + ``truth.json``); return the study path."""
    import tifffile

    from tracerdiff.io import synth
    from tracerdiff.simulate import ExchangeConditions, SimsOptions, synthetic_exchange_image
    from tracerdiff.simulate.sims import synthetic_sims
    from tracerdiff.study import synthetic as S

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t22 = 295.15
    _, sim = synthetic_exchange_image(shape=image_shape, seed=seed,
                                      exchange=ExchangeConditions(d_bulk=S.d_bulk(t22),
                                                                  dgb_over_delta=S.dgb_over_delta(t22)),
                                      sims=SimsOptions(counts_per_pixel=counts_per_pixel))
    ds = synthetic_sims(sim.c, pixel_size_um=1.0, seed=seed,
                        sims=SimsOptions(natural_fraction=TRUTH_O["c_natural"],
                                         enriched_fraction=TRUTH_O["c_enriched"], counts_per_pixel=counts_per_pixel))
    synth.write_cameca_im(folder / "image_59h.im", {"16O": ds["7Li"].values, "18O": ds["6Li"].values},
                          [15.9949, 17.9992], raster_um=float(image_shape[1]))
    buf = io.BytesIO()
    tifffile.imwrite(buf, S.optical_micrograph(sim.grains, seed=seed, shift_px=S.OPTICAL_SHIFT_PX))
    write_bytes_atomic(folder / "optical_59h.tif", buf.getvalue())
    t, o16, o18 = depth_profile_counts(rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = o18 / o16.astype(float)
    synth.write_surfacelab_depth_profile(folder / "profile_1h.txt", t, {"total": (None, o16 + o18),
                                                                        "O-": (15.9949, o16),
                                                                        "^18O-": (17.9992, o18),
                                                                        "^18O- / ( O- )": (None, ratio)})
    d_profile_cm2_s = TRUTH_O["d_profile_m2_s"] * 1e4
    truth = {"oxygen": TRUTH_O, "seed": seed, "dgb_over_delta_cm_s": S.dgb_over_delta(t22) * 100,
             "d_bulk_cm2_s": S.d_bulk(t22) * 1e4, "d_eff_profile_cm2_s": d_profile_cm2_s}
    toml = f"""title = "Synthetic 18O/16O study (seed {seed})"

[sample]
material = "oxide (synthetic)"
grain_size = "16 um"
grain_size_sd = "11 um"
gb_thickness = "0.5 nm"
li_density = "5e21 cm^-3"
d_bulk = "{S.d_bulk(t22) * 1e4:.6e} cm^2/s"
tracer = "18O"
other = "16O"
natural_fraction = {TRUTH_O['c_natural']}
enriched_fraction = {TRUTH_O['c_enriched']}

[[steps]]
name = "ex1h"
kind = "exchange"
temperature = "{TRUTH_O['profile_temperature_C']:g} degC"
duration = "{TRUTH_O['profile_exchange_s'] / 3600:g} h"

[[steps]]
name = "ex59h"
kind = "exchange"
temperature = "22 degC"
duration = "59 h"

[[measurements.line_scans]]
name = "iedp_1h"
after = "ex1h"
file = "profile_1h.txt"
sputter_rate = "{TRUTH_O['sputter_rate_m_s'] * 1e9:g} nm/s"

[[measurements.images]]
name = "img59h"
after = "ex59h"
file = "image_59h.im"
optical = "optical_59h.tif"
edge = "bottom"
"""
    write_text_atomic(folder / "truth.json", json.dumps(truth, indent=2, sort_keys=True) + "\n")
    path = folder / "study.toml"
    write_text_atomic(path, toml)
    return path
