"""Grain slopes (bulk dC/dd) and direct step-pixel detection, on hand-built fields."""

import numpy as np
import pytest

from tracerdiff.boundaries.gradients import grain_slopes, step_pixels

SOURCE_BOTTOM = (0.0, 1.0)  # d along +y: lines parallel to d are image columns


def test_line_that_leaves_and_reenters_a_grain_gets_two_intercepts():
    # Grain 1 is a "C" shape: every column crosses grain 1 (rows 0-9), grain 2 (rows 10-19) and
    # grain 1 again (rows 20-29). C = g y + a step of 0.05 at row 20 (the 2|1 boundary). With one
    # intercept per column in grain 1 the two arms would be joined across the step and the slope
    # would be g + 0.05 * 100/(2*825) ~ 8x too large (hand-computed for this geometry); each
    # unbroken run must get its own intercept, giving g exactly (noise-free data).
    g = 4e-4
    y = np.arange(30, dtype=float)[:, None] * np.ones((1, 12))
    labels = np.ones((30, 12), np.int32)
    labels[10:20] = 2
    c = 0.3 + g * y + 0.05 * (y >= 20)
    sigma = np.full(c.shape, 0.01)
    _, slope, stderr = grain_slopes(c, sigma, labels, np.ones(c.shape, bool), SOURCE_BOTTOM, tile_px=None)
    assert slope[1] == pytest.approx(g, rel=1e-9)
    assert slope[2] == pytest.approx(g, rel=1e-9)
    assert np.isfinite(stderr[1]) and stderr[1] > 0


def test_step_pixels_find_a_weak_straight_step_and_ignore_the_pixels_own_line():
    # A step of 0.02 along a 70 px boundary in a noisy image (sigma 0.008 per pixel, i.e. 2.5 sigma
    # per pixel, about a 3000-count step at 60 deg to the flux; a boundary, not a whole row, as the
    # bulk trend is the median over the row): the mask must flag most of the boundary and few
    # pixels far from it (3 noise sigmas plus dilation: ~1 % false positives).
    rng = np.random.default_rng(0)
    h, w = 60, 200
    y = np.arange(h, dtype=float)[:, None] * np.ones((1, w))
    sigma = np.full((h, w), 0.008)
    x = np.arange(w)[None, :] * np.ones((h, 1))
    c = 0.5 + 2e-4 * y + 0.02 * ((y >= 30) & (x < 70)) + sigma * rng.standard_normal((h, w))
    valid = np.ones((h, w), bool)
    mask = step_pixels(c, sigma, valid, SOURCE_BOTTOM, n_sigma=3.0)
    assert mask[29:31, 2:68].any(axis=0).mean() > 0.8
    far = (np.abs(y - 29.5) > 6) | (x > 76)
    assert mask[far].mean() < 0.05
    # The mask of a pixel line must not depend on that line's own data (cutting a line's fit where
    # its own noise rises steeply biases its slope): changing column 100 leaves its mask unchanged.
    c2 = c.copy()
    c2[:, 100] += 0.05 * rng.standard_normal(h)
    mask2 = step_pixels(c2, sigma, valid, SOURCE_BOTTOM, n_sigma=3.0)
    assert np.array_equal(mask[:, 100], mask2[:, 100])
