"""Grain-map repair and the grain-map quality figure of the inversion (hand-built images, fast)."""

import math

import numpy as np
import pytest

from tracerdiff.boundaries.segmentation import edge_strength
from tracerdiff.inversion.quality import (DEFICIENT_ABOVE, LOG_ERROR_PER_DEFICIENCY, MODEL_LOG_ERROR, ORIGIN_LOG_ERROR,
                                         grain_map_quality, map_log_error, median_log_stderr)
from tracerdiff.inversion.repair import (STEEP_SIGMAS, accept_split, grain_chi2, plane_residual, propose_split,
                                         repair_map, steep_grains, step_gain)
from tracerdiff.inversion.windows import (WindowFit, estimate_population, inlier_weights,
                                          population_median_block_stderr,
                                          population_median_marginal_stderr, population_median_stderr)

SE = 0.008  # per-pixel counting error of C at ~3000 counts/px (C ~ 0.7)


def _field(seed=0, step=0.03, ny=60, nx=80):
    """A C map with a gentle depth gradient, four grains in a 2 x 2 layout, a step of ``step`` across the
    horizontal boundary (row 30, i.e. across the flux) and noise; returns (C, err, true labels)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx]
    labels = 1 + (yy >= 30) * 2 + (xx >= 40)
    c = 0.8 - 0.0002 * yy + 0.00005 * xx - step * (yy >= 30) - 0.01 * (xx >= 40)
    return c + SE * rng.standard_normal(c.shape), np.full(c.shape, SE), labels.astype(np.int64)


def test_plane_residual_vanishes_on_planes():
    # One exact plane per grain (different planes): the residual is zero to round-off.
    yy, xx = np.mgrid[0:30, 0:40]
    labels = 1 + (xx >= 20)
    c = np.where(labels == 1, 0.5 + 0.01 * yy - 0.002 * xx, 0.3 - 0.003 * yy + 0.004 * xx)
    z = plane_residual(c, np.full(c.shape, 0.01), labels, np.ones(c.shape, bool))
    assert np.nanmax(np.abs(z)) < 1e-8


def test_plane_residual_of_some_grains_is_their_whole_map_residual_to_the_bit():
    # repair_map fits the planes of the offered grains only (memory): each grain's plane uses its
    # own pixels in the same order, so the numbers must be those of the whole map, bit for bit.
    c, err, labels = _field(seed=2)
    whole = plane_residual(c, err, labels, np.ones(c.shape, bool))
    some = np.isin(labels, [2, 3])
    part = plane_residual(c, err, labels, some)
    assert np.array_equal(part[some], whole[some])
    assert np.all(np.isnan(part[~some]))


def test_a_hidden_step_is_cut_where_it_is():
    # Grains 1 and 3 merged (the step of 0.03 = 3.75 counting sd between them hidden): the cut must
    # follow the true boundary (row 30) and beat the BIC price by far; the untouched grains get no cut.
    c, err, truth = _field(seed=1)
    merged = np.where(truth == 3, 1, truth)
    valid = np.ones(c.shape, bool)
    edge = edge_strength(c, err, smoothing_px=1.0)
    mask = valid.copy()
    flat = plane_residual(c, err, merged, mask)
    child = propose_split(merged == 1, flat, mask, edge, interior=mask)
    assert child is not None
    agree = max(np.mean(child[merged == 1] == (truth[merged == 1] == 3)),
                np.mean(child[merged == 1] == (truth[merged == 1] == 1)))
    assert agree > 0.97  # all but a few pixels along the ragged watershed line
    gain, n = step_gain(c, err, merged == 1, child, mask)
    # Expected chi^2 drop ~ n * (step / 2 / SE)^2 = 1200 * 3.5 = 4200, far beyond max(k ln n, 25).
    assert gain > 1000 and accept_split(gain, n, 1)
    fixed = repair_map(c, err, valid, merged, edge=edge, margin=2, rounds=2)
    assert fixed.accepted == 1
    assert len(np.unique(fixed.labels)) == 4


def test_true_grains_are_not_cut():
    # The same image with its true grains: no grain has two residual lobes, nothing is cut.
    for seed in range(3):
        c, err, truth = _field(seed=seed)
        fixed = repair_map(c, err, np.ones(c.shape, bool), truth, edge=edge_strength(c, err), margin=2, rounds=2)
        assert fixed.proposed == 0 and fixed.accepted == 0
        np.testing.assert_array_equal(fixed.labels, truth)


def test_a_merge_without_a_step_is_left_alone():
    # Without a step across row 30, grains 1 and 3 merged are one plane (a boundary the flux
    # crosses without a jump): there is nothing in C to cut along, and nothing may be cut.
    c, err, truth = _field(seed=4, step=0.0)
    merged = np.where(truth == 3, 1, truth)
    fixed = repair_map(c, err, np.ones(c.shape, bool), merged, edge=edge_strength(c, err), margin=2, rounds=2)
    assert fixed.accepted == 0  # no step across rows 30: the merged grain is one plane


def _grain_grid(seed, *, ramp=0.0):
    """200 square grains (20 x 20 px) on one depth gradient with counting noise; grain 1 gets an extra
    lateral ramp of ``ramp`` per px (a hidden gradual step). Returns C, err, labels, interior mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:200, 0:400]
    labels = (1 + (yy // 20) * 20 + xx // 20).astype(np.int64)
    c = 0.8 - 0.0005 * yy + ramp * xx * (labels == 1) + SE * rng.standard_normal(yy.shape)
    interior = ((yy % 20) >= 2) & ((yy % 20) < 18) & ((xx % 20) >= 2) & ((xx % 20) < 18)
    return c, np.full(c.shape, SE), labels, interior


def test_steep_grain_statistic_follows_its_chi2_tail_on_correct_grains():
    # The threshold's reason (STEEP_SIGMAS) is that on correct grains the statistic is chi^2(2):
    # flags at n sd occur with the two-sided normal tail probability. 6 x 200 grains: expected
    # 1200 x 0.0027 = 3.2 at 3 sd (Poisson: P(> 10) ~ 1e-3) and 1200 x 0.0455 = 55 +- 7.4 at 2 sd.
    flagged = {3.0: 0, 2.0: 0}
    for seed in range(6):
        c, err, labels, interior = _grain_grid(seed)
        for n in flagged:
            flagged[n] += steep_grains(c, err, labels, interior, n_sigma=n).size
    assert flagged[3.0] <= 10
    assert 35 <= flagged[2.0] <= 75
    assert STEEP_SIGMAS == 3.0


def test_a_grain_with_a_hidden_ramp_is_steep():
    # Grain 1 with a lateral ramp (a hidden gradual step). Slope error of a 16 x 16 px interior:
    # SE / sqrt(256 * 21) = 1.1e-4 per px. A ramp of 8e-4 (~7 slope errors) is flagged at 3 and 4 sd;
    # one of 5e-4 (~4.5 before noise; with this seed's noise between the two thresholds) only at the
    # default 3 sd -- the kind of grain the lower threshold is for. No other grain is flagged.
    c, err, labels, interior = _grain_grid(2, ramp=0.0008)
    assert steep_grains(c, err, labels, interior).tolist() == [1]
    assert steep_grains(c, err, labels, interior, n_sigma=4.0).tolist() == [1]
    c, err, labels, interior = _grain_grid(2, ramp=0.0005)
    assert steep_grains(c, err, labels, interior).tolist() == [1]
    assert steep_grains(c, err, labels, interior, n_sigma=4.0).tolist() == []


def test_accept_split_is_the_bic_rule():
    assert not accept_split(24.9, 10, 1)  # below the floor of 25
    assert accept_split(25.1, 10, 1)  # ln(10) * 1 = 2.3 < 25
    assert not accept_split(30.0, 10000, 4)  # 4 ln(1e4) = 36.8
    assert accept_split(37.0, 10000, 4)
    assert not accept_split(100.0, 0, 1)


def test_grain_chi2_flags_the_grain_that_misfits():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(1, 5), 400).reshape(40, 40)
    z = rng.standard_normal(labels.shape)
    # Excess chi^2 over n, in sd sqrt(2 n) = 28: grain 3 ~100 (3.5 sd, under the 4-sd flag), grain 4 ~400 (14 sd).
    z[labels == 3] += 0.5
    z[labels == 4] += 1.0
    chi = grain_chi2(z, labels, np.ones(labels.shape, bool))
    assert list(chi.misfit(n_sigma=4.0)) == [4]
    assert chi.n[1:].tolist() == [400.0] * 4


def _direct(obs, s, pairs_per_window):
    """Windows that each measure their boundaries directly (information 1/s^2 each)."""
    fits = []
    for chunk in np.array_split(obs, len(obs) // pairs_per_window):
        k = len(chunk)
        fits.append(WindowFit(np.arange(2 * k).reshape(k, 2), chunk, np.eye(k) / s ** 2, chunk / s ** 2,
                              np.zeros(k), np.zeros((k, k)), 0.0, 1, 1, {}))
    return fits, [np.arange(len(f.theta)) for f in fits]


def test_robust_population_ignores_a_share_of_outliers():
    # 900 boundaries from N(-18, 0.5^2) and 100 outliers at -13 (boundaries next to a grain that
    # hides a step): the plain EM's centre moves by ~0.5 (100 * 5 / 1000); the mixture's stays within
    # 0.05 of -18 (standard error 0.5 / 30 = 0.017) and its spread near 0.5.
    rng = np.random.default_rng(7)
    obs = np.concatenate([-18.0 + 0.5 * rng.standard_normal(900), -13.0 + 0.2 * rng.standard_normal(100)])
    fits, owned = _direct(obs, 0.1, 1)
    mu_plain, _ = estimate_population(fits, owned, mu=-17.0, sigma=1.0)
    mu, sigma = estimate_population(fits, owned, mu=-17.0, sigma=1.0, robust=True)
    assert mu_plain > -17.6
    assert mu == pytest.approx(-18.0, abs=0.05) and sigma == pytest.approx(0.5, abs=0.06)


def test_window_cluster_error_sees_a_shared_window_offset():
    # 40 windows of 25 boundaries; each window's model error shifts all its boundaries by one
    # N(0, 0.2^2) offset. The independent-boundary error (~sqrt(0.5^2/1000) = 0.016) misses it;
    # the cluster error must come out near the true one, sqrt(0.5^2/1000 + 0.2^2/40) = 0.035.
    rng = np.random.default_rng(9)
    errors = []
    for _ in range(40):
        offsets = np.repeat(0.2 * rng.standard_normal(40), 25)
        obs = -18.0 + 0.5 * rng.standard_normal(1000) + offsets
        fits, owned = _direct(obs, 0.05, 25)
        mu, sigma = estimate_population(fits, owned, mu=-18.0, sigma=1.0)
        errors.append((population_median_stderr(fits, owned, mu, sigma),
                       population_median_block_stderr(fits, owned, mu, sigma)))
    independent, block = np.mean(errors, axis=0)
    assert independent == pytest.approx(0.016, rel=0.15)
    assert block == pytest.approx(0.035, rel=0.25)


def test_cluster_error_weights_boundaries_as_the_robust_median_does():
    # 40 windows of 25 boundaries from N(-18, 0.5^2), independent: the cluster error is then
    # ~0.5 / sqrt(1000) = 0.016. One window also holds 10 outliers at -12 (12 sd away, as next to
    # a grain that hides a step): the mixture gives them responsibility ~0 and mu ignores them.
    # Unweighted they add 10 * 6 = 60 to their window's sum, ~60 / 1000 = 0.06 in ln (4x the
    # true error); weighted by r_k, as in mu, they add nothing.
    rng = np.random.default_rng(11)
    obs = -18.0 + 0.5 * rng.standard_normal(1000)
    clean_fits, clean_owned = _direct(obs, 0.05, 25)
    mu0, sigma0 = estimate_population(clean_fits, clean_owned, mu=-18.0, sigma=1.0, robust=True)
    clean = population_median_block_stderr(clean_fits, clean_owned, mu0, sigma0, robust=True)
    obs_out = obs.copy()
    obs_out[:10] = -12.0
    fits, owned = _direct(obs_out, 0.05, 25)
    mu, sigma = estimate_population(fits, owned, mu=-18.0, sigma=1.0, robust=True)
    assert mu == pytest.approx(mu0, abs=0.01)  # the robust centre ignores the outliers
    plain = population_median_block_stderr(fits, owned, mu, sigma)
    robust = population_median_block_stderr(fits, owned, mu, sigma, robust=True)
    # 0.016 within the sandwich's own scatter (40 clusters: ~11 % sd; 30 % is ~3 sd).
    assert clean == pytest.approx(0.016, rel=0.3)
    assert robust == pytest.approx(clean, rel=0.05)
    assert plain > 3 * robust


def test_inlier_weights_match_the_fitted_mixture():
    # 950 inliers N(0, 1) and 50 outliers at +6.5: responsibilities ~0 for the outliers (normal
    # density at 6.5 sd: e^-21) and near 1 for a typical inlier (|z| ~ 0.67: normal density ~0.3
    # against the flat one, (1 - share) / 14 ~ 0.006: r ~ 0.98). Their mean is the share at its
    # fixed point: below 0.95, since the flat part also takes a share of the inliers' tails (at
    # |z| > 2, 4.6 % of them, r < 0.8), but not by more than those tails.
    rng = np.random.default_rng(3)
    means = np.concatenate([rng.standard_normal(950), np.full(50, 6.5)])
    r = inlier_weights(means, 0.0, 1.0)
    assert np.all(r[950:] < 1e-6)
    assert np.median(r[:950]) > 0.95
    assert 0.95 - 0.05 <= float(np.mean(r)) <= 0.95


def test_marginal_error_sees_a_weakly_measured_common_level():
    # 40 windows of 25 boundaries whose data pin the ratios well (sd 0.1 each) but their mean level
    # only to sd 0.12 (as on the 512 x 206 test images: 4 % of a window's level comes from its data,
    # the rest from the prior; the level rests on the small bulk gradients). Population log-sd 0.3,
    # known. The ln median over 60 replications must scatter as the marginal error says,
    # sqrt((0.3^2 + 0.6^2) / 25 / 40) = 0.021 (sd of an sd from 60 draws: 9 %, so 25 %), while the
    # independent-boundary error, which misses the shared level, is about half of it.
    rng = np.random.default_rng(11)
    k, n_win, sigma, ratio_sd, level_sd = 25, 40, 0.3, 0.1, 0.6
    j = np.ones((k, k)) / k
    info = (np.eye(k) - j) / ratio_sd ** 2 + j / level_sd ** 2
    cov = (np.eye(k) - j) * ratio_sd ** 2 + j * level_sd ** 2
    chol = np.linalg.cholesky(cov)
    mus, marginal, independent = [], [], []
    for _ in range(60):
        fits = []
        for _ in range(n_win):
            obs = -18.0 + sigma * rng.standard_normal(k) + chol @ rng.standard_normal(k)
            fits.append(WindowFit(np.arange(2 * k).reshape(k, 2), obs, info, info @ obs, np.zeros(k),
                                  np.zeros((k, k)), 0.0, 1, 1, {}))
        owned = [np.arange(k)] * n_win
        mu, _ = estimate_population(fits, owned, mu=-17.5, sigma=sigma, fixed_sigma=sigma)
        mus.append(mu)
        marginal.append(population_median_marginal_stderr(fits, owned, mu, sigma))
        independent.append(population_median_stderr(fits, owned, mu, sigma))
    expected = math.sqrt((sigma ** 2 + level_sd ** 2) / k / n_win)
    assert np.mean(marginal) == pytest.approx(expected, rel=1e-6)  # the formula, exactly
    assert np.std(mus) == pytest.approx(expected, rel=0.25)  # and the scatter it describes
    assert np.mean(independent) < 0.6 * expected


def test_quality_figure_and_error_parts():
    record = {"grains_before": 400, "proposed": 50, "accepted": 40, "steep_grains": 0, "initial": {"n_grains": 440},
              "final": {"n_grains": 440, "n_misfit": 4, "misfit_fraction": 4 / 440, "misfit_area_fraction": 0.02,
                        "excess_chi2_per_pixel": 0.1}}
    q = grain_map_quality(record)
    assert q["origin"] == "labels"
    assert q["cut_fraction"] == pytest.approx(0.1)
    assert q["deficiency"] == pytest.approx(0.1 + 4 / 440)
    assert q["deficient"] is True and q["deficiency"] > DEFICIENT_ABOVE
    # Given labels: the map term is the deficiency's alone.
    assert ORIGIN_LOG_ERROR["labels"] == 0.0
    assert q["median_log_stderr_map"] == pytest.approx(LOG_ERROR_PER_DEFICIENCY * q["deficiency"])
    parts = median_log_stderr(0.02, 0.04, q)
    assert parts["total"] == pytest.approx(math.sqrt(0.04 ** 2 + MODEL_LOG_ERROR ** 2 + q["median_log_stderr_map"] ** 2))
    clean = grain_map_quality({**record, "accepted": 0, "final": {**record["final"], "n_misfit": 0,
                                                                  "misfit_fraction": 0.0}})
    assert clean["deficient"] is False
    assert median_log_stderr(0.02, math.inf, clean)["total"] == pytest.approx(math.hypot(0.02, MODEL_LOG_ERROR))


def test_map_term_depends_on_origin_and_deficiency():
    # The same (clean) record: a micrograph's map carries its segmentation's error, the C map's
    # more (boundaries too faint to segment or cut); more deficiency always widens the error.
    record = {"grains_before": 400, "proposed": 0, "accepted": 0, "steep_grains": 0, "initial": {"n_grains": 400},
              "final": {"n_grains": 400, "n_misfit": 0, "misfit_fraction": 0.0, "misfit_area_fraction": 0.0,
                        "excess_chi2_per_pixel": 0.0}}
    terms = {o: grain_map_quality(record, origin=o)["median_log_stderr_map"] for o in ("labels", "optical", "cmap")}
    assert terms["labels"] == 0.0 < terms["optical"] < terms["cmap"]
    for origin in terms:
        assert map_log_error(origin, 0.2) > map_log_error(origin, 0.05) >= terms[origin]
    with pytest.raises(ValueError, match="origin"):
        grain_map_quality(record, origin="ebsd")


