# The template's own commands. `make demo` and `make test` are all a fresh machine needs
# (Python 3.11+, make and git): uv is bootstrapped into .tools/ on first use.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
TOOLS := $(CURDIR)/.tools
UV := $(TOOLS)/bin/uv
UV_SPEC := uv>=0.9,<0.14
DEMO := build/demo
# Interpreters are never downloaded. Python caches bytecode as it imports (a cold import of
# scikit-learn without it takes seconds), so a PYTHONDONTWRITEBYTECODE from the caller is dropped.
export UV_PYTHON_DOWNLOADS := never
unexport PYTHONDONTWRITEBYTECODE
# bake and demo serve this checkout's library on an index of their own; the tests set theirs in-process
unexport UV_INDEX
export UV := $(UV)
# Tests run in parallel; FAST=1 bakes fewer combinations and runs one project end to end.
PYTEST_ARGS ?= -n auto --maxschedchunk=1
BENCH_ARGS ?=

OUT ?=
ARGS ?=

.PHONY: help install demo bake test test-fast bench lint lock clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "$(UV_SPEC)"

install: $(UV) ## the template's dev environment (.venv, from uv.lock)
	$(UV) sync --locked

demo: install ## bake the defaults into build/demo, install it, run its whole pipeline, show bundle and metrics
	$(UV) run --locked python tests/localindex.py bake $(DEMO)
	$(MAKE) -C $(DEMO) pipeline report
	@echo "Bundle: $$(ls -d $(CURDIR)/$(DEMO)/dist/*/)"

# ARGS reaches the script whole, through the environment: answers may hold spaces, quotes or commas
bake: export BAKE_ANSWERS = $(ARGS)
bake: install ## bake OUT=<dir> with ARGS="key=value ..." and install it against this checkout's library (a local index)
	@test -n "$(OUT)" || { echo 'set OUT, e.g. make bake OUT=build/try ARGS="task=regression model=lightgbm"' >&2; exit 2; }
	$(UV) run --locked python tests/localindex.py bake "$(OUT)"

test: install ## the whole suite: the library's tests, then the template's (bakes, hooks, generated pipelines, workflows under act)
	cd library && $(UV) run --locked --project .. pytest $(PYTEST_ARGS) --durations=10
	$(UV) run --locked pytest $(PYTEST_ARGS)

test-fast: install ## a quicker subset for local runs (the template's tests only)
	FAST=1 $(UV) run --locked pytest $(PYTEST_ARGS)

bench: install ## bake each model option and measure: docs/benchmarks.md (BENCH_ARGS=--full adds 10M rows, a 1M-row retrain and the Dask engine, --dask the Dask engine, --http-only serving only, --only loop|scoring|dask that section only, --quick small sizes)
	$(UV) run --locked python bench/run.py $(BENCH_ARGS)

lint: install ## ruff on the library, hooks, tests and bench; mypy on the library
	$(UV) run --locked ruff check hooks tests bench
	$(UV) run --locked ruff format --check hooks tests bench
	cd library && $(UV) run --locked --project .. ruff check src tests && $(UV) run --locked --project .. ruff format --check src tests
	cd library && $(UV) run --locked --project .. mypy

lock: install ## re-lock the generated project's uv.lock, with this checkout's library as the public index will serve it
	$(UV) run --locked python tests/localindex.py lock
	@git diff --stat -- '{{cookiecutter.project_slug}}/uv.lock' 2>/dev/null || true

clean: ## remove build output and caches (keeps .tools and .venv)
	rm -rf build .pytest_cache .ruff_cache
