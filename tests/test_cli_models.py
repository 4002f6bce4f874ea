"""The model commands: paper numbers through the CLI, JSON shape, and one-line errors for bad input."""

import json
import math

import pytest
from typer.testing import CliRunner

from tracerdiff.cli import app
from tracerdiff.models.arrhenius import EV, KB

runner = CliRunner()


def run_json(*args):
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.stderr + res.stdout
    return json.loads(res.stdout)


def is_quantity(d):
    return set(d) == {"value", "stderr", "unit"}


def test_gb_step_paper_vector():
    out = run_json("gb-step", "--d-bulk", "2.6e-8 cm^2/s", "--gradient", "1.1 1/cm", "--step", "0.02",
                   "--thickness", "0.5 nm", "--gradient-stderr", "0.11")
    assert is_quantity(out["dgb_over_delta"]) and out["dgb_over_delta"]["unit"] == "cm/s"
    assert out["dgb_over_delta"]["value"] == pytest.approx(1.43e-6, rel=1e-9)
    assert out["dgb_over_delta"]["stderr"] == pytest.approx(0.143e-6, rel=1e-9)  # 10 % gradient error
    assert out["dgb"]["value"] == pytest.approx(7.15e-14, rel=1e-9) and out["dgb"]["unit"] == "cm^2/s"


def test_gb_step_table_output():
    res = runner.invoke(app, ["gb-step", "--d-bulk", "2.6e-8 cm^2/s", "--gradient", "1.1 1/cm", "--step", "0.02"])
    assert res.exit_code == 0 and "D*gb/delta" in res.stdout and "1.43e-06" in res.stdout


def test_series_linear_and_monte_carlo():
    args = ["series", "--d-bulk", "2.8e-8 cm^2/s", "--dgb-over-delta", "1.5e-6 cm/s", "--grain-size", "16 um",
            "--grain-size-sd", "11 um"]
    lin = run_json(*args)
    assert lin["d_eff"]["value"] == pytest.approx(2.2105e-9, rel=1e-4)
    assert lin["d_eff"]["stderr"] == pytest.approx(1.4e-9, rel=0.02)
    mc = run_json(*args, "--monte-carlo", "--samples", "20000", "--seed", "4")
    assert mc["method"] == "montecarlo"
    dist = mc["distribution"]
    assert dist["p16"]["value"] < dist["median"]["value"] < dist["p84"]["value"]
    assert mc["d_eff"]["stderr"] == pytest.approx(dist["sd"]["value"], rel=1e-12)


def test_nernst_einstein_both_directions():
    common = ["--temperature", "27 degC", "--carrier-density", "5e21 cm^-3"]
    out = run_json("nernst-einstein", "--sigma", "1e-3 S/cm", *common)
    assert out["d_sigma"]["value"] == pytest.approx(3.23e-8, rel=0.01) and out["d_sigma"]["unit"] == "cm^2/s"
    back = run_json("nernst-einstein", "--d-sigma", f"{out['d_sigma']['value']} cm^2/s", *common)
    assert back["sigma"]["value"] == pytest.approx(1e-3, rel=1e-12) and back["sigma"]["unit"] == "S/cm"


def write_arrhenius_csv(path, *, ea_ev=0.43, d0_cm2_s=0.048, kelvin=False, stderr=True):
    temps_c = [22.0, 100.0, 200.0, 300.0]
    head = ("temperature_K" if kelvin else "temperature_C") + ",D_cm2_s" + (",D_stderr_cm2_s" if stderr else "")
    lines = [head]
    for tc in temps_c:
        t = tc + 273.15
        d = d0_cm2_s * math.exp(-ea_ev * EV / (KB * t))
        lines.append(f"{t if kelvin else tc},{d!r}" + (f",{0.1 * d!r}" if stderr else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_arrhenius_command_recovers_parameters_and_predicts(tmp_path):
    f = write_arrhenius_csv(tmp_path / "deff.csv")
    out = run_json("arrhenius", str(f), "--at", "-110 degC")
    assert out["activation_energy"]["unit"] == "eV"
    assert out["activation_energy"]["value"] == pytest.approx(0.43, rel=1e-9)
    assert out["prefactor"]["value"] == pytest.approx(0.048, rel=1e-9)
    assert len(out["covariance"]["matrix"]) == 2
    pred = out["prediction"]["d"]
    assert pred["value"] == pytest.approx(0.048 * math.exp(-0.43 * EV / (KB * 163.15)), rel=1e-9)
    assert out["prediction"]["temperature"]["value"] == pytest.approx(163.15)


def test_haven_command(tmp_path):
    tracer = write_arrhenius_csv(tmp_path / "tracer.csv", d0_cm2_s=0.048, stderr=False)
    n = 5e27  # 1/m^3
    rows = ["temperature_K,sigma_S_cm"]
    for tc in (22.0, 100.0, 200.0, 300.0, 350.0):
        t = tc + 273.15
        d = 0.20e-4 * math.exp(-0.43 * EV / (KB * t))  # m^2/s
        rows.append(f"{t!r},{n * EV**2 * d / (KB * t) / 100!r}")  # sigma in S/cm
    sigma = tmp_path / "sigma.csv"
    sigma.write_text("\n".join(rows) + "\n")
    out = run_json("haven", "--tracer", str(tracer), "--conductivity", str(sigma), "--carrier-density", "5e21 cm^-3")
    assert out["haven_ratio"]["value"] == pytest.approx(0.24, rel=1e-9)
    assert len(out["pointwise"]) == 4  # 350 C has no tracer point
    for p in out["pointwise"]:
        assert p["haven_ratio"]["value"] == pytest.approx(0.24, rel=1e-9)


@pytest.mark.parametrize("args, fragment", [
    (["gb-step", "--d-bulk", "-2.6e-8 cm^2/s", "--gradient", "1.1 1/cm", "--step", "0.02"], "must be positive"),
    (["gb-step", "--d-bulk", "2.6e-8 cm^2/s", "--gradient", "1.1 1/cm", "--step", "0"], "step"),
    (["gb-step", "--d-bulk", "2.6e-8 cm/s", "--gradient", "1.1 1/cm", "--step", "0.02"], "not a diffusivity"),
    (["series", "--d-bulk", "2.8e-8 cm^2/s", "--dgb-over-delta", "1.5e-6 cm^2/s", "--grain-size", "16 um"],
     "not a conductance"),
    (["series", "--d-bulk", "2.8e-8 cm^2/s", "--dgb-over-delta", "1.5e-6 cm/s", "--grain-size", "16 um",
      "--grain-size-sd", "-11 um"], "negative"),
    (["nernst-einstein", "--sigma", "1e-3 S/cm", "--temperature", "27 degC", "--carrier-density", "5e21"],
     "has no unit"),
    (["nernst-einstein", "--temperature", "27 degC", "--carrier-density", "5e21 cm^-3"], "exactly one"),
    (["nernst-einstein", "--sigma", "1e-3 S/cm", "--temperature", "-300 degC", "--carrier-density", "5e21 cm^-3"],
     "must be positive"),
    (["arrhenius", "/nonexistent/deff.csv"], "file not found"),
])
def test_bad_input_gives_one_error_line(args, fragment):
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
    assert "Traceback" not in res.stderr + res.stdout and res.stdout == ""


@pytest.mark.parametrize("content, fragment", [
    ("", "empty"),
    ("T,D\n300,1e-9\n", "unknown column(s) ['T', 'D']; the file has columns ['T', 'D']"),
    ("temperature_C,D_cm2_s,note\n22,1e-9,x\n", "unknown column(s) ['note']"),
    ("temperature_C\n22\n", "missing column(s) ['D']"),
    ("temperature_C,D_cm2_s\n", "no data rows"),
    ("temperature_C,D_cm2_s\n22,abc\n", "'abc' is not a number"),
    ("temperature_C,D_S_cm\n22,1e-3\n", "not a diffusivity"),
    ("temperature_C,D_cm2_s\n22,1e-9\n22,2e-9\n", "all temperatures are equal"),
    ("temperature_C,D_cm2_s\n22,1e-9\n100,-2e-9\n", "> 0"),
])
def test_bad_csv_gives_one_error_line_naming_the_file(tmp_path, content, fragment):
    f = tmp_path / "series.csv"
    f.write_text(content)
    res = runner.invoke(app, ["arrhenius", str(f)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and str(f) in lines[0], res.stderr


def test_unreadable_binary_csv(tmp_path):
    f = tmp_path / "binary.csv"
    f.write_bytes(b"\xff\xfe\x00\x01")
    res = runner.invoke(app, ["arrhenius", str(f)])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1 and "cannot read" in res.stderr


def test_haven_conductivity_file_needs_sigma_column(tmp_path):
    tracer = write_arrhenius_csv(tmp_path / "tracer.csv")
    res = runner.invoke(app, ["haven", "--tracer", str(tracer), "--conductivity", str(tracer),
                              "--carrier-density", "5e21 cm^-3"])
    assert res.exit_code == 2 and "missing column(s) ['sigma']" in res.stderr


def test_bare_stderr_takes_the_unit_of_its_value():
    out = run_json("series", "--d-bulk", "2.8e-8 cm^2/s", "--dgb-over-delta", "1.5e-6 cm/s", "--grain-size", "16 um",
                   "--grain-size-sd", "11")
    assert out["inputs"]["grain_size"] == {"value": pytest.approx(16.0), "stderr": pytest.approx(11.0), "unit": "um"}


# --- acceptance QA regressions: each bad input exits 2 with one line naming the flag/file.
GB = ["gb-step", "--d-bulk", "2.6e-8 cm^2/s", "--gradient", "1.1 1/cm"]
SERIES = ["series", "--d-bulk", "2.8e-8 cm^2/s", "--dgb-over-delta", "1.5e-6 cm/s", "--grain-size", "16 um"]
NE = ["nernst-einstein", "--temperature", "27 degC", "--carrier-density", "5e21 cm^-3"]


@pytest.mark.parametrize("args, fragment", [
    # C is a fraction in [0, 1]: a jump of 2 is impossible (was accepted, giving 1.43e-8 cm/s)
    ([*GB, "--step", "2"], "--step: the step in C must satisfy 0 < |step| <= 1"),
    # a step of 1e-320 made D*gb/delta overflow to inf (was printed as a number / null)
    ([*GB, "--step", "1e-320"], "overflows"),
    # errors name the flag, not the model's parameter name
    ([*GB, "--step", "0.02", "--thickness", "0 nm"], "--thickness: must be positive"),
    ([*SERIES[:2], "-2.8e-8 cm^2/s", *SERIES[3:]], "--d-bulk: must be positive"),
    # negative seed crashed numpy's default_rng with a traceback
    ([*SERIES, "--monte-carlo", "--seed", "-1"], "--seed: must be a non-negative integer"),
    # 1e11 samples would try to allocate ~3 TB
    ([*SERIES, "--monte-carlo", "--samples", "100000000000"], "--samples: must be between 100 and"),
    ([*NE, "--sigma", "0 S/cm"], "--sigma: must be positive"),
    (["nernst-einstein", "--sigma", "1e-3 S/cm", "--temperature", "0 K", "--carrier-density", "5e21 cm^-3"],
     "--temperature: must be positive (above absolute zero)"),
    ([*NE[:4], "-5e21 cm^-3", "--sigma", "1e-3 S/cm"], "--carrier-density: must be positive"),
])
def test_more_bad_model_input_gives_one_line_naming_the_flag(args, fragment):
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], res.stderr
    assert res.stdout == ""


def _no_nulls(obj):
    if isinstance(obj, dict):
        return all(_no_nulls(v) for v in obj.values())
    if isinstance(obj, list):
        return all(_no_nulls(v) for v in obj)
    return obj is not None


def test_json_has_no_null_placeholders_for_absent_results():
    # without --thickness there is no D*gb: the key is absent rather than null
    out = run_json(*GB, "--step", "0.02")
    assert "dgb" not in out and "thickness" not in out["inputs"] and _no_nulls(out)
    assert is_quantity(out["dgb_over_delta"])
    lin = run_json(*SERIES)
    assert "distribution" not in lin and _no_nulls(lin) and is_quantity(lin["d_eff"])


def test_haven_negative_conductivity_names_the_file(tmp_path):
    tracer = write_arrhenius_csv(tmp_path / "tracer.csv")
    sigma = tmp_path / "sigma.csv"
    sigma.write_text("temperature_C,sigma_S_cm\n22,1e-3\n100,-2e-2\n")
    res = runner.invoke(app, ["haven", "--tracer", str(tracer), "--conductivity", str(sigma),
                              "--carrier-density", "5e21 cm^-3"])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {sigma}: sigma must be positive in every row; data row 3 is not"


@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_unreadable_csv_says_why(tmp_path, kind):
    if kind == "directory":
        f = tmp_path / "folder.csv"
        f.mkdir()
        why = "it is a directory"
    else:
        f = tmp_path / "png.csv"
        f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
        why = "not UTF-8 text"
    res = runner.invoke(app, ["arrhenius", str(f)])
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and str(f) in lines[0] and why in lines[0]
    assert "Error:" not in lines[0]  # no Python exception class names in the message


def test_two_point_arrhenius_without_stderr_says_why_errors_are_missing(tmp_path):
    # two points fix Ea exactly (hand value: ln(D2/D1) kB / (1/T1 - 1/T2)) but leave no degrees of
    # freedom: stderr is JSON null; that must be explained on stderr, not left silent
    f = tmp_path / "two.csv"
    f.write_text("temperature_K,D_cm2_s\n300,1e-9\n400,1e-7\n")
    res = runner.invoke(app, ["arrhenius", str(f), "--json"])
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    expect = math.log(100.0) * KB / (1 / 300 - 1 / 400) / EV
    assert out["activation_energy"]["value"] == pytest.approx(expect, rel=1e-12)
    assert out["activation_energy"]["stderr"] is None and out["stderr_source"].startswith("unknown")
    assert res.stderr.startswith(f"warning: {f}: 2 points and no D_stderr column") and "no standard error" in res.stderr


def test_haven_without_common_temperatures_says_so(tmp_path):
    # tracer at 22/100/200/300 C, conductivity at other temperatures: the pointwise list is empty,
    # which used to pass silently
    tracer = write_arrhenius_csv(tmp_path / "tracer.csv")
    sigma = tmp_path / "sigma.csv"
    sigma.write_text("temperature_C,sigma_S_cm\n50,1e-3\n150,1e-2\n250,5e-2\n")
    res = runner.invoke(app, ["haven", "--tracer", str(tracer), "--conductivity", str(sigma),
                              "--carrier-density", "5e21 cm^-3", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["pointwise"] == []
    assert res.stderr.startswith("warning: no temperature appears in both")
