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
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import ndimage

from tracerdiff.errors import InputError
from tracerdiff.io.image import make_image
from tracerdiff.grains import check_seed, is_real_number
from tracerdiff.quantity import positive_si

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


@dataclass(frozen=True)
class SimsOptions:
    """The instrument of a synthetic SIMS image: counts, beam, yield and detector.

    A bad value raises :class:`~tracerdiff.errors.InputError` naming the field.

    Attributes
    ----------
    counts_per_pixel : float
        Mean total (6Li + 7Li) counts per pixel before noise, at most ``MAX_COUNTS_PER_PIXEL``.
    psf_sigma_um : float
        Gaussian beam sigma, micrometres (0: no blur).
    yield_variation : float
        Relative standard deviation of the smooth ion-yield field, in [0, 1).
    natural_fraction, enriched_fraction : float
        Tracer atom fractions at C = 0 and C = 1.
    dead_time_s : float or None
        Non-paralysable detector dead time, s (None: ideal detector).
    dwell_time_s : float
        Dwell per pixel, s.
    """

    counts_per_pixel: float = 3000
    psf_sigma_um: float = 0.5
    yield_variation: float = 0.1
    natural_fraction: float = 0.0759
    enriched_fraction: float = 0.95
    dead_time_s: float | None = None
    dwell_time_s: float = PAPER_DWELL_S

    def __post_init__(self):
        # name: (value, low, low inclusive, high (exclusive))
        checks = {"counts_per_pixel": (self.counts_per_pixel, 0, False, MAX_COUNTS_PER_PIXEL * (1 + 1e-12)),
                  "psf_sigma_um": (self.psf_sigma_um, 0, True, np.inf),
                  # A relative sd >= 1 would make the Gaussian yield field negative over a large area.
                  "yield_variation": (self.yield_variation, 0, True, 1.0),
                  "dwell_time_s": (self.dwell_time_s, 0, False, np.inf)}
        for name, (value, low, inclusive, high) in checks.items():
            ok = is_real_number(value) and np.isfinite(value) and \
                (value >= low if inclusive else value > low) and value < high
            if not ok:
                bound = f"{'>=' if inclusive else '>'} {low}" + (f" and < {high:g}" if np.isfinite(high) else "")
                raise InputError(f"must be a number {bound}, got {value!r}", source=name)
        for name in ("natural_fraction", "enriched_fraction"):
            value = getattr(self, name)
            if not (is_real_number(value) and 0 <= value <= 1):
                raise InputError(f"must be an atom fraction in [0, 1], got {value!r}", source=name)
        d = self.dead_time_s
        if d is not None and not (is_real_number(d) and np.isfinite(d) and d >= 0):
            raise InputError(f"must be >= 0 seconds, got {d!r}", source="dead_time_s")


def _check_image_parameters(shape, pixel_size_um, sims: SimsOptions, seed) -> None:
    """Raise :class:`InputError` naming the first bad parameter of an image of ``shape``."""
    check_seed(seed)
    if not (is_real_number(pixel_size_um) and np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise InputError(f"must be a number > 0, got {pixel_size_um!r}", source="pixel_size_um")
    # The Gaussian kernel spans 8 sigma: a beam far wider than the image is a unit slip
    # (e.g. a pixel size in m given as um) and would allocate a kernel of that many pixels.
    psf = sims.psf_sigma_um
    if psf / pixel_size_um > max(shape[-2:]):
        raise InputError(f"beam sigma {psf:g} um is {psf / pixel_size_um:.3g} pixels of "
                         f"{pixel_size_um:g} um, wider than the {shape[-2]}x{shape[-1]} image", source="psf_sigma_um")


def synthetic_sims(c, *, pixel_size_um: float, sims: SimsOptions | None = None, seed: int = 0,
                   truth: dict | None = None) -> xr.Dataset:
    """6Li and 7Li count images of a normalised tracer field ``c`` (0 natural .. 1 solution).

    Parameters
    ----------
    c : numpy.ndarray
        2D ``(y, x)`` or 3D ``(z, y, x)`` array, row 0 = top.
    pixel_size_um : float
        Pixel size, micrometres.
    sims : SimsOptions, optional
        Counts, beam, yield and detector.
    seed : int
        Seed of the yield field and of the Poisson noise.
    truth : dict, optional
        Ground truth stored (with these parameters) under ``metadata["truth"]``.

    Returns
    -------
    xarray.Dataset
        Channels ``"6Li"``, ``"7Li"`` (int64 counts), format ``"synthetic"``.
    """
    sims = sims if sims is not None else SimsOptions()
    try:
        c = np.asarray(c, float)
    except (TypeError, ValueError):
        raise InputError("c must be a numeric array", source="c") from None
    if c.ndim not in (2, 3) or c.size == 0 or not np.all(np.isfinite(c)):
        raise InputError(f"c must be a finite 2D or 3D array, got shape {c.shape}", source="c")
    _check_image_parameters(c.shape, pixel_size_um, sims, seed)
    natural_fraction, enriched_fraction = sims.natural_fraction, sims.enriched_fraction
    dead_time_s, dwell_time_s = sims.dead_time_s, sims.dwell_time_s

    rng = np.random.default_rng(seed)
    f6 = natural_fraction + (enriched_fraction - natural_fraction) * c
    sigma_px = sims.psf_sigma_um / pixel_size_um
    sigma = (0.0,) * (c.ndim - 2) + (sigma_px, sigma_px)
    if sigma_px > 0:
        f6 = ndimage.gaussian_filter(f6, sigma, mode="nearest")
    expected_total = sims.counts_per_pixel * _yield_field(rng, c.shape, sims.yield_variation)
    lam6, lam7 = expected_total * f6, expected_total * (1.0 - f6)
    if dead_time_s:
        lam6 = lam6 / (1.0 + lam6 * dead_time_s / dwell_time_s)
        lam7 = lam7 / (1.0 + lam7 * dead_time_s / dwell_time_s)
    counts6 = rng.poisson(np.clip(lam6, 0, None)).astype(np.int64)
    counts7 = rng.poisson(np.clip(lam7, 0, None)).astype(np.int64)
    full_truth = json.loads(json.dumps(dict(truth or {}), default=float))
    full_truth["sims"] = {"natural_fraction": natural_fraction, "enriched_fraction": enriched_fraction,
                          "counts_per_pixel": sims.counts_per_pixel, "psf_sigma_um": sims.psf_sigma_um,
                          "yield_variation": sims.yield_variation, "dead_time_s": dead_time_s,
                          "dwell_time_s": dwell_time_s, "seed": int(seed)}
    return make_image({"6Li": counts6, "7Li": counts7}, pixel_size_um, fmt="synthetic",
                      metadata={"truth": full_truth})


@dataclass(frozen=True)
class ExchangeConditions:
    """The tracer exchange of :func:`synthetic_exchange_image` (SI floats, or Measured/unit text).

    Attributes
    ----------
    d_bulk : float
        Bulk tracer diffusivity, m^2/s.
    dgb_over_delta : float or None
        Median D*gb/delta, m/s; None: no resistance across boundaries.
    dgb_sigma_ln : float
        > 0 (at most ``MAX_DGB_SIGMA_LN``): each boundary's D*gb/delta drawn from a log-normal
        with median ``dgb_over_delta`` and this log-sd (values in the truth).
    exchange_time : float
        Time in contact with the solution, s.
    p_gb : float or None
        Along-boundary transport ``s delta D_gb`` (m^3/s) for fast boundaries.
    """

    d_bulk: float = 2.6e-12
    dgb_over_delta: float | None = 1.5e-8
    dgb_sigma_ln: float = 0.0
    exchange_time: float = 59 * 3600.0
    p_gb: float | None = None

    def __post_init__(self):
        # Above ~10 (a factor 2e4 per sd) draws overflow to inf long before they mean anything.
        sigma = self.dgb_sigma_ln
        if not (is_real_number(sigma) and 0 <= sigma <= MAX_DGB_SIGMA_LN):
            raise InputError(f"must be between 0 and {MAX_DGB_SIGMA_LN:g}, got {sigma!r}", source="dgb_sigma_ln")
        object.__setattr__(self, "exchange_time", positive_si(self.exchange_time, "time", name="exchange_time"))


def synthetic_exchange_image(*, shape=(206, 512), pixel_size_um: float = 1.0, mean_grain_um: float = 16.0,
                             sd_grain_um: float = 0.0, exchange: ExchangeConditions | None = None,
                             sims: SimsOptions | None = None, seed: int = 0, domain_rows: int | None = None,
                             n_steps: int = 50, progress: bool = False):
    """The standard test image: solution at the bottom edge (last row), 6Li diffuses upward.

    The top edge of the simulated domain is closed; ``domain_rows`` > ``shape[-2]`` simulates
    a taller sample and returns its bottom ``shape[-2]`` rows (the field of view near the
    wetted edge of a mm-sized sample), with the truth restricted to the view.

    Parameters
    ----------
    shape : tuple of int
        Image shape (rows, columns) or (depth, rows, columns).
    pixel_size_um, mean_grain_um, sd_grain_um : float
        Pixel size and grain-size mean and sd, micrometres.
    exchange : ExchangeConditions, optional
        Diffusivities and exchange time.
    sims : SimsOptions, optional
        Counts, beam, yield and detector of the SIMS image.
    seed : int
        Seed of the grains, the boundary values and the noise.
    domain_rows : int, optional
        Rows of the simulated domain (>= the image's).
    n_steps : int
        Time steps of the exchange.
    progress : bool
        Report the simulation's progress.

    Returns
    -------
    (xarray.Dataset, SimulationResult)
    """
    from tracerdiff.grains import check_memory, check_shape
    from tracerdiff.simulate.history import ExchangeStep, memory_estimate_bytes, simulate_history
    from tracerdiff.simulate.voronoi import voronoi_grains

    exchange = exchange if exchange is not None else ExchangeConditions()
    sims = sims if sims is not None else SimsOptions()
    # Everything is checked before the (possibly long) grain generation and solve.
    shape = check_shape(shape)
    rows = shape[-2]
    if domain_rows is not None and not (_is_whole(domain_rows) and domain_rows >= rows):
        raise InputError(f"must be an integer >= the image's {rows} rows, got {domain_rows!r}", source="domain_rows")
    if not (_is_whole(n_steps) and n_steps >= 1):
        raise InputError(f"must be a positive integer, got {n_steps!r}", source="n_steps")
    _check_image_parameters(shape, pixel_size_um, sims, seed)
    sim_shape = shape[:-2] + (int(domain_rows or rows), shape[-1])
    n_steps = int(n_steps)
    n_cells = int(np.prod(sim_shape))
    check_memory(memory_estimate_bytes(n_cells, solver="splu" if len(shape) == 2 else "amg"),
                 what=f"simulating {'x'.join(map(str, sim_shape))} cells" +
                      (f" ({sim_shape[-2]} domain rows)" if sim_shape != shape else ""))
    grains = voronoi_grains(sim_shape, pixel_size_um=pixel_size_um, mean_grain_um=mean_grain_um,
                            sd_grain_um=sd_grain_um, seed=seed)
    dgb_over_delta, dgb_sigma_ln = exchange.dgb_over_delta, exchange.dgb_sigma_ln
    if dgb_sigma_ln > 0 and dgb_over_delta is not None:
        pairs = grains.boundary_pairs()
        rng = np.random.default_rng([seed, 1])
        values = dgb_over_delta * np.exp(dgb_sigma_ln * rng.standard_normal(len(pairs)))
        gb = {(int(a), int(b)): float(v) for (a, b), v in zip(pairs, values)}
    else:
        gb = dgb_over_delta
    step = ExchangeStep(exchange.exchange_time, d_bulk=exchange.d_bulk, dgb_over_delta=gb, source_edge="bottom",
                        p_gb=exchange.p_gb)
    result = simulate_history(grains, [step], n_steps=n_steps, progress=progress)
    if sim_shape != shape:
        result = _crop_bottom(result, rows)
    truth = dict(result.truth, dgb_sigma_ln=dgb_sigma_ln, dgb_over_delta_median=dgb_over_delta)
    ds = synthetic_sims(result.c, pixel_size_um=pixel_size_um, sims=sims, seed=seed, truth=truth)
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
