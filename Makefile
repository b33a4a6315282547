# psilon-bench: `make run` (the default experiment) and `make test` set everything up on a
# fresh clone: a .venv with the CPU build of torch 2.13.0, then the package with [dev].
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PSB    := $(BIN)/psilon-bench
ARGS   ?=
FULL   ?=

.DEFAULT_GOAL := help
.PHONY: help setup run test test-full bench lint format clean clean-results

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

setup: $(VENV)/.installed  ## create .venv and install torch==2.13.0 (CPU) and the package

run: setup  ## the default experiment: baseline MLP on breast_cancer, 3 seeds, CPU (ARGS=overrides)
	$(PSB) run $(ARGS)

test: setup  ## the fast test suite (pytest -m "not slow")
	$(BIN)/python -m pytest -q $(ARGS)

test-full: setup  ## every test, the slow end-to-end presets too
	$(BIN)/python -m pytest -q -m "slow or not slow" $(ARGS)

bench: setup  ## speed benchmarks (one torch thread); figures go into the README
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench.py $(ARGS)

lint: setup  ## ruff check + format check
	$(BIN)/ruff check psilon_bench tests benchmarks
	$(BIN)/ruff format --check psilon_bench tests benchmarks

format: setup  ## ruff format + autofix
	$(BIN)/ruff check --fix psilon_bench tests benchmarks
	$(BIN)/ruff format psilon_bench tests benchmarks

clean:  ## remove the venv, build files and caches (keeps every result under results/)
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache

clean-results:  ## remove the run folders (results/runs, results/multirun); keeps results/<protocol>/
	rm -rf results/runs results/multirun
