"""The C-map fit that finishes the micrograph registration (issue 12, item 3)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from tracerdiff.boundaries.registration import OpticalRegistration
from tracerdiff.boundaries.registration_refine import refine_on_c_map
from tracerdiff.errors import InputError
from tracerdiff.simulate import MicrographImperfections, synthetic_micrograph, voronoi_grains


def _worst_corner_error(reg, truth, shape) -> float:
    """Largest placement error (SIMS px) over the field's four corners."""
    h, w = shape
    corners = np.array([[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1]], float)
    d = reg.micrograph_coords(corners) - truth.micrograph_coords(corners)
    return float(np.max(np.hypot(d[:, 0], d[:, 1])) / truth.scale)


@pytest.fixture(scope="module")
def staircase():
    # Grains with random C levels (0.3-0.7), blurred like a 0.7 px beam, noise 0.01: steps of
    # ~0.1-0.4 are 10-40 noise sd, so the placement is fixed to a few hundredths of a pixel.
    grains = voronoi_grains((120, 200), pixel_size_um=1.0, mean_grain_um=16.0, seed=5)
    m = synthetic_micrograph(grains, seed=0, imperfections=MicrographImperfections.ideal(scale=1.15, rotation_deg=-3.0))
    rng = np.random.default_rng(11)
    levels = rng.uniform(0.3, 0.7, int(grains.labels.max()) + 1)
    c = ndi.gaussian_filter(levels[grains.labels], 0.7) + 0.01 * rng.standard_normal(grains.shape)
    t = m.transform
    truth = OpticalRegistration(scale=t.scale, rotation_deg=t.rotation_deg, offset_px=t.offset_px, correlation=0.0)
    return m.labels, c, np.full(c.shape, 0.01), np.ones(c.shape, bool), truth


def test_a_perturbed_start_is_brought_back(staircase):
    labels, c, sigma, valid, truth = staircase
    # Start 0.4 % too large, 0.15 deg too far and (0.6, -0.5) px off: ~1 px at the corners.
    start = OpticalRegistration(scale=truth.scale * 1.004, rotation_deg=truth.rotation_deg + 0.15,
                                offset_px=(truth.offset_px[0] + 0.6, truth.offset_px[1] - 0.5), correlation=0.0)
    assert _worst_corner_error(start, truth, c.shape) > 0.8
    reg = refine_on_c_map(labels, c, sigma, valid, start)
    err = _worst_corner_error(reg, truth, c.shape)
    assert err < 0.1
    # The reported standard error is small and covers the actual error (3 sd).
    assert reg.corner_stderr_px is not None and 0 < reg.corner_stderr_px < 0.1
    assert err <= 3 * reg.corner_stderr_px
    assert reg.to_dict()["corner_stderr_px"] == reg.corner_stderr_px


def test_fixed_scale_and_rotation_stay_fixed(staircase):
    labels, c, sigma, valid, truth = staircase
    start = OpticalRegistration(scale=truth.scale, rotation_deg=truth.rotation_deg,
                                offset_px=(truth.offset_px[0] - 0.7, truth.offset_px[1] + 0.4), correlation=0.0)
    reg = refine_on_c_map(labels, c, sigma, valid, start, free_scale=False, free_rotation=False)
    assert reg.scale == truth.scale and reg.rotation_deg == truth.rotation_deg
    assert _worst_corner_error(reg, truth, c.shape) < 0.1


def test_a_c_map_without_steps_leaves_the_start(staircase):
    # Nothing in C says where the boundaries are: no refinement and no standard error (a
    # standard error from a flat map would be a made-up precision).
    labels, c, sigma, valid, truth = staircase
    flat = 0.5 + 0.01 * np.random.default_rng(3).standard_normal(c.shape)
    reg = refine_on_c_map(labels, np.full(c.shape, 0.5), sigma, valid, truth)
    assert reg == truth and reg.corner_stderr_px is None
    moved = refine_on_c_map(labels, flat, sigma, valid, truth)
    # With noise only, the fit either stays within its capture range or is refused.
    assert _worst_corner_error(moved, truth, c.shape) <= 3.0 * 1.15 * np.sqrt(2) + 1e-9


def test_blur_is_checked(staircase):
    labels, c, sigma, valid, truth = staircase
    with pytest.raises(InputError) as err:
        refine_on_c_map(labels, c, sigma, valid, truth, blur_px=0.0)
    assert err.value.source == "blur_px"
