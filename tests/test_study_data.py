"""Data files named by a study are read and checked before any analysis; errors name the key and the file."""

import numpy as np
import pytest
import tifffile

from tracerdiff.errors import InputError
from tracerdiff.study.runner import run_study

STUDY = """
[sample]
material = "LLTO"
grain_size = "16 um"
gb_thickness = "0.5 nm"
li_density = "5.0e21 cm^-3"

[[steps]]
name = "ex"
kind = "exchange"
temperature = "22 degC"
duration = "59 h"
"""
IMAGE = """
[[measurements.images]]
name = "img"
after = "ex"
li6 = "a6.tif"
li7 = "a7.tif"
pixel_size = "1 um"
optical = "optical.tif"
"""
SCAN = """
[[measurements.line_scans]]
name = "scan"
after = "ex"
file = "scan.csv"
"""
SPECTRUM = """
[[reference.impedance]]
name = "is"
temperature = "22 degC"
file = "is.csv"
thickness = "1 mm"
area = "0.25 cm^2"
"""


def _fails_before_analysis(tmp_path, text) -> str:
    study = tmp_path / "study.toml"
    study.write_text(STUDY + text)
    with pytest.raises(InputError) as info:
        run_study(study, tmp_path / "out", quiet=True)
    assert not (tmp_path / "out").exists()  # stopped while loading: no output folder
    return str(info.value)


def _images(tmp_path, *, li7_shape=(20, 30), optical_shape=(20, 30)):
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "a6.tif", rng.poisson(100, (20, 30)).astype(np.uint16))
    tifffile.imwrite(tmp_path / "a7.tif", rng.poisson(900, li7_shape).astype(np.uint16))
    tifffile.imwrite(tmp_path / "optical.tif", rng.integers(0, 255, optical_shape).astype(np.uint8))


def test_line_scan_with_four_points_fails_at_load(tmp_path):
    # Was: accepted, and the erfc/evolution analyses failed mid-run with the reason buried in results.json.
    (tmp_path / "scan.csv").write_text("x_um,6Li,7Li\n5,900,100\n15,700,300\n25,400,600\n35,200,800\n")
    msg = _fails_before_analysis(tmp_path, SCAN)
    assert "study.toml: measurements.line_scans[0].file:" in msg and "scan.csv" in msg and "at least 5" in msg


def test_count_images_of_different_shapes_name_the_key(tmp_path):
    _images(tmp_path, li7_shape=(18, 30))
    msg = _fails_before_analysis(tmp_path, IMAGE)
    assert "study.toml: measurements.images[0]:" in msg and "a7.tif" in msg


def test_micrograph_not_covering_the_field_of_view_fails_at_load(tmp_path):
    # Was: silently padded with its median grey, so half the image had no boundaries.
    _images(tmp_path, optical_shape=(10, 12))
    msg = _fails_before_analysis(tmp_path, IMAGE)
    assert "measurements.images[0].optical:" in msg and "optical.tif" in msg and "10 x 12" in msg


def test_micrograph_one_pixel_off_is_accepted(tmp_path):
    # Resampling to the SIMS pixel size can round a dimension by one pixel; registration absorbs that.
    from tracerdiff.study.context import RunContext
    from tracerdiff.study.load import load_study
    from tracerdiff.study.imaging import load_data

    _images(tmp_path, optical_shape=(21, 29))
    (tmp_path / "study.toml").write_text(STUDY + IMAGE)
    ctx = RunContext(study=load_study(tmp_path / "study.toml"), study_path=tmp_path / "study.toml",
                     out=tmp_path / "out")
    load_data(ctx)
    assert ctx.optical["img"].shape == (21, 29)


def test_impedance_spectrum_with_too_few_rows_fails_at_load(tmp_path):
    rows = "".join(f"{10.0 ** k},{100 + k},-{10 + k}\n" for k in range(5))
    (tmp_path / "is.csv").write_text("frequency_Hz,Z_real_ohm,Z_imag_ohm\n" + rows)
    msg = _fails_before_analysis(tmp_path, SPECTRUM)
    assert "reference.impedance[0].file:" in msg and "is.csv" in msg and ">= 12 rows" in msg
