"""The image tells which kind of boundary it holds: joint fit of uniform G (across) and P (along).

Generator: simulate_history on a 2D Voronoi map (80 x 96 um, 1 um pixels, 20 um grains, seed 5),
one 59 h exchange from the bottom edge at D = 1e-16 m^2/s; Gaussian noise sigma = 0.01 on C
(seed 0). Fast: P = 2 beta D sqrt(D t) with beta = 100, no resistance across. Slow: G = D / 2 um.
"""

import math

import numpy as np
import pytest

from tracerdiff.inversion.boundary_kind import fit_boundary_kind
from tracerdiff.simulate import ExchangeStep, simulate_history, voronoi_grains

D, T = 1e-16, 59 * 3600.0
P_TRUE = 2 * 100 * D * math.sqrt(D * T)
G_TRUE = D / 2e-6


@pytest.fixture(scope="module")
def grains():
    return voronoi_grains((80, 96), pixel_size_um=1.0, mean_grain_um=20, seed=5)


def _image(grains, **kw):
    c = simulate_history(grains, ExchangeStep(T, d_bulk=D, source_edge="bottom", **kw), n_steps=20).c
    rng = np.random.default_rng(0)
    return c + rng.normal(0, 0.01, c.shape), np.full(c.shape, 0.01)


def test_fast_boundaries_are_recognised(grains):
    c, err = _image(grains, p_gb=P_TRUE)
    fit = fit_boundary_kind(c, err, grains, d_bulk=D, exchange_time=T, start=(G_TRUE, P_TRUE / 3))
    assert fit.kind == "fast"
    assert fit.p.value == pytest.approx(P_TRUE, rel=0.1)
    assert abs(fit.p.value - P_TRUE) < 4 * fit.p.stderr + 1e-3 * P_TRUE
    assert fit.bic["slow"] - fit.bic["fast"] > 100  # not a close call


def test_slow_boundaries_are_recognised(grains):
    c, err = _image(grains, dgb_over_delta=G_TRUE)
    fit = fit_boundary_kind(c, err, grains, d_bulk=D, exchange_time=T, start=(G_TRUE * 3, P_TRUE))
    assert fit.kind in ("slow", "both")
    assert fit.g.value == pytest.approx(G_TRUE, rel=0.1)
    if fit.kind == "both":  # then the along-boundary part must be negligible
        assert fit.p.value < 0.05 * P_TRUE
