"""Synthetic SIMS count images from a simulated tracer field.

The expected counts of each isotope are

    lambda_6 = N0 * Y(x) * (PSF * f6)(x),   lambda_7 = N0 * Y(x) * (PSF * (1 - f6))(x)

with ``f6 = natural + (enriched - natural) * C`` the 6Li atom fraction, ``N0``
the mean total counts per pixel, ``Y`` a smooth secondary-ion yield field (mean
1, relative sd ``yield_variation``, correlation length ~ 1/8 of the image) and
PSF a Gaussian beam of ``psf_sigma_um`` (lateral only for 3D stacks). Optional
non-paralysable detector dead time turns rates n into ``n / (1 + n tau)``;
counts are then Poisson. The output is the labelled image of
:mod:`tracerdiff.io.image` with the ground truth in ``metadata["truth"]``.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from scipy import ndimage

from tracerdiff.errors import InputError
from tracerdiff.io.image import make_image
from tracerdiff.grains import check_seed, is_real_number

#: ToF-SIMS dwell per pixel in the paper: 5 h for 512 x 206 pixels.
PAPER_DWELL_S = 5 * 3600 / (512 * 206)


def _yield_field(rng: np.random.Generator, shape: tuple[int, ...], variation: float) -> np.ndarray:
    if variation == 0:
        return np.ones(shape)
    lateral = shape[-2:]
    corr = max(min(lateral) / 8.0, 1.0)
    noise = ndimage.gaussian_filter(rng.standard_normal(lateral), corr, mode="wrap")
    noise = (noise - noise.mean()) / (noise.std() or 1.0)
    field = np.clip(1.0 + variation * noise, 0.05, None)
    return np.broadcast_to(field, shape)


#: Mean counts per pixel above this are refused: real SIMS pixels hold ~1e2..1e5 counts, and the
#: CLI's uint32 TIFFs must hold the brightest pixel (yield up to ~6x the mean) with room to spare.
MAX_COUNTS_PER_PIXEL = 1e8


#: Largest log-normal spread of D*gb/delta per boundary accepted by :func:`synthetic_exchange_image`.
MAX_DGB_SIGMA_LN = 10.0


def _is_whole(value) -> bool:
    """An integer, or a float with an integral value (50.0 steps is fine; '50' and 2.5 are not)."""
    return is_real_number(value) and np.isfinite(value) and int(value) == value


def _check_sims_parameters(*, shape, pixel_size_um, natural_fraction, enriched_fraction, counts_per_pixel,
                           psf_sigma_um, yield_variation, dead_time_s, dwell_time_s, seed) -> None:
    """Raise :class:`InputError` naming the first bad parameter of :func:`synthetic_sims`."""
    check_seed(seed)
    # name: (value, low, low inclusive, high (exclusive))
    checks = {"pixel_size_um": (pixel_size_um, 0, False, np.inf),
              "counts_per_pixel": (counts_per_pixel, 0, False, MAX_COUNTS_PER_PIXEL * (1 + 1e-12)),
              "psf_sigma_um": (psf_sigma_um, 0, True, np.inf),
              # A relative sd >= 1 would make the Gaussian yield field negative over a large area.
              "yield_variation": (yield_variation, 0, True, 1.0),
              "dwell_time_s": (dwell_time_s, 0, False, np.inf)}
    for name, (value, low, inclusive, high) in checks.items():
        ok = is_real_number(value) and np.isfinite(value) and \
            (value >= low if inclusive else value > low) and value < high
        if not ok:
            bound = f"{'>=' if inclusive else '>'} {low}" + (f" and < {high:g}" if np.isfinite(high) else "")
            raise InputError(f"must be a number {bound}, got {value!r}", source=name)
    for name, value in (("natural_fraction", natural_fraction), ("enriched_fraction", enriched_fraction)):
        if not (is_real_number(value) and 0 <= value <= 1):
            raise InputError(f"must be an atom fraction in [0, 1], got {value!r}", source=name)
    if dead_time_s is not None and not (is_real_number(dead_time_s) and np.isfinite(dead_time_s)
                                        and dead_time_s >= 0):
        raise InputError(f"must be >= 0 seconds, got {dead_time_s!r}", source="dead_time_s")
    # The Gaussian kernel spans 8 sigma: a beam far wider than the image is a unit slip
    # (e.g. a pixel size in m given as um) and would allocate a kernel of that many pixels.
    if psf_sigma_um / pixel_size_um > max(shape[-2:]):
        raise InputError(f"beam sigma {psf_sigma_um:g} um is {psf_sigma_um / pixel_size_um:.3g} pixels of "
                         f"{pixel_size_um:g} um, wider than the {shape[-2]}x{shape[-1]} image", source="psf_sigma_um")


def synthetic_sims(c, *, pixel_size_um: float, natural_fraction: float = 0.0759, enriched_fraction: float = 0.95,
                   counts_per_pixel: float = 3000, psf_sigma_um: float = 0.5, yield_variation: float = 0.1,
                   dead_time_s: float | None = None, dwell_time_s: float = PAPER_DWELL_S, seed: int = 0,
                   truth: dict | None = None) -> xr.Dataset:
    """6Li and 7Li count images of a normalised tracer field ``c`` (0 natural .. 1 solution).

    Parameters
    ----------
    c
        2D ``(y, x)`` or 3D ``(z, y, x)`` array, row 0 = top.
    pixel_size_um
        Pixel size, micrometres.
    natural_fraction, enriched_fraction
        6Li atom fractions at C = 0 and C = 1.
    counts_per_pixel
        Mean total (6Li + 7Li) counts per pixel before noise, at most ``MAX_COUNTS_PER_PIXEL``.
    psf_sigma_um
        Gaussian beam sigma, micrometres (0: no blur).
    yield_variation
        Relative standard deviation of the smooth ion-yield field, in [0, 1).
    dead_time_s, dwell_time_s
        Non-paralysable detector dead time (None: ideal detector) and dwell per pixel.
    seed
        Seed of the yield field and of the Poisson noise.
    truth
        Ground truth stored (with these parameters) under ``metadata["truth"]``.

    Returns
    -------
    xarray.Dataset
        Channels ``"6Li"``, ``"7Li"`` (int64 counts), format ``"synthetic"``.
    """
    try:
        c = np.asarray(c, float)
    except (TypeError, ValueError):
        raise InputError("c must be a numeric array", source="c") from None
    if c.ndim not in (2, 3) or c.size == 0 or not np.all(np.isfinite(c)):
        raise InputError(f"c must be a finite 2D or 3D array, got shape {c.shape}", source="c")
    _check_sims_parameters(shape=c.shape, pixel_size_um=pixel_size_um, natural_fraction=natural_fraction,
                           enriched_fraction=enriched_fraction, counts_per_pixel=counts_per_pixel,
                           psf_sigma_um=psf_sigma_um, yield_variation=yield_variation, dead_time_s=dead_time_s,
                           dwell_time_s=dwell_time_s, seed=seed)

    rng = np.random.default_rng(seed)
    f6 = natural_fraction + (enriched_fraction - natural_fraction) * c
    sigma_px = psf_sigma_um / pixel_size_um
    sigma = (0.0,) * (c.ndim - 2) + (sigma_px, sigma_px)
    if sigma_px > 0:
        f6 = ndimage.gaussian_filter(f6, sigma, mode="nearest")
    expected_total = counts_per_pixel * _yield_field(rng, c.shape, yield_variation)
    lam6, lam7 = expected_total * f6, expected_total * (1.0 - f6)
    if dead_time_s:
        lam6 = lam6 / (1.0 + lam6 * dead_time_s / dwell_time_s)
        lam7 = lam7 / (1.0 + lam7 * dead_time_s / dwell_time_s)
    counts6 = rng.poisson(np.clip(lam6, 0, None)).astype(np.int64)
    counts7 = rng.poisson(np.clip(lam7, 0, None)).astype(np.int64)
    full_truth = json.loads(json.dumps(dict(truth or {}), default=float))
    full_truth["sims"] = {"natural_fraction": natural_fraction, "enriched_fraction": enriched_fraction,
                          "counts_per_pixel": counts_per_pixel, "psf_sigma_um": psf_sigma_um,
                          "yield_variation": yield_variation, "dead_time_s": dead_time_s,
                          "dwell_time_s": dwell_time_s, "seed": int(seed)}
    return make_image({"6Li": counts6, "7Li": counts7}, pixel_size_um, fmt="synthetic",
                      metadata={"truth": full_truth})


def synthetic_exchange_image(*, shape=(206, 512), pixel_size_um: float = 1.0, mean_grain_um: float = 16.0,
                             sd_grain_um: float = 0.0, d_bulk: float = 2.6e-12, dgb_over_delta: float = 1.5e-8,
                             dgb_sigma_ln: float = 0.0, exchange_time_s: float = 59 * 3600.0,
                             counts_per_pixel: float = 3000, psf_sigma_um: float = 0.5,
                             yield_variation: float = 0.1, n_steps: int = 50, seed: int = 0,
                             domain_rows: int | None = None, progress: bool = False, p_gb: float | None = None):
    """The standard test image: solution at the bottom edge (last row), 6Li diffuses upward.

    ``dgb_sigma_ln > 0`` (at most ``MAX_DGB_SIGMA_LN``) draws each boundary's D*gb/delta
    from a log-normal with median ``dgb_over_delta`` and log-sd ``dgb_sigma_ln`` (values in the truth).
    SI units (m^2/s, m/s, s); lengths in micrometres. The top edge of the
    simulated domain is closed; ``domain_rows`` > ``shape[-2]`` simulates a taller
    sample and returns its bottom ``shape[-2]`` rows (the field of view near the
    wetted edge of a mm-sized sample), with the truth restricted to the view.
    ``p_gb`` (m^3/s) adds along-boundary transport (fast boundaries); with
    ``dgb_over_delta=None`` there is no resistance across boundaries.

    Returns
    -------
    (xarray.Dataset, SimulationResult)
    """
    from tracerdiff.grains import check_memory, check_shape
    from tracerdiff.simulate.history import ExchangeStep, memory_estimate_bytes, simulate_history
    from tracerdiff.simulate.voronoi import voronoi_grains

    # Everything is checked before the (possibly long) grain generation and solve.
    # Above ~10 (a factor 2e4 per sd) draws overflow to inf long before they mean anything.
    if not (is_real_number(dgb_sigma_ln) and 0 <= dgb_sigma_ln <= MAX_DGB_SIGMA_LN):
        raise InputError(f"must be between 0 and {MAX_DGB_SIGMA_LN:g}, got {dgb_sigma_ln!r}", source="dgb_sigma_ln")
    shape = check_shape(shape)
    rows = shape[-2]
    if domain_rows is not None and not (_is_whole(domain_rows) and domain_rows >= rows):
        raise InputError(f"must be an integer >= the image's {rows} rows, got {domain_rows!r}", source="domain_rows")
    if not (_is_whole(n_steps) and n_steps >= 1):
        raise InputError(f"must be a positive integer, got {n_steps!r}", source="n_steps")
    _check_sims_parameters(shape=shape, pixel_size_um=pixel_size_um, natural_fraction=0.0759, enriched_fraction=0.95,
                           counts_per_pixel=counts_per_pixel, psf_sigma_um=psf_sigma_um,
                           yield_variation=yield_variation, dead_time_s=None, dwell_time_s=PAPER_DWELL_S, seed=seed)
    sim_shape = shape[:-2] + (int(domain_rows or rows), shape[-1])
    n_steps = int(n_steps)
    n_cells = int(np.prod(sim_shape))
    check_memory(memory_estimate_bytes(n_cells, solver="splu" if len(shape) == 2 else "amg"),
                 what=f"simulating {'x'.join(map(str, sim_shape))} cells" +
                      (f" ({sim_shape[-2]} domain rows)" if sim_shape != shape else ""))
    grains = voronoi_grains(sim_shape, pixel_size_um=pixel_size_um, mean_grain_um=mean_grain_um,
                            sd_grain_um=sd_grain_um, seed=seed)
    if dgb_sigma_ln > 0 and dgb_over_delta is not None:
        pairs = grains.boundary_pairs()
        rng = np.random.default_rng([seed, 1])
        values = dgb_over_delta * np.exp(dgb_sigma_ln * rng.standard_normal(len(pairs)))
        gb = {(int(a), int(b)): float(v) for (a, b), v in zip(pairs, values)}
    else:
        gb = dgb_over_delta
    step = ExchangeStep(exchange_time_s, d_bulk=d_bulk, dgb_over_delta=gb, source_edge="bottom", p_gb=p_gb)
    result = simulate_history(grains, [step], n_steps=n_steps, progress=progress)
    if sim_shape != shape:
        result = _crop_bottom(result, rows)
    truth = dict(result.truth, dgb_sigma_ln=dgb_sigma_ln, dgb_over_delta_median=dgb_over_delta)
    ds = synthetic_sims(result.c, pixel_size_um=pixel_size_um, counts_per_pixel=counts_per_pixel,
                        psf_sigma_um=psf_sigma_um, yield_variation=yield_variation, seed=seed, truth=truth)
    return ds, result


def _crop_bottom(result, rows: int):
    """The bottom ``rows`` rows of a result, with grains and truth restricted to them."""
    from tracerdiff.grains import GrainMap
    from tracerdiff.simulate.history import SimulationResult

    full = result.grains
    cut = full.shape[-2] - rows
    view = (Ellipsis, slice(cut, None), slice(None))
    offset = np.zeros(full.ndim)
    offset[-2] = cut * full.pixel_size_um
    grains = GrainMap(full.labels[view], full.pixel_size_um, seeds_um=full.seeds_um - offset,
                      seed_weights_um2=full.seed_weights_um2, info=dict(full.info))
    table = grains.boundaries()
    index = {tuple(b["grains"]): i for i, b in enumerate(result.truth["boundaries"])}
    keep = [index[(int(a), int(b))] for a, b in table.pairs]
    truth = json.loads(json.dumps(result.truth))
    truth["boundaries"] = [dict(truth["boundaries"][i], length_um=float(length))
                           for i, length in zip(keep, table.length_um)]
    for step in truth["steps"]:
        step["dgb_over_delta"] = [step["dgb_over_delta"][i] for i in keep]
        if "p_gb" in step:
            step["p_gb"] = [step["p_gb"][i] for i in keep]
    truth["grains"] = grains.to_dict()
    truth["domain_shape"] = list(full.shape)
    return SimulationResult(result.c[view].copy(), grains, truth, tuple(s[view].copy() for s in result.snapshots))
