"""W2 chain: 200 no-op steps, each depending on the previous one.

Nothing can run in parallel, so this is the latency of one hand-off: the
worker persists, reports, the coordinator releases the next step, a worker
loads its input. Compared with ``static`` and with MPIPoolExecutor submitting
each task when the previous one returned.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import launch, table
from benchmarks.dagbench import SCRIPT

N = 200


def run() -> str:
    futures = launch(SCRIPT, "futures", "chain", N, ranks=5, futures=True)["seconds"] / N
    rows = []
    for ranks in (1, 4):
        ms = {
            policy: launch(SCRIPT, "ezpipe", policy, "chain", N, ranks=ranks)["seconds"] / N
            for policy in ("dag", "static")
        }
        rows.append(
            (ranks, ms["dag"] * 1e3, ms["static"] * 1e3, ms["static"] / ms["dag"],
             futures * 1e3, futures / ms["dag"])
        )  # fmt: skip
    headers = ["ranks", "dag ms/step", "static ms/step", "static/dag",
               "futures ms/task (4 workers)", "futures/dag"]  # fmt: skip
    return table(f"W2 chain of {N} no-op steps", headers, rows)


if __name__ == "__main__":
    print(run())
