"""A broken study file fails before any analysis, with a message naming the file and the key."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracerdiff.cli import app
from tracerdiff.errors import InputError
from tracerdiff.study.load import load_study

GOOD = """
title = "minimal"
[sample]
material = "LLTO"
grain_size = "16 um"
grain_size_sd = "11 um"
gb_thickness = "0.5 nm"
li_density = "5.0e21 cm^-3"

[[steps]]
name = "ex"
kind = "exchange"
temperature = "22 degC"
duration = "59 h"

[[measurements.images]]
name = "img"
after = "ex"
li6 = "a6.tif"
li7 = "a7.tif"
pixel_size = "1 um"

[[reference.series]]
name = "nmr"
kind = "d_nmr"
points = [{temperature = "22 degC", value = "2.6e-8 cm^2/s"}, {temperature = "100 degC", value = "3e-7 cm^2/s"}]
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a6.tif").write_bytes(b"placeholder")  # existence is all the schema checks
    (tmp_path / "a7.tif").write_bytes(b"placeholder")
    p = tmp_path / "study.toml"
    p.write_text(text)
    return p


def _error(tmp_path, text) -> str:
    with pytest.raises(InputError) as info:
        load_study(_write(tmp_path, text))
    return str(info.value)


def test_good_study_parses_units_to_si(tmp_path):
    s = load_study(_write(tmp_path, GOOD))
    assert s.sample.grain_size == pytest.approx(16e-6)
    assert s.sample.gb_thickness == pytest.approx(0.5e-9)
    assert s.sample.li_density == pytest.approx(5.0e27)
    assert s.steps[0].temperature == pytest.approx(295.15)
    assert s.steps[0].duration == pytest.approx(59 * 3600)
    assert s.reference.series[0].values_si()[1] == pytest.approx((373.15, 3e-11, 0.0))
    assert Path(s.measurements.images[0].li6).is_absolute()  # resolved against the study's folder


def test_missing_image_file_names_the_key_and_file(tmp_path):
    msg = _error(tmp_path, GOOD.replace('li7 = "a7.tif"', 'li7 = "missing_7Li.tif"'))
    assert "study.toml" in msg
    assert "measurements.images[0].li7" in msg
    assert "missing_7Li.tif" in msg


def test_wrong_unit_names_the_key(tmp_path):
    msg = _error(tmp_path, GOOD.replace('grain_size = "16 um"', 'grain_size = "16 s"'))
    assert "sample.grain_size:" in msg and "not a length" in msg


def test_bare_number_without_unit_names_the_key(tmp_path):
    msg = _error(tmp_path, GOOD.replace('duration = "59 h"', "duration = 59"))
    assert "steps[0].duration" in msg and "no unit" in msg


def test_negative_duration_names_the_key(tmp_path):
    msg = _error(tmp_path, GOOD.replace('duration = "59 h"', 'duration = "-59 h"'))
    assert "steps[0].duration" in msg and "must be > 0" in msg


def test_unknown_key_names_the_key(tmp_path):
    msg = _error(tmp_path, GOOD.replace('material = "LLTO"', 'material = "LLTO"\ngrainsize = "16 um"'))
    assert "sample.grainsize" in msg and "unknown key" in msg


def test_reference_value_with_wrong_dimension_names_the_point(tmp_path):
    msg = _error(tmp_path, GOOD.replace('value = "3e-7 cm^2/s"', 'value = "3e-7 S/cm"'))
    assert "reference.series[0]" in msg and "points[1].value" in msg


def test_measurement_after_unknown_step(tmp_path):
    msg = _error(tmp_path, GOOD.replace('after = "ex"', 'after = "exchange1"'))
    assert "measurements.images[0].after" in msg and "exchange1" in msg


def test_every_problem_is_reported_at_once(tmp_path):
    bad = GOOD.replace('duration = "59 h"', 'duration = "-1 h"').replace('grain_size = "16 um"',
                                                                         'grain_size = "16 kg"')
    msg = _error(tmp_path, bad)
    assert "steps[0].duration" in msg and "sample.grain_size" in msg


def test_invalid_toml_is_a_file_format_error(tmp_path):
    msg = _error(tmp_path, GOOD + "\n[sample\n")
    assert "not a valid TOML file" in msg


def test_cli_run_fails_before_any_analysis(tmp_path):
    study = _write(tmp_path, GOOD.replace('duration = "59 h"', 'duration = "-59 h"'))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", str(study), "--out", str(out)])
    assert res.exit_code == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "steps[0].duration" in lines[0]
    assert not out.exists()  # nothing written: the run stopped at validation


def test_optical_boundary_source_requires_micrographs(tmp_path):
    msg = _error(tmp_path, GOOD + '\n[options]\nboundary_source = "optical"\n')
    assert "measurements.images[0].optical" in msg


def test_reference_series_from_csv_file(tmp_path):
    (tmp_path / "nmr.csv").write_text("temperature_C,D_cm2_s,D_stderr_cm2_s\n22,2.6e-8,0.1e-8\n100,3.0e-7,0.2e-7\n")
    text = GOOD.replace('points = [{temperature = "22 degC", value = "2.6e-8 cm^2/s"}, '
                        '{temperature = "100 degC", value = "3e-7 cm^2/s"}]', 'file = "nmr.csv"')
    s = load_study(_write(tmp_path, text))
    values = s.reference.series[0].values_si()
    assert [v for row in values for v in row] == pytest.approx([295.15, 2.6e-12, 1e-13, 373.15, 3e-11, 2e-12])


def test_reference_series_needs_points_or_file(tmp_path):
    text = GOOD.replace('points = [{temperature = "22 degC", value = "2.6e-8 cm^2/s"}, '
                        '{temperature = "100 degC", value = "3e-7 cm^2/s"}]', "")
    msg = _error(tmp_path, text)
    assert "reference.series[0]" in msg and "'points' or 'file'" in msg


def test_bad_reference_csv_fails_before_analysis(tmp_path):
    from tracerdiff.study.runner import run_study

    (tmp_path / "nmr.csv").write_text("temperature_C,D_cm_s\n22,2.6e-8\n")  # cm/s is not a diffusivity
    text = GOOD.replace('points = [{temperature = "22 degC", value = "2.6e-8 cm^2/s"}, '
                        '{temperature = "100 degC", value = "3e-7 cm^2/s"}]', 'file = "nmr.csv"')
    text = text[:text.index("[[measurements.images]]")] + text[text.index("[[reference.series]]"):]
    with pytest.raises(InputError) as info:
        run_study(_write(tmp_path, text), tmp_path / "out", quiet=True)
    assert "nmr.csv" in str(info.value)
    assert not (tmp_path / "out").exists()


# --- QA regressions: every way issue 6 names to break a study file fails at load, naming the key ---

def test_temperature_above_3000_k_is_out_of_range(tmp_path):
    # 20000 degC passed the > 0 K check and ran every analysis; no solid electrolyte survives 3000 K.
    msg = _error(tmp_path, GOOD.replace('temperature = "22 degC"\nduration', 'temperature = "20000 degC"\nduration'))
    assert "steps[0].temperature" in msg and "out of range" in msg and "study.toml" in msg


def test_reference_csv_temperature_out_of_range_names_the_file(tmp_path):
    (tmp_path / "nmr.csv").write_text("temperature_C,D_cm2_s\n22,2.6e-8\n20000,3.0e-7\n")
    text = GOOD.replace('points = [{temperature = "22 degC", value = "2.6e-8 cm^2/s"}, '
                        '{temperature = "100 degC", value = "3e-7 cm^2/s"}]', 'file = "nmr.csv"')
    s = load_study(_write(tmp_path, text))
    with pytest.raises(InputError, match=r"nmr\.csv: temperature outside"):
        s.reference.series[0].values_si()


def test_folder_instead_of_file_says_so(tmp_path):
    (tmp_path / "sub").mkdir()
    msg = _error(tmp_path, GOOD.replace('li7 = "a7.tif"', 'li7 = "sub"'))
    assert "measurements.images[0].li7" in msg and "is a folder, not a file" in msg


@pytest.mark.parametrize("text, key", [
    (GOOD.replace('material = "LLTO"', "material = 5"), "sample.material"),
    (GOOD.replace('grain_size = "16 um"', "grain_size = [16]"), "sample.grain_size"),
    (GOOD.replace('kind = "exchange"', 'kind = "exchnage"'), "steps[0].kind"),
    (GOOD.replace('name = "img"', 'name = "img"\nedge = 3'), "measurements.images[0].edge"),
    ("", "sample: required key is missing"),
    (GOOD.replace('[[measurements.images]]', '[[steps]]\nname = "ex"\nkind = "storage"\n'
                  'temperature = "22 degC"\nduration = "1 h"\n\n[[measurements.images]]'), "duplicate step names"),
])
def test_wrong_types_empty_file_and_duplicate_steps_name_the_key(tmp_path, text, key):
    assert key in _error(tmp_path, text)


def test_binary_study_file_is_a_file_format_error(tmp_path):
    from tracerdiff.errors import FileFormatError

    p = tmp_path / "study.toml"
    p.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(FileFormatError, match="study.toml: not a valid TOML file"):
        load_study(p)


@pytest.mark.parametrize("change", [
    ('li7 = "a7.tif"', 'li7 = "missing.tif"'), ('grain_size = "16 um"', 'grain_size = "16 s"'),
    ('duration = "59 h"', 'duration = "-59 h"'), ('edge', 'edge'), ('after = "ex"', 'after = "nope"'),
    ('temperature = "22 degC"\nduration', 'temperature = "1e5 K"\nduration'),
])
def test_cli_every_broken_study_one_line_no_traceback_nothing_written(tmp_path, change):
    text = GOOD.replace(*change) if change[0] != "edge" else GOOD.replace('material = "LLTO"',
                                                                          'material = "LLTO"\ncolour = "red"')
    study = _write(tmp_path, text)
    res = CliRunner().invoke(app, ["run", str(study), "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code != 0
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "study.toml" in lines[0], res.stderr
    assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists()
