"""The realistic synthetic micrograph: each imperfection measurably present when on, absent when off."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from tracerdiff.errors import InputError
from tracerdiff.simulate import GrainMap, MicrographImperfections, synthetic_micrograph, voronoi_grains
from tracerdiff.simulate.micrograph_render import boundary_pairs


@pytest.fixture(scope="module")
def grains():
    return voronoi_grains((90, 140), pixel_size_um=1.0, mean_grain_um=16.0, seed=11)


def _draw(grains, seed=3, **changes):
    return synthetic_micrograph(grains, margin_px=8, seed=seed, imperfections=MicrographImperfections.ideal(**changes))


def _interior(m, distance=4):
    """Pixels at least ``distance`` px from every boundary (no groove there)."""
    mask, _ = boundary_pairs(m.labels)
    return ndi.distance_transform_edt(~mask) >= distance


def _groove_minima(m):
    """Darkest value of each boundary (grain pair), from the boundary pixels."""
    mask, index = boundary_pairs(m.labels)
    return ndi.minimum(m.image, labels=index + 1, index=np.arange(1, index.max() + 2))


def test_ideal_micrograph_is_even(grains):
    m = _draw(grains)
    assert m.transform.scale == 1.0 and m.transform.rotation_deg == 0.0
    # Inside the field the labels are the grain map's own.
    np.testing.assert_array_equal(m.labels[8:98, 8:148], grains.labels)
    inside = _interior(m)
    # No noise, tone, illumination: the surface is flat at 0.8 far from grooves (Gaussian tail
    # of a 1.6 px FWHM groove at 4.5 px: ~1e-11).
    assert np.ptp(m.image[inside]) < 1e-6
    assert not m.pores.any() and not m.scratches.any() and not m.faint.any()


def test_per_boundary_groove_depth(grains):
    # Even grooves: every boundary's darkest pixel at the same level; with a 0.3-0.8 depth range
    # the spread of the minima covers most of that range (0.8 * (0.8 - 0.3) = 0.4 at most).
    even = _groove_minima(_draw(grains, groove_width_px=(2.0, 2.0)))
    varied = _groove_minima(_draw(grains, groove_width_px=(2.0, 2.0), groove_depth=(0.3, 0.8)))
    assert np.ptp(even) < 0.05
    assert np.ptp(varied) > 0.25


def test_groove_width_varies_per_boundary(grains):
    # Width: the number of pixels darker than half the groove depth, per boundary, relative to
    # its boundary-pixel count. A 1-3 px FWHM range spreads this ratio much more than a fixed width.
    def spread(m):
        mask, index = boundary_pairs(m.labels)
        dark = (0.8 - m.image) > 0.5 * 0.55 * 0.8 * 0.5
        dist, (iy, ix) = ndi.distance_transform_edt(~mask, return_indices=True)
        near = index[iy, ix]
        n = np.bincount(near[dark & (dist < 4)].ravel(), minlength=index.max() + 1)
        base = np.bincount(index[mask], minlength=index.max() + 1)
        ratio = n[base >= 20] / base[base >= 20]
        return np.std(ratio)
    assert spread(_draw(grains, groove_width_px=(1.0, 3.0))) > 2 * spread(_draw(grains, groove_width_px=(2.0, 2.0)))


def test_faint_stretches(grains):
    on = _draw(grains, faint_fraction=0.04)
    off = _draw(grains)
    mask, _ = boundary_pairs(on.labels)
    assert not off.faint.any()
    # About 4 % of the groove pixels are in faint stretches (quantile threshold: exact up to ties).
    assert on.faint.sum() / mask.sum() == pytest.approx(0.04, abs=0.005)
    # ... and they are brighter than the normal groove pixels (0.15 of the depth kept).
    assert on.image[on.faint].mean() > on.image[mask & ~on.faint].mean() + 0.1


def test_grain_tone(grains):
    m = _draw(grains, tone_sd=0.08)
    inside = _interior(m)
    means = ndi.mean(m.image, labels=np.where(inside, m.labels + 1, 0), index=np.unique(m.labels[inside]) + 1)
    # Grain means spread by ~0.8 * 0.08 = 0.064; within a grain the surface stays flat.
    assert np.std(means) == pytest.approx(0.064, rel=0.3)
    assert np.std(_draw(grains).image[inside]) < 1e-6


def test_uneven_illumination(grains):
    m = _draw(grains, illumination=0.25)
    inside = _interior(m)
    # Peak-to-peak 25 % of the surface level 0.8 = 0.2 (slightly less over the interior pixels).
    assert 0.15 < np.ptp(m.image[inside]) <= 0.2 + 1e-9


def test_noise(grains):
    m = _draw(grains, noise=0.04)
    inside = _interior(m)
    assert np.std(m.image[inside]) == pytest.approx(0.8 * 0.04, rel=0.05)


def test_pores(grains):
    m = _draw(grains, pores_per_10k_px=20.0, pore_radius_px=(1.5, 2.5))
    n = ndi.label(m.pores)[1]
    # Poisson mean 20 per 10^4 px on 106 x 156 px: ~33 (overlaps merge a few).
    assert 15 < n < 50
    inside = _interior(m) & m.pores
    assert m.image[inside].min() < 0.8 * (1 - 0.5)
    assert not _draw(grains).pores.any()


def test_scratches_are_long_straight_lines(grains):
    m = _draw(grains, scratch_count=2)
    from skimage.transform import probabilistic_hough_line

    lines = probabilistic_hough_line(m.scratches, threshold=10, line_length=80, line_gap=3, rng=0)
    assert len(lines) >= 2  # two lines crossing the whole 106 x 156 px image, each >= 80 px straight
    assert m.image[m.scratches & _interior(m)].min() < 0.8 * (1 - 0.2)
    assert not _draw(grains).scratches.any()


@pytest.mark.parametrize("scale, rotation", [(1.0, 0.0), (0.8, -4.0), (1.25, 5.0)])
def test_pixel_size_and_rotation_place_the_field(grains, scale, rotation):
    m = _draw(grains, scale=scale, rotation_deg=rotation)
    t = m.transform
    assert t.scale == scale and t.rotation_deg == rotation
    # The truth: micrograph label at the transformed position of each field pixel centre is the
    # field's label (nearest micrograph pixel; up to boundary pixels, which rounding may swap).
    yy, xx = np.mgrid[0:90, 0:140]
    mc = t.micrograph_coords(np.stack([yy, xx], axis=-1))
    r, c = np.rint(mc[..., 0]).astype(int), np.rint(mc[..., 1]).astype(int)
    assert r.min() >= 8 - 1 and c.min() >= 8 - 1 and r.max() < m.image.shape[0] and c.max() < m.image.shape[1]
    agree = np.mean(m.labels[r, c] == grains.labels)
    assert agree > 0.93
    np.testing.assert_allclose(t.field_coords(mc), np.stack([yy, xx], axis=-1), atol=1e-9)
    # Grain areas inside the field's footprint scale with scale^2 (median grain: pixel rounding only).
    my, mx = np.mgrid[0:m.image.shape[0], 0:m.image.shape[1]]
    f = t.field_coords(np.stack([my, mx], axis=-1))
    inside = (f[..., 0] >= -0.5) & (f[..., 0] < 89.5) & (f[..., 1] >= -0.5) & (f[..., 1] < 139.5)
    n = grains.labels.max() + 1
    ratio = np.bincount(m.labels[inside], minlength=n) / np.maximum(np.bincount(grains.labels.ravel(), minlength=n), 1)
    assert np.median(ratio[np.bincount(grains.labels.ravel(), minlength=n) > 50]) == pytest.approx(scale ** 2, rel=0.05)


def test_realistic_defaults_switch_everything_on(grains):
    imp = MicrographImperfections()
    assert imp.groove_depth == (0.3, 0.8) and imp.faint_fraction == 0.04 and imp.scratch_count > 0
    m = synthetic_micrograph(grains, seed=1, imperfections=imp)
    assert m.scratches.any() and m.faint.any() and m.transform.scale != 1.0
    # Same seed, same image.
    np.testing.assert_array_equal(m.image, synthetic_micrograph(grains, seed=1, imperfections=imp).image)


def test_plain_label_image_is_resampled():
    labels = np.zeros((40, 60), int)
    labels[:, 30:] = 1
    m = synthetic_micrograph(GrainMap(labels, 1.0), margin_px=4, imperfections=MicrographImperfections.ideal(scale=2.0))
    assert m.image.shape == (2 * 39 + 1 + 8, 2 * 59 + 1 + 8)
    assert set(np.unique(m.labels)) == {0, 1}


@pytest.mark.parametrize("kwargs, source", [(dict(groove_depth=(0.8, 0.3)), "groove_depth"),
                                            (dict(noise=-1.0), "noise"), (dict(scale=0.0), "imperfections"),
                                            (dict(scratch_count=1.5), "scratch_count"),
                                            (dict(groove_depth=(0.3, 1.2)), "imperfections")])
def test_imperfections_reject_bad_settings(kwargs, source):
    with pytest.raises(InputError) as err:
        MicrographImperfections(**kwargs)
    assert err.value.source == source
