"""``make bench``: every workload, one table each, ratios against baselines of the same run.

    python benchmarks/run_all.py [w1 w3 ...]      (all by default)

Takes about 5-8 minutes on the 2-core test machine. Set ``EZPIPE_BENCH_DIR`` to
measure on another file system than tmpfs (see docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine

WORKLOADS = {
    "w1": "benchmarks.w1_overhead",
    "w2": "benchmarks.w2_chain",
    "w3": "benchmarks.w3_forkjoin",
    "w4": "benchmarks.w4_dag",
    "w5": "benchmarks.w5_define",
    "w6": "benchmarks.w6_throughput",
}


def main(names: list[str]) -> None:
    print("## Machine\n")
    for key, value in machine().items():
        print(f"- {key}: {value}")
    for name in names or list(WORKLOADS):
        start = time.perf_counter()
        print(importlib.import_module(WORKLOADS[name]).run(), flush=True)
        print(f"\n({name} took {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
