"""Boundary F1 and merged/split fractions on label maps small enough to count by hand."""

import numpy as np
import pytest

from tracerdiff.boundaries.grain_metrics import boundary_f1, boundary_pixels, merged_split_fractions, pair_recall
from tracerdiff.errors import InputError


def _halves(col):
    """10 x 10 map split into label 1 | label 2 at column ``col``."""
    lab = np.ones((10, 10), int)
    lab[:, col:] = 2
    return lab


def test_boundary_pixels_are_both_sides_of_the_line():
    b = boundary_pixels(_halves(5))
    assert b.sum() == 20 and b[:, 4].all() and b[:, 5].all()
    lab = _halves(5)
    lab[:, :3] = 0  # label 0 (no grain) makes no boundary
    assert boundary_pixels(lab).sum() == 20


def test_identical_maps_score_one():
    s = boundary_f1(_halves(5), _halves(5))
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0) and s.n_true_px == 20


def test_tolerance_decides_a_shifted_boundary():
    # Found line 3 columns right of the truth: found pixels at columns 7, 8, true at 4, 5.
    # Within 2 px: found column 7 is 2 px from true column 5 (counts), column 8 is 3 px (not):
    # precision 10/20; recall symmetric 10/20; F1 0.5. With tolerance 3 all count.
    s = boundary_f1(_halves(8), _halves(5), tolerance_px=2)
    assert s.precision == 0.5 and s.recall == 0.5 and s.f1 == 0.5
    assert boundary_f1(_halves(8), _halves(5), tolerance_px=3).f1 == 1.0


def test_missing_and_extra_boundaries():
    truth = _halves(5)
    # A found map with no boundary: recall 0, F1 0 (precision 1: nothing found to be wrong).
    s = boundary_f1(np.ones((10, 10), int), truth)
    assert s.recall == 0.0 and s.precision == 1.0 and s.f1 == 0.0
    # An extra horizontal boundary between rows 4 and 5 in the found map: recall stays 1.
    found = truth.copy()
    found[5:, :5] = 3
    found[5:, 5:] = 4
    s = boundary_f1(found, truth)
    assert s.recall == 1.0
    # Found boundary pixels: the vertical line (20 px) + horizontal rows 4, 5 minus columns 4, 5
    # (16 px) = 36; the horizontal ones in columns 2, 3, 6, 7 are within 2 px (8 px): 28/36.
    assert s.n_found_px == 36 and s.precision == pytest.approx(28 / 36)
    assert s.f1 == pytest.approx(2 * (28 / 36) / (1 + 28 / 36))


def test_merged_and_split_by_majority():
    # Truth: four 5 x 5 quadrants 1..4. Found: quadrants 1 and 2 merged into one region, quadrant
    # 4 split into two halves, quadrant 3 exact.
    truth = np.zeros((10, 10), int)
    truth[:5, :5], truth[:5, 5:], truth[5:, :5], truth[5:, 5:] = 1, 2, 3, 4
    found = truth.copy()
    found[:5, :] = 7
    found[5:, 5:8] = 8
    found[5:, 8:] = 9
    m = merged_split_fractions(found, truth)
    assert (m.n_true, m.n_merged, m.n_split) == (4, 2, 1)
    assert m.merged_fraction == 0.5 and m.split_fraction == 0.25
    assert merged_split_fractions(truth, truth).merged_fraction == 0.0


def test_mask_restricts_the_count():
    truth = np.zeros((10, 10), int)
    truth[:, :5], truth[:, 5:] = 1, 2
    found = np.ones((10, 10), int)
    mask = np.zeros((10, 10), bool)
    mask[:, :5] = True  # only grain 1 visible: nothing merged within the mask
    assert merged_split_fractions(found, truth, mask=mask).n_merged == 0
    assert merged_split_fractions(found, truth).n_merged == 2
    # Boundary score inside the mask: true boundary pixels at column 4 only (10 px), none found.
    s = boundary_f1(found, truth, mask=mask)
    assert s.n_true_px == 10 and s.recall == 0.0


def test_bad_inputs_are_named():
    with pytest.raises(InputError) as err:
        boundary_f1(np.zeros((3, 3), int), np.zeros((4, 3), int))
    assert err.value.source == "labels"
    with pytest.raises(InputError):
        boundary_f1(np.zeros((3, 3), float), np.zeros((3, 3), int))
    with pytest.raises(InputError) as err:
        merged_split_fractions(np.zeros((3, 3), int), np.zeros((3, 3), int))
    assert err.value.source == "labels"


def _quadrants():
    truth = np.zeros((10, 10), int)
    truth[:5, :5], truth[:5, 5:], truth[5:, :5], truth[5:, 5:] = 1, 2, 3, 4
    return truth


def test_pair_recall_names_the_missed_boundary():
    truth = _quadrants()
    # Found: quadrants 1 and 2 merged (their vertical boundary, rows 0-4, is missing).
    found = truth.copy()
    found[found == 2] = 1
    r = pair_recall(found, truth)
    assert r.missed_pairs() == [(1, 2)]
    # Four 5-face boundaries. (1, 2)'s faces in rows 3 and 4 lie within 1 px of the found
    # horizontal line between rows 4 and 5 (the triple junction), so 2 of its 5 count: recall 0.4,
    # still missed; the other three are found whole: (15 + 2) / 20.
    assert dict(zip(map(tuple, r.pairs.tolist()), r.faces.tolist())) == {(1, 2): 5, (1, 3): 5, (2, 4): 5, (3, 4): 5}
    assert r.recall[r.missed][0] == pytest.approx(0.4)
    assert r.length_recall == pytest.approx(17 / 20)
    # (1, 2) runs along the rows' direction (faces between columns): horizontal share 0; (1, 3) 1.
    by_pair = dict(zip(map(tuple, r.pairs.tolist()), r.horizontal.tolist()))
    assert by_pair[(1, 2)] == 0.0 and by_pair[(1, 3)] == 1.0
    assert pair_recall(truth, truth).length_recall == 1.0


def test_pair_recall_tolerance_and_short_pairs():
    # A found line 2 columns off: not within 1 px, within 2 px.
    assert pair_recall(_halves(7), _halves(5), tolerance_px=1).missed_pairs() == [(1, 2)]
    assert pair_recall(_halves(7), _halves(5), tolerance_px=2).missed_pairs() == []
    # A pair with fewer than min_faces faces is not scored.
    assert pair_recall(_halves(5), _halves(5), min_faces=11).pairs.shape == (0, 2)
    with pytest.raises(InputError):
        pair_recall(_halves(5), _halves(5), tolerance_px=-1)
