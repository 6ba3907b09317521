"""W5 define + freeze: 10,000 / 30,000 / 100,000 steps, time and memory.

Each size runs in a fresh process (peak RSS is per process). Steps take an
integer and an upstream step (a fan of 100 roots), the common sweep shape.
Linearity is the per-step time of each size against the 10,000-step run.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import emit, is_child, launch, table

SIZES = (10_000, 30_000, 100_000)
SCRIPT = Path(__file__).resolve()


def child(n: int) -> None:
    from ezpipe import Pipeline

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pipeline = Pipeline(tempfile.mkdtemp(), "w5", echo=False)

    @pipeline.step(name="s{i}")
    def f(i, upstream=None):
        return i

    start = time.perf_counter()
    roots = [f(i) for i in range(100)]
    for i in range(100, n):
        f(i, roots[i % 100])
    defined = time.perf_counter()
    pipeline.freeze()
    frozen = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    emit(define=defined - start, freeze=frozen - defined, rss_mb=(peak - before) / 1024)


def run() -> str:
    rows = []
    base = None
    for n in SIZES:
        r = launch(SCRIPT, n, timeout=600)
        total = r["define"] + r["freeze"]
        per_step = total / n
        base = base or per_step
        rows.append((n, r["define"], r["freeze"], total, per_step * 1e6, per_step / base,
                     r["rss_mb"], r["rss_mb"] * 1024 / n))  # fmt: skip
    headers = ["steps", "define s", "freeze s", "total s", "us/step", "us/step vs 10k",
               "memory MB", "KB/step"]  # fmt: skip
    return table("W5 define + freeze (target: 100,000 steps <= 5 s, linear)", headers, rows)


if __name__ == "__main__":
    if is_child():
        child(int(sys.argv[2]))
    else:
        print(run())
