"""Every kind of failing step is contained at the rank counts e2e does not cover (2, 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e.test_mpiexec import EXPECTED, executions, parse_statuses
from helpers import SCRIPTS, run_script


@pytest.mark.chaos_full
@pytest.mark.parametrize("ranks", [2, 5])
def test_failures_at_more_rank_counts(tmp_path: Path, ranks: int) -> None:
    counts = tmp_path / "counts"
    counts.mkdir()
    done = run_script(SCRIPTS / "scenarios.py", str(tmp_path / "p"), str(counts), ranks=ranks)
    assert done.returncode == 0, done.stderr
    assert parse_statuses(done.stdout) == EXPECTED
    assert "RESULT 60" in done.stdout
    assert all(n == 1 for n in executions(counts).values())
