"""Reading and validating line scans (tracerdiff.profiles.load)."""

import numpy as np
import pytest

from tracerdiff.errors import FileFormatError, InputError
from tracerdiff.profiles import profile_data, read_profile
from tracerdiff.profiles.load import profile_from_counts, profile_from_fraction


def _write(path, text):
    path.write_text(text)
    return path


def test_counts_csv_gives_fraction_and_binomial_error(tmp_path):
    # 3 of 4 counts are 6Li at every point: C = 0.75, sigma = sqrt(0.75 * 0.25 / 4) = 0.2165...
    rows = "\n".join(f"{5 * i},{3 * (i + 1)},{1 * (i + 1)}" for i in range(6))
    p = _write(tmp_path / "scan.csv", "# comment line\nx_um,I6Li,I7Li\n" + rows + "\n")
    ds = read_profile(p)
    assert ds.attrs["format"] == "csv_profile" and len(ds.attrs["sha256"]) == 64
    d = profile_data(ds)
    np.testing.assert_allclose(d.x, np.arange(6) * 5e-6)
    np.testing.assert_allclose(d.c, 0.75)
    n = 4 * (np.arange(6) + 1)
    np.testing.assert_allclose(d.c_stderr, np.sqrt(0.75 * 0.25 / n))
    np.testing.assert_allclose(d.weights, 1 / d.c_stderr)


def test_fraction_csv_in_mm_with_and_without_stderr(tmp_path):
    p = _write(tmp_path / "c.csv", "x_mm,C\n" + "\n".join(f"{0.1 * i},{0.5 - 0.05 * i}" for i in range(7)))
    d = profile_data(read_profile(p))
    np.testing.assert_allclose(d.x, np.arange(7) * 1e-4)  # 0.1 mm steps
    assert d.c_stderr is None and d.weights is None
    p2 = _write(tmp_path / "c2.csv", "x_um,C,C_stderr\n" + "\n".join(f"{i},0.5,0.01" for i in range(5)))
    np.testing.assert_allclose(profile_data(read_profile(p2)).c_stderr, 0.01)


def test_decreasing_positions_are_reversed():
    d = profile_data(profile_from_fraction([40, 30, 20, 10, 0], [0.1, 0.2, 0.3, 0.4, 0.5]))
    np.testing.assert_allclose(d.x * 1e6, [0, 10, 20, 30, 40])
    np.testing.assert_allclose(d.c, [0.5, 0.4, 0.3, 0.2, 0.1])


def test_zero_count_points_are_dropped():
    d = profile_data(profile_from_counts(np.arange(7.0), [1, 2, 0, 3, 4, 5, 6], [1, 1, 0, 1, 1, 1, 1]))
    assert len(d) == 6 and 2e-6 not in d.x


@pytest.mark.parametrize("x, c, match", [
    ([0, 1, 2, 3], [0.5] * 4, "4 usable points; at least 5"),
    ([0, 1, 3, 2, 4], [0.5] * 5, "strictly monotonic; point 3"),
    ([0, 1, 1, 2, 4], [0.5] * 5, "strictly monotonic"),
    ([0, 1, 2, 3, 4], [0.5, 0.5, 1.2, 0.5, 0.5], r"C must lie in \[0, 1\]; point 2"),
    ([0, 1, 2, 3, 4], [0.5, -0.1, 0.5, 0.5, 0.5], r"C must lie in \[0, 1\]"),
    ([0, 1, 2, 3, 4], [0.5, np.nan, 0.5, 0.5, 0.5], "NaN"),
])
def test_bad_profiles_are_refused_with_a_clear_message(x, c, match):
    with pytest.raises(InputError, match=match):
        profile_from_fraction(x, c, source="scan.csv")


def test_bad_files(tmp_path):
    # Every message names the file and the problem (the one line-scan reader, tracerdiff.io).
    with pytest.raises(FileFormatError, match=r"missing\.csv: file does not exist"):
        read_profile(tmp_path / "missing.csv")
    with pytest.raises(FileFormatError, match=r"a\.csv: .*position column"):
        read_profile(_write(tmp_path / "a.csv", "pos,C\n1,0.5\n"))
    with pytest.raises(InputError, match=r"b\.csv: profile needs channels '6Li' and '7Li' or 'C', has \['foo'\]"):
        read_profile(_write(tmp_path / "b.csv", "x_um,foo\n" + "\n".join(f"{i},0.5" for i in range(5))))
    with pytest.raises(FileFormatError, match=r"c\.csv: line 2, column 'C': 'abc' is not a number"):
        read_profile(_write(tmp_path / "c.csv", "x_um,C\n1,abc\n"))
    with pytest.raises(FileFormatError, match=r"d\.csv: position column 'x_parsec2': unknown length unit"):
        read_profile(_write(tmp_path / "d.csv", "x_parsec2,C\n1,0.5\n"))
    with pytest.raises(InputError, match=r"c\.csv.*usable points"):
        read_profile(_write(tmp_path / "c.csv", "x_um,C\n1,0.5\n2,0.4\n"))
    with pytest.raises(InputError, match="non-negative"):
        read_profile(_write(tmp_path / "n.csv", "x_um,I6Li,I7Li\n" + "\n".join(f"{i},-1,3" for i in range(5))))


def test_other_text_layouts_go_through_the_general_reader(tmp_path):
    # Tab-separated 'x [um]' export: the same one reader takes it.
    rows = "\n".join(f"{5 * i}\t{90 - 10 * i}\t{10 + 10 * i}" for i in range(6))
    p = _write(tmp_path / "scan.txt", "x [um]\tI6Li\tI7Li\n" + rows + "\n")
    d = profile_data(read_profile(p))
    np.testing.assert_allclose(d.c, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    np.testing.assert_allclose(d.x, np.arange(6) * 5e-6)


def test_semicolon_csv_goes_through_the_general_reader(tmp_path):
    # ';'-separated .csv (spreadsheet export): was refused by the old profiles parser with
    # "unknown length unit 'um;C'"
    p = _write(tmp_path / "semi.csv", "x_um;C\n" + "\n".join(f"{10 * i};{0.9 - 0.1 * i}" for i in range(6)))
    d = profile_data(read_profile(p))
    np.testing.assert_allclose(d.x, np.arange(6) * 10e-6)
    np.testing.assert_allclose(d.c, 0.9 - 0.1 * np.arange(6))


def test_an_image_file_is_not_taken_for_a_profile(tmp_path):
    # was "the file does not record a pixel size: pass pixel_size_um", which erfc/evolve have no option for
    np.save(tmp_path / "img.npy", np.ones((4, 5)))
    with pytest.raises(FileFormatError, match="holds an image, not a line profile"):
        read_profile(tmp_path / "img.npy")
