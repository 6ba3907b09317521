"""``make bench``: every benchmark, one table each, ratios against baselines of the same run.

    python benchmarks/run_all.py [w1 w3 handoff store ...]      (all by default)

W1-W6 and the hand-off and multi-rank benchmarks run in this process (each
launches its own ranks); the store, CLI, scale and large-result benchmarks run
as scripts with their default sizes (large results at 256 MiB here; pass
``--size-mb 1024`` to the script for the issue's figure). Takes 15-25 minutes
on the 2-core test machine. Set ``EZPIPE_BENCH_DIR`` to measure on another
file system than tmpfs (see docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
import subprocess
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
    "handoff": "benchmarks.handoff",
    "multirank": "benchmarks.multirank_bench",
}
SCRIPTS = {  # name -> the script and its arguments
    "store": ["store_bench.py"],
    "cli": ["cli_bench.py"],
    "scale": ["scale_sim.py"],
    "rerun": ["rerun_bench.py"],
    "large": ["large_results.py", "--size-mb", "256"],
}
HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> None:
    print("## Machine\n")
    for key, value in machine().items():
        print(f"- {key}: {value}")
    for name in names or [*WORKLOADS, *SCRIPTS]:
        start = time.perf_counter()
        if name in SCRIPTS:
            script, *args = SCRIPTS[name]
            subprocess.run([sys.executable, str(HERE / script), *args], check=False)
        else:
            print(importlib.import_module(WORKLOADS[name]).run(), flush=True)
        print(f"\n({name} took {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
