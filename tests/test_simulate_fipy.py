"""The simulator's linear systems solved independently by FiPy (skipped without FiPy)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fipy")


def _bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_simulate.py"
    spec = importlib.util.spec_from_file_location("bench_simulate", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_simulate", module)
    spec.loader.exec_module(module)
    return module


def test_fipy_agrees_on_the_benchmark_problem():
    from tracerdiff.simulate import voronoi_grains

    bench = _bench()
    grains = voronoi_grains((400, 24), pixel_size_um=1.0, mean_grain_um=16.0, seed=0)  # not saturated
    ours, _ = bench.tracerdiff_solve(grains)
    theirs, _ = bench.fipy_solve(grains)
    # Same linear systems (FiPy tolerance 1e-12): agreement to round-off x condition number.
    assert np.abs(ours - theirs).max() < 1e-8
    assert 0.2 < ours.mean() < 0.8  # a non-trivial field
