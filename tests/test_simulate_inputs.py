"""Bad parameters fail with a clear InputError before any work is done."""

import numpy as np
import pytest

import tracerdiff.simulate.history as history
from tracerdiff.errors import InputError
from tracerdiff.simulate import (Arrhenius, ClosedStep, ExchangeStep, GrainMap, SimsOptions, simulate_history,
                                 synthetic_sims, voronoi_grains)

GRAINS = GrainMap.from_labels(np.repeat([[0] * 4 + [1] * 4], 6, axis=0), pixel_size_um=1.0)
GOOD = dict(d_bulk=1e-12, dgb_over_delta=1e-8)


@pytest.fixture
def no_work(monkeypatch):
    """Fail loudly if the operator is ever assembled (i.e. work started)."""
    def boom(*args, **kwargs):
        raise AssertionError("work started before validation finished")
    monkeypatch.setattr(history, "assemble", boom)


@pytest.mark.parametrize("bad_step, message", [
    (ClosedStep(10.0, d_bulk=-1e-12, dgb_over_delta=1e-8), "D\\*bulk must be a positive"),
    (ClosedStep(10.0, d_bulk=0.0, dgb_over_delta=1e-8), "D\\*bulk must be a positive"),
    (ClosedStep(10.0, d_bulk=1e-12, dgb_over_delta=-1e-8), "D\\*gb/delta must be finite and >= 0"),
    (ClosedStep(-5.0, **GOOD), "duration must be a positive"),
    (ExchangeStep(10.0, source_edge="middle", **GOOD), "exchange edge 'middle' does not exist"),
    (ExchangeStep(10.0, source_edge="front", **GOOD), "exchange edge 'front' does not exist"),
    (ExchangeStep(10.0, source_edge=np.zeros((6, 8), bool), **GOOD), "exchange region is empty"),
    (ExchangeStep(10.0, source_edge=np.zeros((3, 3), bool), **GOOD), "boolean mask of shape"),
    (ClosedStep(10.0, d_bulk=1e-12, dgb_over_delta={(0, 1): 1e-8, (0, 7): 1e-8}), "boundary \\(0, 7\\) does not"),
    (ClosedStep(10.0, d_bulk=1e-12, dgb_over_delta={}), "no value for boundary \\(0, 1\\)"),
    (ClosedStep(10.0, d_bulk=Arrhenius(1e-6, 5e-20), dgb_over_delta=1e-8), "needs temperature_K"),
    (ClosedStep(10.0, d_bulk=1e-12, dgb_over_delta=lambda a, b: float("nan")), "finite"),
    (ClosedStep(10.0, d_bulk=np.stack([np.eye(2)] * 1) * 1e-12, dgb_over_delta=1e-8), "shape \\(2, 2, 2\\)"),
    (ClosedStep(10.0, d_bulk=np.stack([np.diag([1e-12, -1e-13])] * 2), dgb_over_delta=1e-8), "positive definite"),
])
def test_bad_step_fails_before_work(no_work, bad_step, message):
    # The bad step comes second: the first (valid) one must not have been run.
    with pytest.raises(InputError, match=message):
        simulate_history(GRAINS, [ExchangeStep(10.0, **GOOD), bad_step])


def test_bad_history_arguments(no_work):
    with pytest.raises(InputError, match="at least one step"):
        simulate_history(GRAINS, [])
    with pytest.raises(InputError, match="c_initial"):
        simulate_history(GRAINS, [ClosedStep(1.0, **GOOD)], c_initial=np.zeros((2, 2)))
    with pytest.raises(InputError, match="scheme"):
        simulate_history(GRAINS, [ClosedStep(1.0, **GOOD)], scheme="euler")
    with pytest.raises(InputError, match="n_steps"):
        simulate_history(GRAINS, [ClosedStep(1.0, **GOOD)], n_steps=0)


def test_grains_smaller_than_a_cell():
    with pytest.raises(InputError, match="smaller than two cells"):
        voronoi_grains((50, 50), pixel_size_um=2.0, mean_grain_um=1.5)
    with pytest.raises(InputError, match="sd_grain_um"):
        voronoi_grains((50, 50), pixel_size_um=1.0, mean_grain_um=10.0, sd_grain_um=-1.0)
    with pytest.raises(InputError, match="shape"):
        voronoi_grains((50,), pixel_size_um=1.0, mean_grain_um=10.0)


def test_bad_sims_parameters():
    c = np.zeros((4, 4))
    with pytest.raises(InputError, match="natural_fraction"):
        synthetic_sims(c, pixel_size_um=1.0, sims=SimsOptions(natural_fraction=1.5))
    with pytest.raises(InputError, match="counts_per_pixel"):
        synthetic_sims(c, pixel_size_um=1.0, sims=SimsOptions(counts_per_pixel=0))
    with pytest.raises(InputError, match="c must be"):
        synthetic_sims(np.array([np.nan, 1.0]), pixel_size_um=1.0)
