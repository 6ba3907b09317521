"""W4 DAG: 8 layers x 12 sleeps of 0.01-0.3 s (seed 7), edges across layers, 4 ranks.

Efficiency against max(critical path, total / ranks). Barriers cost here even
with perfect balance inside a phase; the ``dag`` policy has none and starts
the step with the longest chain below it first.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.w3_forkjoin import compare
from benchmarks.workloads import build


def run() -> str:
    work = build("dag")
    title = f"W4 layered random DAG of {len(work.deps)} sleeps (total {sum(work.durations):.1f} s)"
    return compare(work, ("dag",), title, 0.90)


if __name__ == "__main__":
    print(run())
