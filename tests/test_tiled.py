"""Tiled step analysis of large maps: every boundary once, stitched grains, same answers as whole-image."""

import numpy as np
import pytest

from tracerdiff.boundaries import analyse_boundaries
from tracerdiff.boundaries.tiled import analyse_boundaries_tiled, tile_windows
from tracerdiff.errors import InputError


@pytest.fixture(scope="module")
def image():
    from tracerdiff.simulate import synthetic_exchange_image

    ds, _ = synthetic_exchange_image(shape=(256, 320), seed=2, n_steps=20)
    return ds


@pytest.fixture(scope="module")
def both(image):
    whole = analyse_boundaries(image, d_bulk=2.6e-12, source_edge="bottom")
    tiled = analyse_boundaries_tiled(image, d_bulk=2.6e-12, source_edge="bottom", tile_px=128, halo_px=96)
    return whole, tiled


def test_cores_partition_the_image():
    tiles = tile_windows((300, 500), tile_px=128, halo_px=40)
    cover = np.zeros((300, 500), int)
    for core_r, core_c, win_r, win_c in tiles:
        cover[core_r, core_c] += 1
        assert win_r.start <= core_r.start and win_r.stop >= core_r.stop
        assert win_r.start == max(core_r.start - 40, 0) and win_c.stop == min(core_c.stop + 40, 500)
    assert np.all(cover == 1) and len(tiles) == 3 * 4


def test_tiled_matches_the_whole_image_analysis(both):
    whole, tiled = both
    key = lambda b: (round(b.x_um, 2), round(b.y_um, 2))  # noqa: E731
    w, t = {key(b): b for b in whole.boundaries}, {key(b): b for b in tiled.boundaries}
    assert len(t) == len(tiled.boundaries)  # each boundary reported once
    # The segmentation of a tile differs a little from the whole image's (its seed depth follows
    # the tile's own noise statistics), so a few segments move; on 512² (seed 1) 98 % matched.
    common = set(w) & set(t)
    assert len(common) > 0.9 * len(w)
    z = [abs(t[k].dgb_over_delta.value - w[k].dgb_over_delta.value) / w[k].dgb_over_delta.stderr
         for k in common if w[k].accepted and t[k].accepted]
    # Accepted values move by a small fraction of their standard error (512², seed 1: 90th
    # percentile 0.21, 99th 0.70 standard errors).
    assert len(z) > 50 and np.quantile(z, 0.9) < 0.5
    # The medians agree within one standard error of the median (512², seed 1: 0.9 %).
    assert abs(tiled.summary.median.value - whole.summary.median.value) < whole.summary.median.stderr


def test_grains_are_stitched_across_tile_edges(both):
    whole, tiled = both
    # Along a core edge (row 128 | 127, column 128 | 127) most pixels pairs lie in one grain; with
    # unstitched tiles none would.
    for lab in (whole.labels, tiled.labels):
        assert lab.shape == (256, 320)
    same_w = np.mean(whole.labels[127] == whole.labels[128])
    same_t = np.mean(tiled.labels[127] == tiled.labels[128])
    assert same_w > 0.5 and same_t > 0.8 * same_w
    same_t_col = np.mean(tiled.labels[:, 127] == tiled.labels[:, 128])
    assert same_t_col > 0.8 * np.mean(whole.labels[:, 127] == whole.labels[:, 128])
    # About as many grains as the whole-image segmentation found.
    assert abs(tiled.labels.max() - whole.labels.max()) < 0.1 * whole.labels.max()
    # Boundary grains refer to the stitched labels.
    present = set(np.unique(tiled.labels))
    assert all(g in present for b in tiled.boundaries for g in b.grains)


def test_local_cluster_gives_identical_tiles(image, both):
    tiled = both[1]
    again = analyse_boundaries_tiled(image, d_bulk=2.6e-12, source_edge="bottom", tile_px=128, halo_px=96,
                                     workers=2)
    values = lambda r: np.array([b.dgb_over_delta.to() for b in r.boundaries])  # noqa: E731
    np.testing.assert_array_equal(values(again), values(tiled))  # bit for bit (NaN where unmeasured)
    assert [b.accepted for b in again.boundaries] == [b.accepted for b in tiled.boundaries]
    assert np.array_equal(again.labels, tiled.labels)


def test_bad_tiling_options(image):
    with pytest.raises(InputError, match="source edge"):
        analyse_boundaries_tiled(image, d_bulk=2.6e-12, source_edge="auto")
    with pytest.raises(InputError, match="tile_px"):
        analyse_boundaries_tiled(image, d_bulk=2.6e-12, source_edge="bottom", tile_px=10)
    with pytest.raises(InputError, match="halo_px"):
        analyse_boundaries_tiled(image, d_bulk=2.6e-12, source_edge="bottom", tile_px=128, halo_px=128)
    with pytest.raises(InputError, match="labels"):
        analyse_boundaries_tiled(image, d_bulk=2.6e-12, source_edge="bottom", labels=np.ones((256, 320), int))
    with pytest.raises(InputError, match="dataset"):
        analyse_boundaries_tiled(np.zeros((10, 10)), d_bulk=2.6e-12, source_edge="bottom")
