"""Sphinx configuration for tracerdiff's documentation (built by ``make docs``, warnings as errors)."""

import contextlib
import io
import runpy
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# numpydoc parses third-party docstrings it meets (uncertainties.ufloat) and complains in Python
# warnings about their layout; those are not ours to fix and are not Sphinx warnings.
warnings.filterwarnings("ignore", message="(potentially wrong underline|Unknown section)", category=UserWarning)

import tracerdiff  # noqa: E402

HERE = Path(__file__).resolve().parent

project = "tracerdiff"
author = "tracerdiff developers"
copyright = "2026, the tracerdiff developers"
release = version = tracerdiff.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
]
autodoc_default_options = {"show-inheritance": False}
# Docstrings write |x| for absolute values; only our own pages define substitutions.
numpydoc_validation_checks: set = set()
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
exclude_patterns = ["_build"]
html_theme = "alabaster"


def _run_examples():
    """Execute each example script so the pages show real output, not pasted text."""
    out_dir = HERE / "_generated"
    out_dir.mkdir(exist_ok=True)
    for script in sorted((HERE / "examples").glob("*.py")):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            runpy.run_path(str(script), run_name="__main__")
        (out_dir / f"{script.stem}.txt").write_text(buf.getvalue())


_run_examples()
sys.path.insert(0, str(HERE))

# Docstrings write |x| for a magnitude; docutils would read it as a substitution. Define the
# ones the public docstrings use so they render as written.
rst_prolog = "\n".join(f".. |{name}| replace:: \\|{name}\\|" for name in ("n.e", "n . e", "Z", "cos", "step"))
