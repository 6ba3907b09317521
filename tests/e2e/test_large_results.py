"""A large numpy result passes from step to step with peak memory at most 1.1 x its size."""

from __future__ import annotations

import json
import sys

import pytest
from helpers import ROOT, run_command


@pytest.mark.parametrize("ranks", [1, 2])
def test_a_numpy_result_is_passed_memory_mapped(ranks):
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "large_results.py"),
        "--size-mb",
        "256",
        "--ranks",
        str(ranks),
        "--variants",
        "numpy,pickle",
        "--json",
    ]
    done = run_command(cmd, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    numpy_rows = [r for r in rows if r["variant"] == "numpy"]
    pickle_rows = [r for r in rows if r["variant"] == "pickle"]
    assert len(numpy_rows) == ranks and all(r["correct"] for r in rows)
    assert max(r["ratio"] for r in numpy_rows) <= 1.1, numpy_rows
    # the measurement can see the difference: pickling needs at least a second copy
    assert max(r["ratio"] for r in pickle_rows) >= 1.8, pickle_rows
