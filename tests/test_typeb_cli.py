"""`tracerdiff leclaire`: the JSON schema of issue 17, values in cm^3/s, segregation, errors."""

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from tracerdiff.cli import app
from tracerdiff.simulate.bicrystal import simulate_bicrystal

runner = CliRunner()
D, T, BETA = 1e-16, 1e5, 100  # m^2/s, s
ROOT = math.sqrt(D * T)
P_TRUE = 2 * BETA * D * ROOT + 0.5e-9 * D  # m^3/s


@pytest.fixture(scope="module")
def profile_csv(tmp_path_factory):
    r = simulate_bicrystal(d_bulk=D, p=P_TRUE, exchange_time=T, thickness=0.5e-9)
    y = np.linspace(0.2 * ROOT, r.y[-1] * 0.98, 150)
    c = np.exp(np.interp(y, r.y, np.log(r.c_mean)))
    path = tmp_path_factory.mktemp("typeb") / "profile.csv"
    np.savetxt(path, np.c_[y * 1e6, c], delimiter=",", header="x_um,C", comments="", fmt="%.17g")
    return path


def test_json_has_exactly_the_issue_keys(profile_csv, tmp_path):
    res = runner.invoke(app, ["leclaire", str(profile_csv), "--d-bulk", "1e-12 cm^2/s", "--time", "100000 s",
                              "--grain-size", "64 um", "--json", "--plot", str(tmp_path / "tail.png")])
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert set(out) == {"p", "sd_gb", "beta", "alpha", "regime", "tail"}
    assert set(out["tail"]) == {"y_min_um", "y_max_um"}
    assert out["p"]["unit"] == "cm^3/s" and out["sd_gb"] == out["p"]  # s = 1
    assert out["p"]["value"] == pytest.approx(P_TRUE * 1e6, rel=0.05)  # m^3/s -> cm^3/s
    assert out["beta"] == pytest.approx(BETA, rel=0.05)
    assert out["alpha"] == pytest.approx(0.5e-9 / (2 * ROOT), rel=1e-6)
    assert out["regime"] == "B"
    assert 0 < out["tail"]["y_min_um"] < out["tail"]["y_max_um"] <= 1e6 * ROOT * 112  # the meshed depth
    assert (tmp_path / "tail.png").stat().st_size > 0


def test_segregation_divides_p(profile_csv):
    res = runner.invoke(app, ["leclaire", str(profile_csv), "--d-bulk", "1e-12 cm^2/s", "--time", "100000s",
                              "--segregation", "4", "--json"])
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["sd_gb"]["value"] == pytest.approx(out["p"]["value"] / 4, rel=1e-12)


def test_fitted_bulk_and_instantaneous_flag(profile_csv):
    res = runner.invoke(app, ["leclaire", str(profile_csv), "--time", "100000s", "--json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["p"]["value"] == pytest.approx(P_TRUE * 1e6, rel=0.05)
    # the flag reaches the analysis: the instantaneous-source inversion of the same tail gives a
    # smaller P (measured 0.95x of the constant-source one on this profile)
    runs = {}
    for src in ("constant", "instantaneous"):
        res = runner.invoke(app, ["leclaire", str(profile_csv), "--time", "100000s", "--d-bulk", "1e-12 cm^2/s",
                                  "--source", src, "--json"])
        assert res.exit_code == 0, res.stderr
        runs[src] = json.loads(res.stdout)["p"]["value"]
    assert runs["instantaneous"] < 0.99 * runs["constant"]


@pytest.mark.parametrize("args,flag", [(["--time", "-1h"], "--time"), (["--time", "1h", "--source", "film"], "--source"),
                                       (["--time", "1h", "--d-bulk", "3 cm"], "--d-bulk"),
                                       (["--time", "1h", "--segregation", "0"], "--segregation")])
def test_bad_flags_give_one_line(profile_csv, args, flag):
    res = runner.invoke(app, ["leclaire", str(profile_csv)] + args)
    assert res.exit_code == 2
    assert flag in res.stderr and "Traceback" not in res.stderr


def test_missing_file_names_it(tmp_path):
    res = runner.invoke(app, ["leclaire", str(tmp_path / "none.csv"), "--time", "1h"])
    assert res.exit_code == 2 and "none.csv" in res.stderr
