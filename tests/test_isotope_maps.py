"""Isotope maps from read data: dead-time correction, binning, masks, normalisation."""

import numpy as np
import pytest

from tracerdiff.errors import InputError
from tracerdiff.io import make_image
from tracerdiff.isotope import bin_counts, dead_time_correct, dead_time_variance, isotope_map


def test_dead_time_correction_matches_poisson_inversion():
    # With n shots and mean lambda ions per shot, the expected observed count is n (1 - exp(-lambda)).
    n = 1000.0
    lam = np.array([0.0, 0.01, 0.5, 2.0])
    observed = n * (1 - np.exp(-lam))
    np.testing.assert_allclose(dead_time_correct(observed, n), n * lam, rtol=1e-12)
    # small counts are nearly unchanged: first-order term N + N^2/(2n)
    assert dead_time_correct(10.0, 1e6) == pytest.approx(10.0 + 100 / 2e6, rel=1e-9)


def test_dead_time_correction_on_simulated_shots_is_unbiased():
    # Monte-Carlo: Poisson ions per shot, detector sees at most one per shot. Seeded.
    rng = np.random.default_rng(7)
    n, lam, pixels = 400, 0.8, 2000
    ions = rng.poisson(lam, size=(pixels, n))
    observed = (ions > 0).sum(axis=1)
    corrected = dead_time_correct(observed, n)
    # mean corrected count must equal n*lam within 4 standard errors of the mean
    sem = np.sqrt(dead_time_variance(observed, n).mean() / pixels)
    assert abs(corrected.mean() - n * lam) < 4 * sem
    assert observed.mean() < 0.75 * n * lam  # the correction matters here: 1 - exp(-0.8) = 0.55 per shot


@pytest.mark.parametrize("counts,shots", [(5.0, 5), (6.0, 5), (1.0, 0), (-1.0, 10)])
def test_dead_time_correction_refuses_impossible_input(counts, shots):
    with pytest.raises(InputError):
        dead_time_correct(counts, shots)


def test_bin_counts_sums_blocks_and_drops_partial_edges():
    a = np.arange(20).reshape(4, 5)
    binned = bin_counts(a, 2)
    assert binned.shape == (2, 2)
    assert binned[0, 0] == 0 + 1 + 5 + 6
    assert binned[1, 1] == 12 + 13 + 17 + 18
    stack = np.stack([a, 2 * a])
    np.testing.assert_array_equal(bin_counts(stack, 2)[1], 2 * binned)
    assert bin_counts(a, 1) is a
    with pytest.raises(InputError):
        bin_counts(a, 0)
    with pytest.raises(InputError):
        bin_counts(a, 6)


def _image(six, seven, px=1.0):
    return make_image({"6Li": np.asarray(six), "7Li": np.asarray(seven)}, px, source_path="mem.tif")


def test_isotope_map_values_and_binomial_errors():
    ds = _image([[30, 0], [10, 0]], [[70, 0], [90, 5]])
    m = isotope_map(ds)
    assert m["C"].values[0, 0] == pytest.approx(0.3)
    assert m["C_stderr"].values[0, 0] == pytest.approx(np.sqrt(0.3 * 0.7 / 100))
    assert not m["valid"].values[0, 1] and np.isnan(m["C"].values[0, 1])  # no counts: explicitly invalid
    assert m["C"].values[1, 1] == 0.0 and m["C_stderr"].values[1, 1] > 0  # edge pixel keeps a finite error


def test_isotope_map_binning_adds_counts_before_the_ratio():
    six = np.array([[1, 3], [5, 1]])
    seven = np.array([[9, 7], [5, 9]])
    m = isotope_map(_image(six, seven, px=0.5), bin=2)
    assert m["C"].shape == (1, 1)
    assert m["C"].values[0, 0] == pytest.approx(10 / 40)
    assert m.attrs["pixel_size_um"] == 1.0
    assert float(m["x"][0]) == pytest.approx(0.25)  # centre of the 2x2 block


def test_isotope_map_masks_pixels_before_binning_and_after():
    six = np.array([[1, 3], [5, 1]])
    seven = np.array([[9, 7], [5, 9]])
    mask = np.array([[False, True], [False, False]])
    m = isotope_map(_image(six, seven), bin=2, mask=mask)
    assert m["C"].values[0, 0] == pytest.approx(7 / 30)  # pixel (0,1) left out of the sum
    m2 = isotope_map(_image(six, seven), mask=mask)
    assert not m2["valid"].values[0, 1] and np.isnan(m2["C"].values[0, 1])
    with pytest.raises(InputError, match="mask"):
        isotope_map(_image(six, seven), mask=np.zeros((3, 3), bool))


def test_isotope_map_dead_time_corrects_counts_and_propagates_variance():
    n = 100.0
    ds = _image([[50.0]], [[20.0]])
    plain = isotope_map(ds)
    corrected = isotope_map(ds, dead_time_shots=n)
    a, b = -n * np.log(1 - 0.5), -n * np.log(1 - 0.2)
    assert corrected["C"].values[0, 0] == pytest.approx(a / (a + b))
    assert corrected["total"].values[0, 0] == pytest.approx(a + b)
    # delta method with var N_true = N/(1 - N/n): 50/0.5 = 100 and 20/0.8 = 25
    expected = np.sqrt(b**2 * 100 + a**2 * 25) / (a + b) ** 2
    assert corrected["C_stderr"].values[0, 0] == pytest.approx(expected, rel=1e-12)
    assert plain["C_stderr"].values[0, 0] == pytest.approx(np.sqrt(50 * 20 / 70) / 70)
    with pytest.raises(InputError, match="saturated"):
        isotope_map(_image([[100.0]], [[1.0]]), dead_time_shots=n)


def test_isotope_map_normalisation_and_stack():
    stack6 = np.array([[[10, 50]], [[90, 20]]])
    stack7 = np.array([[[90, 50]], [[10, 80]]])
    m = isotope_map(_image(stack6, stack7), normalise=(0.1, 0.9))
    assert m["C"].dims == ("z", "y", "x")
    np.testing.assert_allclose(m["C_norm"].values[:, 0, :], [[0.0, 0.5], [1.0, 0.125]])
    np.testing.assert_allclose(m["C_norm_stderr"].values, m["C_stderr"].values / 0.8)


def test_isotope_map_names_missing_channel():
    ds = make_image({"6Li": np.ones((2, 2))}, 1.0, source_path="one.tif")
    with pytest.raises(InputError, match="one.tif.*7Li"):
        isotope_map(ds)


def test_isotope_map_dead_time_auto_uses_reader_metadata(tmp_path):
    from tracerdiff.io import read, synth

    six = np.array([[[10, 20]], [[10, 20]]], dtype=np.uint32)  # 2 scans
    seven = np.array([[[30, 5]], [[30, 5]]], dtype=np.uint32)
    path = synth.write_ita(tmp_path / "a.ita", {"6Li+": six, "7Li+": seven}, {"6Li+": 6.015, "7Li+": 7.016},
                           fov_um=2.0, shots_per_pixel=50)
    ds = read(path)
    auto = isotope_map(ds, dead_time_shots="auto")
    explicit = isotope_map(ds, dead_time_shots=100)  # 50 shots per pixel per scan x 2 scans
    np.testing.assert_array_equal(auto["C"].values, explicit["C"].values)
    with pytest.raises(InputError, match="primary_shots_per_pixel"):
        isotope_map(_image([[1]], [[1]]), dead_time_shots="auto")


def test_bad_bin_factor_names_the_file():
    ds = make_image({"6Li": np.full((4, 4), 10), "7Li": np.full((4, 4), 90)}, 1.0, source_path="map.tif")
    with pytest.raises(InputError, match=r"map\.tif: bin factor must be a positive integer"):
        isotope_map(ds, bin=0)
    with pytest.raises(InputError, match=r"map\.tif: bin factor 10 is larger than the image"):
        isotope_map(ds, bin=10)
