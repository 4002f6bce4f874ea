"""Packaging facts that must not drift: one version, the licence, the citation."""

import tomllib
from pathlib import Path

import tracerdiff

ROOT = Path(__file__).resolve().parents[1]


def test_version_single_sourced():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tracerdiff.__version__"}
    citation = (ROOT / "CITATION.cff").read_text()
    assert f"\nversion: {tracerdiff.__version__}\n" in citation


def test_licence_and_marker_files():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "src" / "tracerdiff" / "py.typed").exists()
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT"
    assert meta["project"]["requires-python"] == ">=3.11"


def test_vendor_readers_are_extras_not_hard_dependencies():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = {d.split(">=")[0].split("[")[0].strip().lower() for d in meta["project"]["dependencies"]}
    assert not names & {"pyspm", "pybif6", "sims", "impedance"}
    extras = meta["project"]["optional-dependencies"]
    assert {"iontof", "bif6", "cameca", "all"} <= set(extras)
