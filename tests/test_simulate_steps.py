"""Histories: Arrhenius steps, anisotropic grains, 3D, time-error estimate, progress callback."""

import json

import numpy as np
import pytest
from scipy.special import erfc

from tracerdiff.errors import InputError
from tracerdiff.simulate import (Arrhenius, ClosedStep, ExchangeStep, GrainMap, layered_tensors, simulate_history,
                                 voronoi_grains)

K_B = 1.380649e-23


def _second_moments(c, yy, xx):
    m = c.sum()
    return np.array([[(c * a * b).sum() / m for b in (yy, xx)] for a in (yy, xx)])


@pytest.mark.parametrize("angle_deg", [0.0, 30.0, 45.0, 120.0])
def test_rotated_tensor_spreads_a_blob_along_its_fast_axis(angle_deg):
    # Closed single grain, Gaussian blob far from the edges: for any conservative consistent
    # stencil d/dt <x x^T> = 2 D exactly (also after implicit time steps), so the covariance
    # growth recovers the full tensor including its off-diagonal term.
    n, h, t = 161, 1.0, 20.0
    grains = GrainMap.from_labels(np.zeros((n, n), int), pixel_size_um=h)
    theta = np.deg2rad(angle_deg)
    fast = np.array([np.sin(theta), np.cos(theta)])  # (y, x) components
    tensor = 1e-13 * np.eye(2) + (1e-12 - 1e-13) * np.outer(fast, fast)
    yy, xx = (np.indices((n, n)) - (n - 1) / 2) * h * 1e-6
    c0 = np.exp(-(yy ** 2 + xx ** 2) / (2 * (4e-6) ** 2))
    result = simulate_history(grains, [ClosedStep(t, d_bulk=tensor[None], dgb_over_delta=0.0)], c_initial=c0,
                              n_steps=20)
    growth = (_second_moments(result.c, yy, xx) - _second_moments(c0, yy, xx)) / (2 * t)
    # 1e-5 of D_fast: the blob's tails at the domain edge (10 sigma away) are ~1e-20.
    assert growth == pytest.approx(tensor, abs=1e-17)
    assert result.c.min() > -1e-5  # the 9-point stencil is not monotone, but nearly so
    assert result.c.sum() == pytest.approx(c0.sum(), rel=1e-12)


def test_layered_polycrystal_conserves_and_stays_bounded():
    grains = voronoi_grains((48, 64), pixel_size_um=1.0, mean_grain_um=10.0, seed=2)
    tensors = layered_tensors(grains, d_fast=2.6e-12, d_slow=2.6e-14, seed=2)
    assert tensors.shape == (grains.n_grains, 2, 2)
    assert np.allclose(np.linalg.eigvalsh(tensors), [2.6e-14, 2.6e-12])
    steps = [ExchangeStep(3600.0, d_bulk=tensors, dgb_over_delta=1.5e-8, source_edge="bottom"),
             ClosedStep(7200.0, d_bulk=tensors, dgb_over_delta=1.5e-8)]
    result = simulate_history(grains, steps, n_steps=30)
    first, second = result.snapshots
    assert second.sum() == pytest.approx(first.sum(), rel=1e-10)
    assert -0.01 < result.c.min() and result.c.max() < 1.01
    json.dumps(result.truth)


def test_arrhenius_step_equals_its_value_at_temperature():
    grains = voronoi_grains((30, 40), pixel_size_um=1.0, mean_grain_um=8.0, seed=1)
    d_law = Arrhenius(1e-6, 0.3 * 1.602176634e-19)
    g_law = Arrhenius(0.048 * 1e-4 / 16e-6, 0.43 * 1.602176634e-19)  # (l/delta) D*gb law / l
    temperature = 473.15
    by_law = simulate_history(grains, [ExchangeStep(600.0, d_bulk=d_law, dgb_over_delta=g_law,
                                                    temperature_K=temperature)])
    d = 1e-6 * np.exp(-0.3 * 1.602176634e-19 / (K_B * temperature))
    g = 0.048 * 1e-4 / 16e-6 * np.exp(-0.43 * 1.602176634e-19 / (K_B * temperature))
    by_value = simulate_history(grains, [ExchangeStep(600.0, d_bulk=d, dgb_over_delta=g)])
    assert np.allclose(by_law.c, by_value.c, rtol=1e-12, atol=1e-14)
    assert by_law.truth["steps"][0]["temperature_K"] == temperature
    assert by_law.truth["d_bulk"] == pytest.approx(d)


def test_three_dimensional_single_grain_matches_erfc():
    # Solution on the "bottom" face (last row, axis 1): the 3D field is the 1D erfc.
    n, h, t, d = 400, 1.0, 1800.0, 2.6e-12  # sqrt(D t) = 68 um: erfc(400/137) = 4e-5 at the closed end
    grains = GrainMap.from_labels(np.zeros((3, n, 4), int), pixel_size_um=h)
    result = simulate_history(grains, [ExchangeStep(t, d_bulk=d, dgb_over_delta=0.0)], n_steps=40)
    depth = (n - 1 - np.arange(n) + 0.5) * h * 1e-6
    exact = erfc(depth / (2 * np.sqrt(d * t)))
    assert np.abs(result.c - exact[None, :, None]).max() < 1e-3


def test_time_error_estimate_bounds_the_actual_error():
    grains = voronoi_grains((40, 40), pixel_size_um=1.0, mean_grain_um=8.0, seed=0)
    step = ExchangeStep(3600.0, d_bulk=2.6e-12, dgb_over_delta=1.5e-8)  # mean C 0.61: far from saturated
    coarse = simulate_history(grains, [step], n_steps=10, estimate_error=True)
    reference = simulate_history(grains, [step], n_steps=640).c
    actual = np.abs(coarse.c - reference).max()
    estimate = coarse.truth["time_error_estimate"]
    assert actual < 1e-3  # 10 TR-BDF2 steps are already enough for SIMS-level accuracy
    # Richardson estimate (measured 1.61e-4 vs actual 1.55e-4); within a factor of 2.
    assert actual / 2 < estimate < actual * 2


def test_progress_callback_and_mask_source(capsys):
    grains = voronoi_grains((30, 30), pixel_size_um=1.0, mean_grain_um=8.0, seed=0)
    wet = np.zeros((30, 30), bool)
    wet[20:, :5] = True  # a wetted corner region
    seen = []
    result = simulate_history(grains, [ExchangeStep(3600.0, d_bulk=2.6e-12, dgb_over_delta=1.5e-8,
                                                    source_edge=wet)], n_steps=5,
                              progress=lambda label, done, total: seen.append((label, done, total)))
    # Announced at 0, then one report per time step; the library itself prints nothing.
    assert seen == [("simulating", i, 5) for i in range(6)]
    assert capsys.readouterr() == ("", "")
    with pytest.raises(InputError, match="callable"):
        simulate_history(grains, [ExchangeStep(60.0, d_bulk=2.6e-12)], n_steps=2, progress=True)
    assert np.all(result.c[wet] == 1.0)
    assert result.c[25, 6] > result.c[0, 29]  # near the wet region more tracer than far away
    assert result.truth["steps"][0]["source_edge"] == "mask"


def test_amg_and_lu_solvers_agree_in_3d():
    grains = voronoi_grains((10, 14, 16), pixel_size_um=1.0, mean_grain_um=6.0, seed=4)
    steps = [ExchangeStep(60.0, d_bulk=2.6e-12, dgb_over_delta=1.5e-8, source_edge="front"),
             ClosedStep(3600.0, d_bulk=2.6e-12, dgb_over_delta=1.5e-8)]
    lu = simulate_history(grains, steps, n_steps=8, solver="splu")
    amg = simulate_history(grains, steps, n_steps=8, solver="amg")
    assert np.abs(lu.c - amg.c).max() < 1e-9  # AMG-CG runs to a 1e-13 relative residual
    assert amg.snapshots[1].sum() == pytest.approx(amg.snapshots[0].sum(), rel=1e-10)
    first = lu.snapshots[0]
    assert first[0].mean() > 0.5 > first[-1].mean()  # "front" is z = 0
