"""Scripts run as users run them: python, and mpiexec at several rank counts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import ROOT, SCRIPTS, run_script

EXPECTED = {
    **{f"source{'' if i == 0 else f'.{i}'}": 0 for i in range(6)},
    **{f"square{'' if i == 0 else f'.{i}'}": 0 for i in range(6)},
    "total": 0,
    "total.1": 0,
    "explode": 1,
    "leave": 1,
    "unpicklable": 1,
    "after_bad": 2,
    "after_bad.1": 2,
    "after_bad.2": 2,
    "after_bad.3": 2,
}


@pytest.mark.parametrize("ranks", [1, 2, 4, 8])
def test_reference_example(tmp_path, ranks):
    done = run_script(ROOT / "examples" / "simple.py", str(tmp_path), ranks=ranks)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Pipeline result for gamma: 1.125") == ranks
    for name in ("alpha", "beta", "gamma"):
        assert done.stdout.count(f"[PASS] '{name}'") == 1
    summary = (tmp_path / "pipeline.summary").read_text()
    assert summary.startswith(f"Pipeline Completed @ {tmp_path}")
    assert (tmp_path / "pipeline.schema").is_file()


def parse_statuses(stdout: str) -> dict[str, int]:
    line = next(line for line in stdout.splitlines() if line.startswith("STATUSES "))
    return dict(ast.literal_eval(line.removeprefix("STATUSES ")))


def executions(count_dir: Path) -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in count_dir.iterdir()}


@pytest.mark.parametrize("ranks", [1, 3, 4, 8])
def test_failures_at_every_rank_count(tmp_path, ranks):
    counts = tmp_path / "counts"
    counts.mkdir()
    done = run_script(SCRIPTS / "scenarios.py", str(tmp_path / "p"), str(counts), ranks=ranks)
    assert done.returncode == 0, done.stderr
    assert parse_statuses(done.stdout) == EXPECTED
    assert "RESULT 60" in done.stdout  # 0+1+4+9+16+25 = 55, plus source 5
    ran = executions(counts)
    assert all(n == 1 for n in ran.values()), ran  # nothing ran twice
    assert "after_bad" not in ran  # every dependent of a failure was skipped
    assert set(ran) == {f"source{i}" for i in range(6)} | {f"square{i}" for i in range(6)} | {
        "total6",
        "total2",
        "explode",
        "leave",
        "unpicklable",
    }
    # a second run computes nothing, failures included (mode 'cached')
    again = run_script(SCRIPTS / "scenarios.py", str(tmp_path / "p"), str(counts), ranks=ranks)
    assert parse_statuses(again.stdout) == EXPECTED
    assert executions(counts) == ran


def test_diverging_ranks_are_refused_everywhere(tmp_path):
    done = run_script(SCRIPTS / "diverge.py", str(tmp_path), ranks=3, timeout=60)
    assert done.returncode != 0
    assert done.stdout.count("REFUSED on rank") == 3
    assert "ranks built different pipelines" in done.stdout
    assert not (tmp_path / "pipeline.schema").exists()


@pytest.mark.parametrize("ranks", [1, 4])
def test_os_exit_in_a_step_is_a_step_failure(tmp_path, ranks):
    done = run_script(SCRIPTS / "die.py", str(tmp_path), "exit", ranks=ranks, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "STATUS 1 11" in done.stdout
    assert "[FAIL] 'work.5': StepExit: the step called os._exit(0)" in done.stdout


def test_a_killed_rank_ends_the_job(tmp_path):
    done = run_script(SCRIPTS / "die.py", str(tmp_path), "kill", ranks=4, timeout=90)
    assert done.returncode != 0
    assert "BAD TERMINATION" in done.stdout + done.stderr
    assert not (tmp_path / "pipeline.summary").exists()


def test_demo_runs(tmp_path):
    done = run_script(ROOT / "examples" / "demo.py", str(tmp_path), ranks=4)
    assert done.returncode == 0, done.stderr
    assert "8 simulations, mean 0.4812" in done.stdout


def test_runs_without_mpi4py(tmp_path):
    done = run_script(SCRIPTS / "no_mpi.py", str(ROOT / "examples" / "simple.py"), str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "Pipeline result for gamma: 1.125" in done.stdout
    assert "NO MPI4PY IMPORTED" in done.stdout
