"""Large results: peak memory of passing one big array from step to step.

    python benchmarks/large_results.py [--size-mb 1024] [--ranks 1] [--json]

Two steps: ``make`` returns an array of the given size, ``use`` reads all of
it (a checksum over every element) and returns a small value. Each variant
runs in a fresh process (under ``mpiexec`` for ``--ranks`` > 1) and reports
the peak resident memory of every rank (``ru_maxrss``) above what that rank
held just before ``execute()``, divided by the array's size:

``numpy``
    ``@as_numpy_step``: the array is saved as ``.npy`` in ``make``'s output
    folder and ``use`` reads it memory-mapped. The goal: at most 1.1.
``pickle``
    ``@pipeline.step``: the array is pickled (a second copy in memory), then
    read, verified and unpickled by ``use`` (two more), for comparison.

The folder is on the disk (``EZPIPE_BENCH_DIR``, else the temp dir), not
tmpfs, so the files do not sit in memory themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "LARGE "


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(folder: str, size_mb: int, variant: str) -> None:
    """One run of the two steps; every rank prints its figures."""
    import numpy as np

    from ezpipe import Pipeline, as_numpy_step

    pipeline = Pipeline(folder, "large", echo=False, progress=False)
    decorate = as_numpy_step(pipeline) if variant == "numpy" else pipeline.step

    def make(n: int):
        array = np.empty(n, dtype=np.float64)
        array[:] = 1.0  # touch every page: the producer really holds the whole array
        return array

    def use(array) -> float:
        total = 0.0
        for start in range(0, len(array), 1 << 22):  # chunks: no temporary copy of it all
            total += float(array[start : start + (1 << 22)].sum())
        return total

    made = decorate(make)(size_mb * 2**20 // 8)
    used = pipeline.step(use)(made)
    before = current_mb()
    started = time.perf_counter()
    pipeline.execute()
    elapsed = time.perf_counter() - started
    grown = peak_mb() - before
    ok = pipeline.comm.rank != 0 or pipeline.get_result(used) == size_mb * 2**20 // 8
    record = {
        "variant": variant,
        "rank": pipeline.comm.rank,
        "size_mb": size_mb,
        "baseline_mb": round(before, 1),
        "peak_above_baseline_mb": round(grown, 1),
        "ratio": round(grown / size_mb, 3),
        "seconds": round(elapsed, 2),
        "correct": bool(ok),
    }
    print(MARK + json.dumps(record), flush=True)


def records(output: str) -> list[dict]:
    """Every rank's record; ranks print at once, so two may share a line."""
    decoder = json.JSONDecoder()
    out = []
    for chunk in output.split(MARK)[1:]:
        record, _ = decoder.raw_decode(chunk.lstrip())
        out.append(record)
    return out


def run_variant(size_mb: int, variant: str, ranks: int) -> list[dict]:
    base = Path(os.environ.get("EZPIPE_BENCH_DIR") or tempfile.gettempdir())
    folder = tempfile.mkdtemp(prefix=f"ezlarge-{variant}-", dir=base)
    try:
        cmd = [sys.executable, __file__, "--child", folder, str(size_mb), variant]
        if ranks > 1:
            cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), *cmd]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{variant} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return records(done.stdout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--variants", default="numpy,pickle")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    parser.add_argument("--child", nargs=3, metavar=("FOLDER", "SIZE_MB", "VARIANT"))
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return 0
    rows = []
    for variant in args.variants.split(","):
        rows += run_variant(args.size_mb, variant, args.ranks)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'variant':<8} {'rank':>4} {'size MB':>8} {'peak-base MB':>13} {'ratio':>6} {'s':>6}")
    for r in rows:
        print(
            f"{r['variant']:<8} {r['rank']:>4} {r['size_mb']:>8} "
            f"{r['peak_above_baseline_mb']:>13} {r['ratio']:>6} {r['seconds']:>6}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
