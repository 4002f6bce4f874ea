"""Fast boundaries in an image: the slow-boundary step analysis must say its model does not fit.

Generator: synthetic_exchange_image(shape=(206, 256), mean_grain_um=30, d_bulk=1e-16 m^2/s,
59 h, 3000 counts/px, PSF 0.5 um, seed 3); fast boundaries carry P = 2 beta D sqrt(D t) along
them and no resistance across; slow ones have D*gb/delta = D / 2 um.
"""

import math
import warnings

import numpy as np
import pytest

from tracerdiff.boundaries import QualityOptions, analyse_boundaries
from tracerdiff.boundaries.kind import boundary_ridge_check
from tracerdiff.models.harrison import BoundaryKindWarning
from tracerdiff.simulate import ExchangeConditions, synthetic_exchange_image

D, T = 1e-16, 59 * 3600.0
ROOT = math.sqrt(D * T)


def _image(**kw):
    return synthetic_exchange_image(shape=(206, 256), mean_grain_um=30, seed=3,
                                    exchange=ExchangeConditions(d_bulk=D, exchange_time=T, **kw))


@pytest.mark.parametrize("beta", [10, 1000])
def test_step_analysis_refuses_fast_boundaries(beta):
    ds, sim = _image(dgb_over_delta=None, p_gb=2 * beta * D * ROOT)
    with pytest.warns(BoundaryKindWarning, match="fast paths"):
        r = analyse_boundaries(ds, d_bulk=D, labels=sim.grains.labels, source_edge="bottom")
    assert len(r.boundaries) > 100
    assert r.summary.n == 0 and not r.accepted  # no numbers instead of wrong ones
    assert "step model" in r.message
    # include_flagged cannot bring them back
    with pytest.warns(BoundaryKindWarning):
        assert analyse_boundaries(ds, d_bulk=D, labels=sim.grains.labels, source_edge="bottom",
                                  quality=QualityOptions(include_flagged=True)).summary.n == 0


def test_slow_boundaries_pass_the_check():
    ds, sim = _image(dgb_over_delta=D / 2e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        analyse_boundaries(ds, d_bulk=D, labels=sim.grains.labels, source_edge="bottom")
    check = boundary_ridge_check(sim.c, np.ones(sim.c.shape, bool), sim.grains.labels, (0.0, 1.0))
    assert not check.fast and abs(check.ridge_ratio) < 0.05  # measured -0.02 (noise-free C)
