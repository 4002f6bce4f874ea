"""Physics of the forward simulator against analytic solutions and conservation laws."""

import numpy as np
import pytest
from scipy.special import erfc

from tracerdiff.simulate import ClosedStep, ExchangeStep, GrainMap, simulate_history, voronoi_grains

D_BULK = 2.6e-12  # m^2/s, the paper's D*bulk (2.6e-8 cm^2/s)
G_GB = 1.5e-8  # m/s, the paper's D*gb/delta (1.5e-6 cm/s)


def _column(labels_top_to_bottom, h_um):
    return GrainMap.from_labels(np.asarray(labels_top_to_bottom)[:, None], pixel_size_um=h_um)


@pytest.mark.parametrize("scheme, n_steps", [("tr-bdf2", 50), ("backward-euler", 400)])
def test_single_grain_matches_erfc(scheme, n_steps):
    # 1 um cells, 2 h exchange: sqrt(D t) = 137 um; 1000 um domain so the closed top
    # is > 7 diffusion lengths away (erfc(3.6) ~ 1e-6, no reflection).
    h, n, t = 1.0, 1000, 7200.0
    grains = _column(np.zeros(n, int), h)
    result = simulate_history(grains, [ExchangeStep(t, d_bulk=D_BULK, dgb_over_delta=0.0)], n_steps=n_steps,
                              scheme=scheme)
    depth_m = (n - 1 - np.arange(n) + 0.5) * h * 1e-6  # cell centres measured from the wetted face
    exact = erfc(depth_m / (2 * np.sqrt(D_BULK * t)))
    # Issue requirement: within 0.5 % (of the source value 1). Measured: TR-BDF2 8e-6, BE(400) 3.5e-4.
    assert np.max(np.abs(result.c[:, 0] - exact)) < 0.005
    uptake, exact_uptake = result.c.sum(), exact.sum()
    assert abs(uptake / exact_uptake - 1) < 0.005


def test_tr_bdf2_is_second_order_in_time():
    h, n, t = 2.0, 500, 7200.0
    grains = _column(np.zeros(n, int), h)
    step = ExchangeStep(t, d_bulk=D_BULK, dgb_over_delta=0.0)
    runs = {k: simulate_history(grains, [step], n_steps=k).c for k in (10, 20, 40, 320)}
    e10, e20, e40 = (np.abs(runs[k] - runs[320]).max() for k in (10, 20, 40))
    # Second order: error falls ~4x per halving of dt (allow 3x for the t=0 start-up layer).
    assert e20 < e10 / 3 and e40 < e20 / 3


def test_stack_of_equal_grains_gives_series_deff():
    # 16 um grains in a 1D stack: the discrete period resistance is exactly l/D + 1/G,
    # so the homogenised D*eff is the series model (eqn 6, thin boundary).
    h, l_cells, n = 1.0, 16, 4000
    labels = (np.arange(n) // l_cells)[::-1]
    grains = _column(labels, h)
    d_eff = 1.0 / (1.0 / D_BULK + 1.0 / (l_cells * h * 1e-6 * G_GB))
    t1 = 5e5  # sqrt(D_eff t) = 330 um >> l; 4 t1 -> 660 um << 4000 um domain
    steps = [ExchangeStep(t1, d_bulk=D_BULK, dgb_over_delta=G_GB),
             ExchangeStep(3 * t1, d_bulk=D_BULK, dgb_over_delta=G_GB)]
    result = simulate_history(grains, steps, n_steps=100)
    m1, m2 = (s.sum() * h * 1e-6 for s in result.snapshots)
    # Uptake M = 2 sqrt(D_eff t / pi) + const: the difference removes the near-edge offset.
    estimate = np.pi / 4 * ((m2 - m1) / (np.sqrt(4 * t1) - np.sqrt(t1))) ** 2
    assert estimate == pytest.approx(d_eff, rel=0.01)  # issue: within 1 %; measured 1e-4
    assert result.snapshots[1][0, 0] < 1e-3  # the far end is untouched: semi-infinite holds


def test_closed_run_conserves_tracer():
    grains = voronoi_grains((64, 80), pixel_size_um=1.0, mean_grain_um=8.0, sd_grain_um=3.0, seed=3)
    exchange = ExchangeStep(3600.0, d_bulk=D_BULK, dgb_over_delta=G_GB, source_edge="left")
    pairs = grains.boundary_pairs()
    per_boundary = {(int(a), int(b)): G_GB * (1 + i % 3) for i, (a, b) in enumerate(pairs)}
    closed = [ClosedStep(86400.0, d_bulk=1e-11, dgb_over_delta=per_boundary, n_steps=20),
              ClosedStep(3e5, d_bulk=1e-12, dgb_over_delta=1e-9, n_steps=7)]
    result = simulate_history(grains, [exchange] + closed, n_steps=30)
    totals = [s.sum() for s in result.snapshots]
    assert totals[0] > 1.0  # tracer went in
    assert abs(totals[1] / totals[0] - 1) < 1e-10
    assert abs(totals[2] / totals[0] - 1) < 1e-10
    assert result.snapshots[1].std() < result.snapshots[0].std()  # and it spread out


def test_converges_under_grid_refinement():
    # Same physical microstructure (fixed seeds, 48 x 48 um) at 4, 2, 1, 0.5 um cells;
    # compare 4 um block averages with the finest run.
    rng = np.random.default_rng(7)
    seeds = rng.uniform(0, 48, size=(12, 2))
    fields = {}
    for h in (4.0, 2.0, 1.0, 0.5):
        n = int(48 / h)
        centres = (np.indices((n, n)).reshape(2, -1).T + 0.5) * h
        labels = np.argmin(((centres[:, None, :] - seeds[None]) ** 2).sum(-1), axis=1).reshape(n, n)
        grains = GrainMap(labels, h, seeds_um=seeds - 0.5 * h)  # seeds in pixel-centre coordinates
        step = ExchangeStep(2000.0, d_bulk=D_BULK, dgb_over_delta=G_GB * 0.05)
        c = simulate_history(grains, [step], n_steps=40).c
        k = int(4.0 / h)
        fields[h] = c.reshape(12, k, 12, k).mean(axis=(1, 3))
    errors = [np.abs(fields[h] - fields[0.5]).max() for h in (4.0, 2.0, 1.0)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.6 * errors[1]  # at least ~first order (staircase boundaries)


@pytest.mark.parametrize("theta_deg", [0, 15, 30, 45, 60])
@pytest.mark.parametrize("normals", ["seeds", "labels"])
def test_oblique_boundary_conducts_like_its_true_length(theta_deg, normals):
    # Two well-mixed grains (D/h >> G) separated by a straight line at theta: the mean
    # difference decays as exp(-G L (1/A_a + 1/A_b) t), which measures the effective
    # boundary length L. Without the |n.e| weight a staircase at 45 deg gives sqrt(2) L.
    n, h = 120, 1.0
    theta = np.deg2rad(theta_deg)
    normal = np.array([np.sin(theta), np.cos(theta)])
    centre = np.array([n / 2 - 0.5, n / 2 - 0.5])
    yy, xx = np.indices((n, n)).astype(float)
    side = (yy - centre[0]) * normal[0] + (xx - centre[1]) * normal[1] > 0
    if normals == "seeds":
        grains = GrainMap(side.astype(int), h, seeds_um=np.array([centre - 10 * normal, centre + 10 * normal]))
    else:
        grains = GrainMap.from_labels(side.astype(int), pixel_size_um=h)
    tangent = np.array([-normal[1], normal[0]])
    s = np.linspace(-2 * n, 2 * n, 400001)
    points = centre + s[:, None] * tangent
    inside = np.all((points >= -0.5) & (points <= n - 0.5), axis=1)
    true_length_um = s[inside].max() - s[inside].min()
    g, t = 1e-8, 3000.0
    area_a, area_b = (~side).sum() * 1e-12, side.sum() * 1e-12
    result = simulate_history(grains, [ClosedStep(t, d_bulk=1e-8, dgb_over_delta=g)],
                              c_initial=(~side).astype(float), n_steps=50)
    diff = result.c[~side].mean() - result.c[side].mean()
    length_um = -np.log(diff) / t / (g * (1 / area_a + 1 / area_b)) * 1e6
    # 1 %: the staircase ends at the domain edge cost up to ~1 cell of 120-170 (measured <= 0.85 %).
    assert length_um == pytest.approx(true_length_um, rel=0.01)
    assert grains.boundaries().length_um[0] == pytest.approx(true_length_um, rel=0.01)
