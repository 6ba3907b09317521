"""W1 overhead: 1,000 and 10,000 no-op steps at 1 and 4 ranks, results persisted.

Per-step wall time of ``execute()`` (summary files included) under the default
``dag`` policy, next to the ``static`` baseline and to MPIPoolExecutor running
the same no-op tasks on 4 workers (plus its master, nothing persisted).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import launch, table
from benchmarks.dagbench import SCRIPT

SIZES = (1000, 10000)
RANKS = (1, 4)


def run() -> str:
    rows = []
    for n in SIZES:
        futures = launch(SCRIPT, "futures", "noop", n, ranks=5, futures=True)["seconds"] / n
        for ranks in RANKS:
            ms = {
                policy: launch(SCRIPT, "ezpipe", policy, "noop", n, ranks=ranks)["seconds"] / n
                for policy in ("dag", "static")
            }
            rows.append(
                (n, ranks, ms["dag"] * 1e3, ms["static"] * 1e3, ms["static"] / ms["dag"],
                 futures * 1e3, futures / ms["dag"])
            )  # fmt: skip
    headers = ["steps", "ranks", "dag ms/step", "static ms/step", "static/dag",
               "futures ms/task (4 workers, not persisted)", "futures/dag"]  # fmt: skip
    return table("W1 overhead: no-op steps, persisted (target <= 0.5 ms/step at 4 ranks)",
                 headers, rows)  # fmt: skip


if __name__ == "__main__":
    print(run())
