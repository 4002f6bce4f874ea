"""Boundary analysis against the forward simulator (2D Voronoi, Poisson counts, PSF): known truth.

The exchange is simulated on a domain 400 um taller than the 206-row image and the image is
the 206 rows next to the solution (``domain_rows``: a semi-infinite sample, as in the paper,
whose field of view is a small part of a mm-scale sample). Without it the simulator closes the
top of the imaged 206 um; after 59 h that box is nearly saturated (C = 0.90..1.0, steps ~0.003
against a per-pixel noise of ~0.006), which no step analysis can resolve.
Images are 256 px wide instead of 512 to keep the default suite fast (~300 boundaries).
"""

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.stats import spearmanr

from tracerdiff.boundaries import QualityOptions, StepFitOptions, analyse_boundaries
from tracerdiff.inversion import InversionOptions, invert_boundaries
from tracerdiff.simulate import ExchangeConditions, SimsOptions, synthetic_exchange_image, synthetic_micrograph

D_BULK = 2.6e-12  # m^2/s = 2.6e-8 cm^2/s
G_TRUE = 1.5e-8  # m/s = 1.5e-6 cm/s
ROWS, EXTRA, WIDTH = 206, 400, 256


def _exchange(sigma_ln: float, seed: int):
    ds, sim = synthetic_exchange_image(shape=(ROWS, WIDTH), domain_rows=ROWS + EXTRA, seed=seed,
                                       exchange=ExchangeConditions(d_bulk=D_BULK, dgb_over_delta=G_TRUE,
                                                                   dgb_sigma_ln=sigma_ln),
                                       sims=SimsOptions(counts_per_pixel=3000, psf_sigma_um=0.5))
    if sigma_ln > 0:
        g = {tuple(int(v) for v in b["grains"]): float(b["dgb_over_delta"]) for b in sim.truth["boundaries"]}
    else:
        g = G_TRUE
    return ds, np.ascontiguousarray(sim.grains.labels), g, np.asarray(sim.c, dtype=float), sim.grains


@pytest.fixture(scope="module")
def uniform():
    return _exchange(0.0, seed=7)


@pytest.fixture(scope="module")
def lognormal():
    return _exchange(0.5, seed=8)


def _truth_pairs(result, labels, g):
    """(estimate, truth) for accepted boundaries, truth looked up 4 px either side along the normal."""
    est, tru = [], []
    h, w = labels.shape
    for b in result.accepted:
        n = np.asarray(b.normal)
        (xa, ya), (xb, yb) = np.round([b.x_um, b.y_um] - 4 * n).astype(int), np.round([b.x_um, b.y_um] + 4 * n).astype(int)
        if not (0 <= ya < h and 0 <= yb < h and 0 <= xa < w and 0 <= xb < w):
            continue
        la, lb = labels[ya, xa], labels[yb, xb]
        key = (int(min(la, lb)), int(max(la, lb)))
        if la != lb and (not isinstance(g, dict) or key in g):
            est.append(b.dgb_over_delta.value)
            tru.append(g[key] if isinstance(g, dict) else g)
    return np.array(est), np.array(tru)


def _optical_from(labels, shift, seed=0):
    """An etched-surface micrograph: dark 1-px grooves at every boundary, moved by ``shift`` (dy, dx)."""
    on = np.zeros(labels.shape, bool)
    on[:-1] |= labels[:-1] != labels[1:]
    on[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    img = 0.8 - 0.5 * ndi.gaussian_filter(on.astype(float), 0.7)
    img += 0.03 * np.random.default_rng(seed).standard_normal(labels.shape)
    return ndi.shift(img, shift, order=1, mode="nearest")


def test_median_with_known_grains_within_15_percent(uniform):
    # Grains given (as from EBSD or a perfect optical segmentation): the median over ~400 accepted
    # boundaries must be within +-15 % of the uniform truth. Measured 0.90 here (seed 7, 256 px);
    # on 512 x 206 images, seeds 0/3/5: 0.97/1.27/0.92 -- unbiased on average, but one image
    # scatters by ~15 %, so this seed-pinned test is a regression guard, not a guarantee.
    # The geometric mean sits lower (0.72 here): the per-boundary distribution has a long low
    # tail (small positive gradient estimates).
    ds, labels, g, *_ = uniform
    res = analyse_boundaries(ds, d_bulk=D_BULK, labels=labels)
    assert res.summary.n >= 200
    assert res.summary.median.value == pytest.approx(G_TRUE, rel=0.15)
    assert 0.6 * G_TRUE < res.summary.geometric_mean.value < 1.2 * G_TRUE


def test_optical_micrograph_is_registered_and_used(uniform):
    # The micrograph is displaced by (3, -5) px; registration must undo it to within a pixel
    # (the grooves sit half a pixel off the label edges, hence the tolerance), and the analysis
    # must then find most grains and a median within +-30 % (measured 0.89; the sato-ridge
    # segmentation misses ~10 % of the grains).
    ds, labels, g, *_ = uniform
    res = analyse_boundaries(ds, d_bulk=D_BULK, optical=_optical_from(labels, (3, -5)))
    dy, dx = res.optical_shift_px
    assert abs(dy + 3) < 1.0 and abs(dx - 5) < 1.0
    assert res.n_grains > 0.8 * len(np.unique(labels))
    assert res.summary.median.value == pytest.approx(G_TRUE, rel=0.30)


def test_automatic_median_within_15_percent(uniform):
    # Boundaries found from the C map alone: median over the accepted ones within +-15 % of the
    # uniform truth. Measured 0.87 here (seed 7, 256 px; 0.90 with the true grains). On 512 x 206
    # images, seeds 0-5: 1.08/0.92/0.86/1.27/1.01/0.88 (true grains: 0.97/1.04/1.17/1.27/0.98/0.92),
    # so 5 of 6 within 15 %; seed 3 is off by as much with the TRUE grains: the remaining error
    # is the estimator's image-to-image scatter (noise of the pooled bulk gradient, ~+-13 %), not
    # segmentation. This seed-pinned test is therefore a regression guard with little margin.
    # Before the over-segmenting defaults the same images gave 1.59 here and 1.49-1.93 (missed
    # boundaries hid their steps in the grain-slope fits).
    ds, labels, g, *_ = uniform
    res = analyse_boundaries(ds, d_bulk=D_BULK)
    assert res.source_edge == "bottom"
    assert res.summary.n >= 200
    assert res.summary.median.value == pytest.approx(G_TRUE, rel=0.15)


@pytest.mark.xfail(strict=True, reason="Done-means item not met with boundaries found in the C map: the step "
                   "method gives 0.21 here (0.29 with the true grains), which the oracle below shows is its ceiling "
                   "at 3000 counts/px. The whole-image inversion reaches 0.75 with the true grains "
                   "(test_inversion_ranks_boundaries_with_known_grains) but needs a complete boundary map: with "
                   "3 % of the boundaries merged its median is 5x off, with the C-map segmentation (88 % of the "
                   "boundary length found) 0.54 and 1.24x. From the simulated micrograph it gives 0.76 "
                   "(test_inversion_ranks_boundaries_from_a_micrograph).")
def test_lognormal_spearman_at_least_0_7(lognormal):
    ds, labels, g, *_ = lognormal
    est, tru = _truth_pairs(analyse_boundaries(ds, d_bulk=D_BULK), labels, g)
    assert spearmanr(est, tru).correlation >= 0.7


def test_lognormal_estimates_rank_with_truth(lognormal):
    # Weaker, met claim: per-boundary estimates are positively rank-correlated with the truth
    # (measured ~0.3 over ~400 boundaries with the grains given; 0.15 is >3 sigma above zero).
    ds, labels, g, *_ = lognormal
    est, tru = _truth_pairs(analyse_boundaries(ds, d_bulk=D_BULK, labels=labels), labels, g)
    assert len(est) >= 200
    assert spearmanr(est, tru).correlation > 0.15


def test_spearman_ceiling_at_3000_counts(lognormal):
    # Why Spearman >= 0.7 is out of reach at 3000 counts/px (true grains, so no segmentation error):
    # * noise-free C, local fits: the estimator ranks the boundaries well (measured 0.86);
    # * noise-free LOCAL gradient but the step dC fitted on the noisy image: 0.74 -- the counting
    #   noise of dC alone nearly uses up the margin, so the gradient would have to be known to
    #   ~10 % per boundary (0.72), while its local fit has a ~230 % error at 3000 counts;
    # * any pooled (regional) gradient, even noise-free: 0.52 -- the flux through a boundary grows
    #   with its own G, so a neighbourhood flux compresses the ranking.
    # Tolerances: +-0.06 around the measured values (Spearman over ~500 boundaries has a standard
    # error of ~0.03), so the bounds below fail if the estimator or the simulator changes.
    ds, labels, g, clean, _ = lognormal
    kw = dict(d_bulk=D_BULK, pixel_size_um=1.0, source_edge="bottom", labels=labels,
              quality=QualityOptions(include_flagged=True))
    local, regional = StepFitOptions(gradient="local"), StepFitOptions(gradient="regional")
    clean_local = analyse_boundaries(clean, step_fit=local, **kw).boundaries
    clean_regional = analyse_boundaries(clean, step_fit=regional, **kw).boundaries
    noisy_local = analyse_boundaries(ds, step_fit=local, **kw).boundaries
    rows = [(g[tuple(sorted(a.grains))], a.gradient.value, a.delta_c.value, b.delta_c.value, r.dgb_over_delta.value)
            for a, b, r in zip(clean_local, noisy_local, clean_regional)
            if a.accepted and r.accepted and tuple(sorted(a.grains)) in g]
    truth, grad, dc_clean, dc_noisy, g_regional = np.array(rows).T
    assert len(truth) >= 300
    assert spearmanr(grad / dc_clean, truth).correlation > 0.80
    assert spearmanr(grad / dc_noisy, truth).correlation < 0.80
    assert spearmanr(g_regional, truth).correlation < 0.60


# ---------------------------------------------------------------- whole-image inversion
@pytest.fixture(scope="module")
def inverted_lognormal(lognormal):
    ds, labels, g, *_ = lognormal
    return invert_boundaries(ds, d_bulk=D_BULK, labels=labels, options=InversionOptions(psf_sigma_um=0.5))


def test_inversion_ranks_boundaries_with_known_grains(inverted_lognormal, lognormal):
    # The Done-means ranking criterion with the true grains (EBSD). Measured: Spearman 0.753 over
    # 139 accepted boundaries (posterior log-sd < 0.35), population median 1.0x, log-sd 0.53
    # (drawn with 0.5); seeds 9/10/11: 0.745/0.771/0.776. Spearman over ~140 boundaries has a
    # standard error of ~0.04. The median over the ACCEPTED boundaries leans high (1.16x): in a
    # broad population the better-determined boundaries are the faster ones; the population
    # median is the unbiased centre, and is what is checked to +-15 % here.
    _, labels, g, *_ = lognormal
    res = inverted_lognormal
    est, tru = _truth_pairs(res, labels, g)
    assert len(est) >= 100
    assert spearmanr(est, tru).correlation >= 0.7
    assert res.population.median.value == pytest.approx(G_TRUE, rel=0.15)  # SI (m/s)
    assert res.summary.median.value == pytest.approx(G_TRUE, rel=0.30)
    assert 0.35 < res.population.log_sd < 0.7


def test_inversion_reports_consistent_quantities(inverted_lognormal):
    # Per boundary: D*gb/delta = D*bulk * gradient / delta_c holds in the model (the flux law),
    # stderrs are finite and positive, and the JSON carries the population.
    res = inverted_lognormal
    b = res.accepted[0]
    assert b.source == "inversion"
    assert b.dgb_over_delta.value == pytest.approx(D_BULK * b.gradient.value / b.delta_c.value, rel=1e-9)
    for q in (b.dgb_over_delta, b.delta_c, b.gradient):
        assert np.isfinite(q.stderr) and q.stderr > 0
    out = res.to_dict()
    assert out["population"]["median"]["unit"] == "cm/s" and out["population"]["estimated"] is True
    assert 0 < out["population"]["median"]["stderr"] < 0.2 * out["population"]["median"]["value"]
    assert out["summary"]["dgb_over_delta"]["n"] == len(res.accepted)


def test_inversion_median_on_uniform_image_with_known_grains(uniform):
    # Uniform D*gb/delta: the population log-sd must come out at its floor (0.3: no spread
    # resolved) and the median within +-15 %. Measured 1.025 here; 512 x 206 seeds 0-3:
    # 1.04/1.01/0.96/1.08.
    ds, labels, g, *_ = uniform
    res = invert_boundaries(ds, d_bulk=D_BULK, labels=labels, options=InversionOptions(psf_sigma_um=0.5))
    assert res.summary.n >= 300
    assert res.summary.median.value == pytest.approx(G_TRUE, rel=0.15)
    assert res.population.log_sd == pytest.approx(0.3)


def test_inversion_posterior_errors_are_calibrated(inverted_lognormal, lognormal):
    # Honest error bars: over the accepted boundaries, (ln estimate - ln truth) / posterior log-sd
    # must look standard normal. Measured over the 139 accepted: mean 0.25, sd 1.04, 68 % within 1
    # and 94 % within 2. With ~140 boundaries the sample sd scatters by ~6 %, so 0.8-1.25 fails
    # only for a real miscalibration; the mean bound 0.5 allows the accepted set's lean towards
    # faster boundaries (see above) and its noise.
    _, labels, g, *_ = lognormal
    res = inverted_lognormal
    rows = [(b.dgb_over_delta.value, b.dgb_over_delta.stderr, g[tuple(sorted(b.grains))])
            for b in res.accepted if tuple(sorted(b.grains)) in g]
    est, se, tru = np.array(rows).T
    pull = np.log(est / tru) / (se / est)
    assert len(pull) >= 100
    assert abs(pull.mean()) < 0.5
    assert 0.8 < pull.std() < 1.25


def test_inversion_ranks_boundaries_from_a_micrograph(lognormal):
    # Done-means, ranking: boundaries found automatically in the etched-surface micrograph that the
    # simulator draws for the same grains (16 px larger than the field on every side, located by
    # registration). Measured here (seed 8): Spearman 0.762 over 133 accepted boundaries. Over
    # seeds 8-19: mean 0.75, 11 of 12 >= 0.7, lowest 0.638 (seed 14); with the true grains
    # seeds 8-11 give 0.745-0.776, so the micrograph costs little. Spearman's standard error
    # here is ~0.04: the bound holds on this seed with ~1.5 sd of margin, not on every image.
    ds, labels, g, _, grains = lognormal
    micrograph = synthetic_micrograph(grains, margin_px=16, seed=8)
    res = invert_boundaries(ds, d_bulk=D_BULK, optical=micrograph.image,
                            options=InversionOptions(psf_sigma_um=0.5))
    # Registration is a sub-pixel similarity fit now (was an integer shift): within half a pixel.
    assert res.optical_shift_px == pytest.approx((-16.0, -16.0), abs=0.5)
    est, tru = _truth_pairs(res, labels, g)
    assert len(est) >= 100
    assert spearmanr(est, tru).correlation >= 0.7
    assert res.population.median.value == pytest.approx(G_TRUE, rel=0.15)


def test_inversion_median_from_a_micrograph(uniform):
    # Done-means, median: uniform D*gb/delta, boundaries from the simulated micrograph. Measured
    # 1.014 here; 512 x 206 seeds 0-3: 1.04/1.05/1.01/1.05 (with the estimated population log-sd
    # unfloored, 0.06, the same micrograph maps gave 0.78-0.92: see min_population_log_sd).
    ds, labels, g, _, grains = uniform
    micrograph = synthetic_micrograph(grains, margin_px=16, seed=7)
    res = invert_boundaries(ds, d_bulk=D_BULK, optical=micrograph.image,
                            options=InversionOptions(psf_sigma_um=0.5))
    assert res.summary.n >= 300
    assert res.summary.median.value == pytest.approx(G_TRUE, rel=0.15)
