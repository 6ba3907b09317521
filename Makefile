# Every target works from a fresh clone: the first one needing it builds .venv
# (MPI included, from the pip 'mpich' wheel); the stamp rebuilds it when
# pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
NP ?= 4
# The project's own single-node Slurm for the real-Slurm tests (root, Debian packages)
SLURM_LOCAL := tests/slurm/local
# the demo's folder belongs to this clone (and so to its user): a first `make demo`
# computes every step, whoever ran a demo elsewhere on this machine
DEMO_DIR ?= $(CURDIR)/.demo
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help venv demo test test-tools test-serial test-mpi test-slurm chaos lint format bench clean

help:
	@echo "make demo    set up .venv and run examples/demo.py under mpiexec -n $(NP)"
	@echo "make test    set up .venv and run the serial, MPI and real-Slurm test suites"
	@echo "make test-slurm  start the local Slurm (root), run tests/slurm, stop it"
	@echo "make chaos   the whole fault-injection suite in tests/chaos (make test runs its fast part)"
	@echo "make lint    ruff check and format check;  make format  to fix"
	@echo "make bench   run the benchmarks in benchmarks/"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mpiexec -n $(NP) $(PY) examples/demo.py $(DEMO_DIR)
	@echo; echo "== $(DEMO_DIR)/pipeline.summary"; cat $(DEMO_DIR)/pipeline.summary
	@echo; echo "next: $(BIN)/ezpipe status $(DEMO_DIR)   (docs/tutorial.md walks through the rest)"

# The Slurm leg runs only where it can (root, Debian packages); elsewhere `make test` says why
# in one line and skips it, unless EZPIPE_REQUIRE_SLURM=1 (.ci/run) makes that a failure.
test: test-serial test-mpi
	@$(MAKE) --no-print-directory test-slurm SLURM_OPTIONAL=1

# tests/e2e/test_report.py opens the HTML report in headless Chromium and
# tests/e2e/test_terminal.py drives a terminal with tmux: installed here (as root, from the
# Debian packages) when missing; the tests fail, never skip, without them.
test-tools:
	@missing=""; command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
		|| missing="chromium"; command -v tmux >/dev/null || missing="$$missing tmux"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -q && apt-get install -y -q $$missing; \
		else echo "make test: install$$missing (apt-get install -y$$missing)" >&2; exit 1; fi; \
	fi

test-serial: $(STAMP) test-tools
	$(PY) -m pytest -m "not mpi and not slurm" -p no:cacheprovider -q

test-mpi: $(STAMP)
	timeout 900 $(BIN)/mpiexec -n 4 $(PY) -m pytest --with-mpi -m mpi tests/mpi \
		-p no:cacheprovider -o timeout_method=thread --timeout=300 -q

# The fault-injection suite (kills, damaged entries, rank-divergent errors, a tiny full
# file system: root mounts a tmpfs). Its fast cases also run in test-serial.
chaos: $(STAMP)
	CHAOS_FULL=1 timeout 1800 $(PY) -m pytest tests/chaos -p no:cacheprovider -q --durations=10

# The session fixture in tests/slurm/conftest.py takes a machine-wide lock, starts the
# cluster ($(SLURM_LOCAL)/start-local-slurm.sh) and stops it at the end; the trap stops it too
# if pytest itself is killed (timeout), only if it gets the same lock: it never stops another
# checkout's session. Run directly, the target fails where the cluster cannot run.
SLURM_LOCK ?= /tmp/ezpipe-slurm-tests.lock
SLURM_OPTIONAL ?= 0
test-slurm: $(STAMP)
	@if ! why=$$(bash $(SLURM_LOCAL)/start-local-slurm.sh --check); then \
		if [ "$(SLURM_OPTIONAL)" = 1 ] && [ "$${EZPIPE_REQUIRE_SLURM:-0}" != 1 ]; then \
			echo "make test: SKIPPED the real-Slurm tests (tests/slurm): $$why"; exit 0; \
		fi; \
		echo "make test-slurm: FAILED: cannot run the real-Slurm tests: $$why" >&2; exit 1; \
	fi; \
	trap 'flock -n $(SLURM_LOCK) bash $(SLURM_LOCAL)/stop-local-slurm.sh >/dev/null 2>&1' EXIT; \
	set -x; EZPIPE_REQUIRE_SLURM=1 EZPIPE_SLURM_LOCK=$(SLURM_LOCK) timeout 900 \
		$(PY) -m pytest -m slurm tests/slurm -p no:cacheprovider --timeout=600 -q --durations=0

lint: $(STAMP)
	$(BIN)/ruff check ezpipe tests examples benchmarks
	$(BIN)/ruff format --check ezpipe tests examples benchmarks

format: $(STAMP)
	$(BIN)/ruff format ezpipe tests examples benchmarks
	$(BIN)/ruff check --fix ezpipe tests examples benchmarks

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
