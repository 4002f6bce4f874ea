"""A study with a type-B depth profile: schema entry, analysis, results.json and report section."""

import json
import math

import numpy as np
import pytest

from tracerdiff.errors import InputError
from tracerdiff.simulate.bicrystal import simulate_bicrystal
from tracerdiff.study.runner import run_study

D, T, BETA = 1e-16, 1e5, 100
ROOT = math.sqrt(D * T)
P_TRUE = 2 * BETA * D * ROOT + 0.5e-9 * D


def _write(folder, *, extra=""):
    r = simulate_bicrystal(d_bulk=D, p=P_TRUE, exchange_time=T, thickness=0.5e-9)
    y = np.linspace(0.2 * ROOT, r.y[-1] * 0.98, 150)
    c = np.exp(np.interp(y, r.y, np.log(r.c_mean)))
    np.savetxt(folder / "depth.csv", np.c_[y * 1e6, c], delimiter=",", header="x_um,C", comments="", fmt="%.17g")
    (folder / "study.toml").write_text(f"""
title = "type-B test"
[sample]
material = "oxide"
grain_size = "64 um"
gb_thickness = "0.5 nm"
li_density = "5e21 cm^-3"
[[steps]]
name = "anneal"
kind = "exchange"
temperature = "700 degC"
duration = "{T} s"
[[measurements.profiles]]
name = "depth1"
after = "anneal"
file = "depth.csv"
kind = "type_b"
d_bulk = "1e-12 cm^2/s"
{extra}
""")
    return folder / "study.toml"


def test_study_runs_the_type_b_analysis(tmp_path):
    study = _write(tmp_path)
    results = run_study(study, tmp_path / "out", quiet=True)
    entry = results["analyses"]["type_b"]["profiles"]["depth1"]
    assert entry["status"] == "done" and entry["warnings"] == []
    assert entry["fit"]["p"]["value"] == pytest.approx(P_TRUE * 1e6, rel=0.05)  # cm^3/s
    assert entry["fit"]["regime"] == "B"
    assert "depth.csv" in json.dumps(results["provenance"]["input_sha256"])
    html = (tmp_path / "out" / "report.html").read_text()
    assert "type-B (Whipple–Le Claire)" in html and "depth1" in html
    assert (tmp_path / "out" / "figures" / "type_b_depth1.png").is_file()
    assert (tmp_path / "out" / "tables" / "type_b_profiles.csv").is_file()


def test_unknown_key_in_profile_entry_is_refused(tmp_path):
    study = _write(tmp_path, extra='colour = "red"')
    with pytest.raises(InputError, match="colour"):
        run_study(study, tmp_path / "out", quiet=True)


def test_bad_profile_file_fails_before_analysis(tmp_path):
    study = _write(tmp_path)
    (tmp_path / "depth.csv").write_text("x_um,C\n1,2\n")
    with pytest.raises(InputError, match=r"measurements.profiles\[0\]"):
        run_study(study, tmp_path / "out", quiet=True)
    assert not (tmp_path / "out" / "results.json").exists()
