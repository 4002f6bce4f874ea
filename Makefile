# Quick start: `make demo` and `make test` each create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-output

.PHONY: demo test lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/tracerdiff demo --out $(DEMO_OUT)

# The report's browser test needs chromium: installed when missing (root or sudo), else skipped with the reason.
test: $(VENV)/.installed-test
	@.ci/install-browser
	$(BIN)/python -m pytest

# Copied code: pylint's duplicate-code check (R0801) over src/, six lines or more
# (comments, docstrings, imports and signatures are not counted, pylint's defaults).
lint: $(VENV)/.installed-test
	$(BIN)/python -m pylint --disable=all --enable=R0801 --min-similarity-lines=6 --score=n src/tracerdiff

$(VENV)/.installed-docs: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $@ $(VENV)/.installed

# Warnings are errors: a broken docstring or cross-reference fails the build.
docs: $(VENV)/.installed-docs
	rm -rf docs/_build
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_OUT) build src/*.egg-info docs/_build docs/_generated
