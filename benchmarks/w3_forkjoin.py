"""W3 fork-join imbalance: 40 sleeps (36 x 0.05 s, 4 x 0.5 s) at 4 ranks.

The four long sleeps sit where round-robin deals them all to one rank, which
is what the reference's static scatter does (efficiency 0.40 measured there).
Efficiency = max(longest, total / ranks) / makespan, makespan being the wall
time of ``execute()`` (summary included) or of the futures run (nothing saved).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import best_of, launch, table
from benchmarks.dagbench import SCRIPT
from benchmarks.workloads import Workload, build

RANKS = 4
REPEATS = 3


def compare(work: Workload, params: tuple[str, ...], title: str, target: float) -> str:
    bound = work.lower_bound(RANKS)
    runs = {
        policy: best_of(
            REPEATS, lambda p=policy: launch(SCRIPT, "ezpipe", p, *params, ranks=RANKS), "seconds"
        )
        for policy in ("dag", "phase", "static")
    }
    runs["mpi4py.futures (4 workers + master)"] = best_of(
        REPEATS, lambda: launch(SCRIPT, "futures", *params, ranks=RANKS + 1, futures=True),
        "seconds",
    )  # fmt: skip
    dag = runs["dag"]["seconds"]
    rows = [
        (
            name,
            r["seconds"],
            bound / r["seconds"],
            r["seconds"] / dag,
            str(r.get("ranks_used", "-")),
        )
        for name, r in runs.items()
    ]
    headers = ["engine / policy", "makespan s", "efficiency", "makespan / dag", "ranks computing"]
    return table(
        f"{title} at {RANKS} ranks: bound {bound:.3f} s (target efficiency >= {target}, "
        f"best of {REPEATS})", headers, rows,
    )  # fmt: skip


def run() -> str:
    return compare(build("forkjoin"), ("forkjoin",), "W3 fork-join of 40 sleeps", 0.97)


if __name__ == "__main__":
    print(run())
