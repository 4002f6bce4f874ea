"""Isotope fraction C = I6/(I6 + I7) (eqn 1) and its binomial counting error."""

import math

import numpy as np
import pytest

from tracerdiff.errors import InputError
from tracerdiff.isotope import isotope_fraction


def test_hand_values():
    r = isotope_fraction(6.0, 4.0)
    assert float(r.value) == pytest.approx(0.6, rel=1e-15)
    assert float(r.stderr) == pytest.approx(math.sqrt(0.6 * 0.4 / 10), rel=1e-15)
    assert float(r.total) == 10.0


def test_natural_abundance_pixel():
    # 759 6Li and 9241 7Li counts: C = 0.0759 (natural), sd = sqrt(0.0759 * 0.9241 / 1e4) = 2.65e-3
    r = isotope_fraction(759, 9241)
    assert float(r.value) == pytest.approx(0.0759, rel=1e-12)
    assert float(r.stderr) == pytest.approx(math.sqrt(0.0759 * 0.9241 / 1e4), rel=1e-12)


def test_one_channel_zero_uses_shrunk_estimate_not_zero_error():
    # C is 0 exactly, but its error uses p = (0 + 1/2)/(10 + 1) so the pixel does not get infinite weight
    r = isotope_fraction(0, 10)
    p = 0.5 / 11
    assert float(r.value) == 0.0
    assert float(r.stderr) == pytest.approx(math.sqrt(p * (1 - p) / 10), rel=1e-12)
    r = isotope_fraction(10, 0)
    assert float(r.value) == 1.0 and float(r.stderr) > 0


def test_binomial_stderr_matches_simulated_binomial_draws():
    # N = 400 counts per pixel, true C = 0.3; 20 000 simulated pixels (seeded).
    # The sample sd of C has relative standard error ~ 1/sqrt(2 * 20000) = 0.5 %; 3 % tolerance is 6 of those.
    rng = np.random.default_rng(12345)
    n, p = 400, 0.3
    i6 = rng.binomial(n, p, size=20_000)
    r = isotope_fraction(i6, n - i6)
    assert np.std(r.value.compressed(), ddof=1) == pytest.approx(math.sqrt(p * (1 - p) / n), rel=0.03)
    assert float(np.ma.mean(r.stderr)) == pytest.approx(math.sqrt(p * (1 - p) / n), rel=0.03)
    assert float(np.ma.mean(r.value)) == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / n / 20_000))


def test_poisson_counts_give_binomial_conditional_error():
    # independent Poisson channels: conditional on the total, I6 is binomial -> same formula (seeded)
    rng = np.random.default_rng(7)
    i6 = rng.poisson(120.0, size=20_000)
    i7 = rng.poisson(280.0, size=20_000)
    r = isotope_fraction(i6, i7)
    # sd over pixels with varying N ~ sqrt(p(1-p)/<N>) to O(var(N)/N^2) = 0.25 % here; 3 % tolerance as above
    assert np.std(r.value.compressed(), ddof=1) == pytest.approx(math.sqrt(0.3 * 0.7 / 400), rel=0.03)


def test_zero_counts_are_masked_without_nan():
    i6 = np.array([[0, 5], [3, 0]])
    i7 = np.array([[0, 5], [0, 7]])
    r = isotope_fraction(i6, i7)
    assert r.valid.tolist() == [[False, True], [True, True]]
    assert not np.isnan(r.value.data).any() and not np.isnan(r.stderr.data).any()
    assert r.value.mask.tolist() == r.stderr.mask.tolist()
    assert float(r.value[0, 1]) == 0.5 and float(r.value[1, 0]) == 1.0
    d = r.to_dict()
    assert d["n_valid"] == 3 and d["n_masked"] == 1
    assert d["mean"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)


def test_all_empty_map_has_no_mean():
    d = isotope_fraction(np.zeros(4), np.zeros(4)).to_dict()
    assert d["n_valid"] == 0 and d["mean"] is None and d["median_stderr"] is None


def test_normalised_maps_natural_to_zero_and_enriched_to_one():
    r = isotope_fraction(np.array([759.0, 9500.0]), np.array([9241.0, 500.0]))
    norm = r.normalised(0.0759, 0.95)
    assert norm.value.tolist() == pytest.approx([0.0, 1.0], abs=1e-12)
    assert norm.stderr.tolist() == pytest.approx((r.stderr / (0.95 - 0.0759)).tolist(), rel=1e-12)
    with pytest.raises(InputError, match="C0 != Cs"):
        r.normalised(0.5, 0.5)


@pytest.mark.parametrize("i6, i7, match", [
    ([1, 2], [1, 2, 3], "different shapes"),
    ([1, -2], [1, 2], "non-negative"),
    ([1, np.nan], [1, 2], "NaN"),
])
def test_bad_counts(i6, i7, match):
    with pytest.raises(InputError, match=match):
        isotope_fraction(i6, i7, name="scan.txt")


def test_non_numeric_counts_are_an_input_error():
    # np.asarray(..., dtype=float) raised a bare ValueError
    with pytest.raises(InputError, match="scan.csv: counts must be numbers"):
        isotope_fraction("a", "b", name="scan.csv")
