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
# start-local-slurm.sh / stop-local-slurm.sh: beside the clone in CI (../shared)
SLURM_SCRIPTS ?= ../shared/slurm
DEMO_DIR ?= /tmp/ezpipe-demo
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help venv demo test test-serial test-mpi test-slurm chaos lint format bench clean

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

test: test-serial test-mpi test-slurm

test-serial: $(STAMP)
	$(PY) -m pytest -m "not mpi and not slurm" -p no:cacheprovider -q

test-mpi: $(STAMP)
	timeout 900 $(BIN)/mpiexec -n 4 $(PY) -m pytest --with-mpi -m mpi tests/mpi \
		-p no:cacheprovider -o timeout_method=thread --timeout=300 -q

# The fault-injection suite (kills, damaged entries, rank-divergent errors, a tiny full
# file system: root mounts a tmpfs). Its fast cases also run in test-serial.
chaos: $(STAMP)
	CHAOS_FULL=1 timeout 1800 $(PY) -m pytest tests/chaos -p no:cacheprovider -q --durations=10

# The session fixture in tests/slurm/conftest.py takes a machine-wide lock, starts the
# cluster and stops it at the end; the trap stops it too if pytest itself is killed
# (timeout), only if it gets the same lock: it never stops another checkout's session.
SLURM_LOCK ?= /tmp/ezpipe-slurm-tests.lock
test-slurm: $(STAMP)
	trap 'flock -n $(SLURM_LOCK) bash $(SLURM_SCRIPTS)/stop-local-slurm.sh >/dev/null 2>&1' EXIT; \
	EZPIPE_SLURM_LOCK=$(SLURM_LOCK) \
	EZPIPE_SLURM_SCRIPTS=$(abspath $(SLURM_SCRIPTS)) timeout 900 $(PY) -m pytest -m slurm \
		tests/slurm -p no:cacheprovider --timeout=600 -q --durations=0

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
