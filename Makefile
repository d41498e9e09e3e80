# diarflow: `make demo` runs the sample episode; `make test` runs lint, types and tests.
# Both create .venv and install everything they need on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
EXTRAS ?= dev
STAMP := $(VENV)/.installed-$(EXTRAS)
DEMO_STORE ?= ./diarflow-data
# Debian's Chromium, which the report's browser tests drive with Playwright (never `playwright install`).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup demo test lint typecheck unit bench clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

demo: setup
	$(BIN)/diarflow demo --store $(DEMO_STORE)

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

browser:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

unit: setup browser
	$(BIN)/pytest

test: lint typecheck unit

bench: setup browser
	$(PY) benchmarks/bench_enrich.py
	$(PY) benchmarks/bench_report.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist src/*.egg-info
