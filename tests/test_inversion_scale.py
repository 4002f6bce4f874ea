"""Issue 16 item 3 (large maps): the inversion's bookkeeping grows with the image, with the same results.

Each memory- or time-saving form is checked against the whole-image form it replaced (kept here
as the reference): the owner window of every pixel (was a (windows, ny, nx) stack of distances),
the per-window model images (were one full NaN image per window), the grain-map repair in each
grain's bounding box (was a whole-image mask per grain), and window models built in the tasks
(were all kept). Equality is exact: the new forms do the same arithmetic on the same pixels.
"""

import json
import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from tracerdiff.boundaries.segmentation import edge_strength
from tracerdiff.inversion import fitting
from tracerdiff.inversion.fitting import _inherit_all
from tracerdiff.inversion.window_layout import WindowImage, from_canonical, owner_windows, to_canonical, window_pairs
from tracerdiff.inversion.labels import near_boundary
from tracerdiff.inversion.network import WindowModel
from tracerdiff.inversion.repair import (Repair, _added_pairs, accept_split, inherit_starts, near_boundary_of,
                                         plane_residual, propose_split, repair_map, step_gain)
from tracerdiff.inversion.windows import window_grid
from tracerdiff.simulate import (ExchangeConditions, SimsOptions, merge_random_boundaries,
                                 synthetic_exchange_image)

EDGES = ("top", "bottom", "left", "right")


def _owner_stack(shape, size, stride):
    """The replaced form: argmin over a (windows, ny, nx) stack of max-norm distances to the centres."""
    ny, nx = shape
    windows = [(y0, x0) for y0 in window_grid(ny, size[0], stride) for x0 in window_grid(nx, size[1], stride)]
    yy, xx = np.mgrid[0:ny, 0:nx]
    dist = np.stack([np.maximum(np.abs(yy - (y0 + size[0] / 2)), np.abs(xx - (x0 + size[1] / 2)))
                     for y0, x0 in windows])
    return np.argmin(dist, axis=0)


def test_owner_windows_equal_the_distance_stack_ties_included():
    # Random shapes, window sizes and strides (even and odd sizes: centres on pixels and between
    # them, so that many pixels are equidistant from two or four centres and the first wins).
    rng = np.random.default_rng(16)
    for _ in range(120):
        shape = tuple(int(v) for v in rng.integers(1, 200, 2))
        win = int(rng.integers(4, 100))
        stride = int(rng.integers(max(win // 3, 1), win + 1))
        size = (min(win, shape[0]), min(win, shape[1]))
        assert np.array_equal(owner_windows(shape, size, stride), _owner_stack(shape, size, stride)), \
            (shape, win, stride)


@pytest.mark.parametrize("edge", EDGES)
def test_window_image_equals_the_full_nan_image(edge):
    rng = np.random.default_rng(3)
    shape_in = (37, 53)
    canon_shape = to_canonical(np.zeros(shape_in), edge).shape
    values = rng.standard_normal((12, 20))
    origin = (canon_shape[0] - 12 - 3, 5)
    full = np.full(canon_shape, np.nan)  # the replaced form
    full[origin[0]:origin[0] + 12, origin[1]:origin[1] + 20] = values
    full = from_canonical(full, edge)
    w = WindowImage(values, origin, shape_in, edge)
    assert np.array_equal(np.asarray(w), full, equal_nan=True)
    for _ in range(200):
        y0, y1 = sorted(int(v) for v in rng.integers(0, shape_in[0] + 1, 2))
        x0, x1 = sorted(int(v) for v in rng.integers(0, shape_in[1] + 1, 2))
        assert np.array_equal(w[y0:y1, x0:x1], full[y0:y1, x0:x1], equal_nan=True)
    with pytest.raises(ValueError, match="step 1"):
        w[::2, :]
    with pytest.raises(TypeError, match="two slices"):
        w[3]


def test_window_pairs_equal_the_models_pairs():
    rng = np.random.default_rng(5)
    for _ in range(20):
        labels = rng.integers(0, 6, (9, 11))
        labels = ndi.median_filter(labels, 3)  # patches, not salt and pepper
        model = WindowModel(np.full(labels.shape, 0.5), np.full(labels.shape, 0.01), np.ones(labels.shape, bool),
                            labels, (np.ones((8, 11)), np.ones((9, 10))), h=1e-6, d_bulk=2.6e-12, psf_px=0.0,
                            at_source=False)
        assert np.array_equal(window_pairs(labels), model.pairs) and window_pairs(labels).dtype == model.pairs.dtype


def _repair_whole_image(c, err, valid, labels, *, edge, margin, rounds, z=None, candidates=None):
    """The replaced form of repair_map: a whole-image mask per grain (cost grains x image)."""
    labels = labels.copy()
    fit_px = valid & ~near_boundary(labels, margin)
    flat = plane_residual(c, err, labels, fit_px)
    todo = [int(g) for g in (np.unique(labels[fit_px]) if candidates is None else candidates) if g > 0]
    queue = [(g, 0) for g in todo]
    next_label = int(labels.max()) + 1
    proposed = accepted = 0
    while queue:
        g, depth = queue.pop(0)
        parent = labels == g
        child = None
        for residual in ((flat,) if z is None or depth > 0 else (z, flat)):
            child = propose_split(parent, residual, fit_px, edge, interior=fit_px)
            if child is not None:
                break
        if child is None:
            continue
        proposed += 1
        rows, cols = np.nonzero(parent)
        sl = (slice(max(rows.min() - 1, 0), rows.max() + 2), slice(max(cols.min() - 1, 0), cols.max() + 2))
        new = labels[sl].copy()
        new[child[sl]] = next_label
        gain, n = step_gain(c, err, parent, child, fit_px & ~near_boundary_of(child, margin))
        if not accept_split(gain, n, _added_pairs(labels[sl], new, g, next_label)):
            continue
        accepted += 1
        labels[sl] = new
        fit_px[sl] = valid[sl] & ~near_boundary(new, margin)
        if depth + 1 < rounds:
            pieces = labels[sl]
            flat[sl] = np.where(np.isin(pieces, (g, next_label)), plane_residual(c[sl], err[sl], pieces, fit_px[sl]),
                                flat[sl])
            queue += [(g, depth + 1), (next_label, depth + 1)]
        next_label += 1
    return Repair(labels, proposed, accepted)


@pytest.fixture(scope="module")
def merged_image():
    """206 x 256 px, 3000 counts/px, PSF 0.6 um, log-normal D*gb/delta; 10 % of the true boundaries
    merged (seed 8, as tests/test_inversion_grainmap.py): the repair has grains to cut."""
    ds, sim = synthetic_exchange_image(shape=(206, 256), domain_rows=606, seed=8,
                                       exchange=ExchangeConditions(dgb_sigma_ln=0.5),
                                       sims=SimsOptions(counts_per_pixel=3000, psf_sigma_um=0.6))
    n6, n7 = (np.asarray(ds[k].values, float) for k in ("6Li", "7Li"))
    c = n6 / (n6 + n7)
    err = np.sqrt(c * (1 - c) / (n6 + n7))
    labels = np.asarray(merge_random_boundaries(np.asarray(sim.grains.labels), 0.10, seed=8), dtype=np.int64)
    return ds, c, err, labels


def test_repair_in_grain_boxes_equals_the_whole_image_repair(merged_image):
    _, c, err, labels = merged_image
    valid = np.ones(c.shape, bool)
    edge = edge_strength(c, err, smoothing_px=1.0)
    new = repair_map(c, err, valid, labels, edge=edge, margin=2, rounds=3)
    old = _repair_whole_image(c, err, valid, labels, edge=edge, margin=2, rounds=3)
    assert new.accepted > 5  # the comparison covers cuts, and cuts of cut pieces
    assert np.array_equal(new.labels, old.labels) and (new.proposed, new.accepted) == (old.proposed, old.accepted)
    # With a model residual and candidates (the second repair of fit_image): a residual with the
    # steps' two lobes, noise added (seeded) so that it is not the plane residual itself.
    z = plane_residual(c, err, labels, valid) + 0.3 * np.random.default_rng(1).standard_normal(c.shape)
    cands = [int(g) for g in np.unique(labels) if g > 0][::2]
    new = repair_map(c, err, valid, labels, edge=edge, margin=2, rounds=2, z=z, candidates=cands)
    old = _repair_whole_image(c, err, valid, labels, edge=edge, margin=2, rounds=2, z=z, candidates=cands)
    assert new.accepted > 0
    assert np.array_equal(new.labels, old.labels) and (new.proposed, new.accepted) == (old.proposed, old.accepted)


def test_start_values_of_cut_grains_in_boxes_equal_the_whole_image_loop(merged_image):
    _, c, err, labels = merged_image
    fixed = repair_map(c, err, np.ones(c.shape, bool), labels, edge=edge_strength(c, err, smoothing_px=1.0),
                       margin=2, rounds=3)
    rng = np.random.default_rng(2)
    pairs = window_pairs(labels)
    theta = {(int(a), int(b)): float(v) for (a, b), v in zip(pairs, rng.standard_normal(len(pairs)))}
    boxed, whole = dict(theta), dict(theta)
    _inherit_all(boxed, labels, fixed.labels)
    for parent in np.unique(labels[fixed.labels != labels]):
        inherit_starts(whole, labels, fixed.labels, parent)
    assert len(whole) > len(theta) and boxed == whole


def test_window_models_built_in_tasks_give_identical_fits(merged_image, monkeypatch):
    # Models kept between passes (small images) or built in each task from the window's data
    # (large ones): the same fits, grain map and model images, bit for bit.
    ds, c, err, labels = merged_image
    common = dict(source_edge="bottom", px=1.0, d_bulk=2.6e-12, psf_px=0.6, window_px=96, stride_px=64,
                  population_sigma=None, min_sigma=0.3, n_passes=2, workers=1, misfit_sigmas=4.0, margin_px=2,
                  repair_rounds=3)
    valid = np.ones(c.shape, bool)
    runs = []
    for budget in (math.inf, 0.0):
        monkeypatch.setattr(fitting, "KEEP_MODELS_BYTES", budget)
        runs.append(fitting.fit_image(c, err, valid, labels, **common))
    kept, built = runs
    assert kept.repair["accepted"] > 0 and len(kept.fits) == len(window_grid(206, 96, 64)) * len(window_grid(256, 96, 64))
    assert np.array_equal(kept.labels, built.labels) and kept.repair == built.repair
    assert (kept.mu, kept.sigma) == (built.mu, built.sigma)
    for a, b, oa, ob, ma, mb in zip(kept.fits, built.fits, kept.owned, built.owned, kept.model_images,
                                    built.model_images):
        assert np.array_equal(a.theta, b.theta) and np.array_equal(a.information, b.information)
        assert np.array_equal(oa, ob)
        assert np.array_equal(np.asarray(ma), np.asarray(mb), equal_nan=True)


def test_window_data_shipped_to_a_local_cluster_gives_the_same_result(monkeypatch):
    # On a cluster (and above the model budget) the tasks carry each window's data (views, pickled)
    # and the worker builds the model: on 2 spawned worker processes the same result as in process
    # with kept models. The budget is set to 0 as well, so the test does not rest on the cluster rule.
    from test_boundaries_inputs import _staircase  # tests/ is on sys.path under pytest

    from tracerdiff.inversion import invert_boundaries

    i6, i7 = _staircase()
    c = i6 / (i6 + i7)
    kept = invert_boundaries(c, d_bulk=2.6e-12, pixel_size_um=1.0, workers=1)
    monkeypatch.setattr(fitting, "KEEP_MODELS_BYTES", 0.0)
    shipped = invert_boundaries(c, d_bulk=2.6e-12, pixel_size_um=1.0, workers=2)
    a, b = kept.to_dict(), shipped.to_dict()
    assert len(a["boundaries"]) > 0
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN-safe, exact floats


@pytest.mark.parametrize("n_passes", [1, 2])
def test_batched_passes_owned_step_rows_and_binned_profiles_give_identical_boundaries(merged_image, monkeypatch,
                                                                                        n_passes):
    # Passes fitted in batches of 2 windows, each fit keeping only the step-Jacobian rows of the
    # boundaries its window reports (none in a first pass that later passes redo), and profiles
    # binned, against the forms they replaced: one batch per pass, whole matrices, every sample.
    # Every reported number is the same, bit for bit; the profile is the replaced samples binned.
    import warnings

    from tracerdiff.boundaries.summary import binned_profile
    from tracerdiff.inversion import InversionOptions, analysis, invert_boundaries

    ds, _, _, labels = merged_image
    opts = InversionOptions(psf_sigma_um=0.6, n_passes=n_passes)

    def run():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = invert_boundaries(ds, d_bulk=2.6e-12, pixel_size_um=1.0, labels=labels, source_edge="bottom",
                                    options=opts)
        return res, [str(w.message) for w in caught]

    monkeypatch.setattr(fitting, "REFIT_BATCH", 2)
    (new, new_warnings) = run()
    monkeypatch.setattr(fitting, "REFIT_BATCH", 10 ** 9)
    monkeypatch.setattr(fitting, "owned_rows", lambda matrix, own: matrix)
    monkeypatch.setattr(analysis, "_binned", lambda *samples: samples)
    (old, old_warnings) = run()
    assert new.grain_map["cuts_made"] > 0  # the map changed after the first pass: ownership moved
    assert len(new.boundaries) > 50 and new_warnings == old_warnings
    assert json.dumps(new.to_dict(), sort_keys=True) == json.dumps(old.to_dict(), sort_keys=True)
    for a, b in zip(new.boundaries, old.boundaries):
        assert a.profile_binned and a.grains == b.grains and b.profile_s.size > a.profile_s.size
        s, c, se = binned_profile(b.profile_s, b.profile_c, b.profile_se)
        model = binned_profile(b.profile_s, b.profile_model, np.ones(b.profile_s.size))[1]
        for x, y in ((a.profile_s, s), (a.profile_c, c), (a.profile_se, se), (a.profile_model, model)):
            assert np.array_equal(x, y)


def test_owned_rows_return_the_kept_rows_and_refuse_the_others():
    from tracerdiff.inversion.window_layout import owned_rows

    matrix = np.random.default_rng(5).standard_normal((7, 7))
    rows = owned_rows(matrix, np.array([5, 1, 3]))
    matrix[:] = 0.0  # a copy: the window's matrix can be let go
    ref = np.random.default_rng(5).standard_normal((7, 7))
    for i in (1, 3, 5):
        assert np.array_equal(rows[i], ref[i])
    for i in (0, 2, 6, 7):
        with pytest.raises(IndexError, match="not kept"):
            rows[i]
    with pytest.raises(IndexError):
        owned_rows(ref, [])[0]
