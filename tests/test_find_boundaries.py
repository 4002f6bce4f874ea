"""Issue 15: boundary masks by skimage.segmentation.find_boundaries, bit-identical to the hand-written
ones they replace (kept here as the reference)."""

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from tracerdiff.boundaries.analysis import _on_boundary
from tracerdiff.boundaries.grain_metrics import boundary_pixels
from tracerdiff.inversion.labels import near_boundary


def hand_written_mask(labels):
    """The mask boundaries/analysis._on_boundary and inversion/labels.near_boundary computed by hand:
    pixels with a 4-neighbour of another label."""
    on = np.zeros(labels.shape, bool)
    on[:-1] |= labels[:-1] != labels[1:]
    on[1:] |= labels[:-1] != labels[1:]
    on[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    on[:, 1:] |= labels[:, :-1] != labels[:, 1:]
    return on


def label_maps():
    """Seeded random maps (with label 0, 1-px strips, few and many labels) and a simulated grain map."""
    from tracerdiff.simulate.voronoi import voronoi_grains

    rng = np.random.default_rng(0)
    maps = []
    for _ in range(60):
        shape = (int(rng.integers(1, 40)), int(rng.integers(1, 40)))
        maps.append(rng.integers(0, int(rng.integers(2, 9)), size=shape))
        maps.append(ndi.label(rng.random(shape) > 0.4)[0])  # blobs on a 0 background
    for seed in (0, 1, 2):
        maps.append(voronoi_grains((120, 160), pixel_size_um=1.0, mean_grain_um=16.0, seed=seed).labels)
    return maps


MAPS = label_maps()


def test_hand_written_mask_is_find_boundaries_thick_connectivity_1():
    for lab in MAPS:
        np.testing.assert_array_equal(hand_written_mask(lab), find_boundaries(lab, connectivity=1, mode="thick"))


@pytest.mark.parametrize("margin", [1, 2, 3])
def test_replacements_are_bit_identical(margin):
    for lab in MAPS:
        ref = hand_written_mask(lab)
        np.testing.assert_array_equal(_on_boundary(lab), ref)
        expect = ndi.binary_dilation(ref, iterations=margin - 1) if margin > 1 else ref
        np.testing.assert_array_equal(near_boundary(lab, margin), expect)
    assert not near_boundary(MAPS[-1], 0).any()


def test_masks_that_skip_label_zero_are_not_find_boundaries():
    # grain_metrics.boundary_pixels (and registration.boundary_map) ignore pairs with label 0
    # (unassigned pixels): find_boundaries marks those too, so they stay as they are. Without
    # label 0 they agree.
    differs = [lab for lab in MAPS if not np.array_equal(boundary_pixels(lab), find_boundaries(lab, connectivity=1))]
    assert differs and all((lab == 0).any() for lab in differs)
    for lab in MAPS:
        if not (lab == 0).any():
            np.testing.assert_array_equal(boundary_pixels(lab), find_boundaries(lab, connectivity=1))
