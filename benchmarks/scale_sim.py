"""Beyond this machine: a million steps defined and frozen, and 1,000 workers on one coordinator.

    python benchmarks/scale_sim.py [--steps N ...] [--workers W] [--step-seconds S]

1. Define, freeze and dry-run sweeps of N steps (one function, an int argument,
   every tenth step fanning in ten others): seconds per step at each N (linear
   when the per-step figure stays flat) and the memory each step holds once
   frozen (tracemalloc; the user's own argument lists included).
2. The real :class:`Coordinator` on the wall clock, with W simulated workers
   whose steps take S seconds: each worker's step "ends" at its due time, the
   coordinator is told and hands out the next one; the busy fraction is the
   work done over W x the makespan. The transport is a heap of due times, so
   what is measured is the coordinator's own cost per dispatch.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import table


def sweep(n: int, folder: str):  # type: ignore[no-untyped-def]
    from ezpipe import Pipeline

    pipeline = Pipeline(folder, "scale", echo=False, progress=False)

    @pipeline.step(name="p{i}")
    def point(i, inputs=()):
        return i

    made = []
    for i in range(n):
        made.append(point(i, made[-10:] if i % 10 == 9 else ()))
    return pipeline


def define_and_freeze(n: int) -> tuple[float, float, float]:
    """(define s, freeze s, dry-run s) of an n-step sweep, on a new folder."""
    from ezpipe.plan import Plan, dry_run_rows

    folder = str(Path(tempfile.mkdtemp(prefix="ezscale-")) / "new")  # a folder not made yet
    gc.collect()
    start = time.perf_counter()
    pipeline = sweep(n, folder)
    defined = time.perf_counter()
    frozen = pipeline.freeze()
    froze = time.perf_counter()
    dry_run_rows(Plan.make(pipeline.steps, frozen, pipeline.options), pipeline.store)
    return defined - start, froze - defined, time.perf_counter() - froze


def bytes_per_frozen_step(n: int) -> float:
    """What each step holds once frozen (tracemalloc slows Python down: measured apart).

    A small sweep is frozen first, so that the modules a freeze imports (pandas,
    numpy: tens of MB) are not counted as the steps' memory."""
    sweep(100, tempfile.mkdtemp(prefix="ezscale-")).freeze()
    gc.collect()
    tracemalloc.start()
    pipeline = sweep(n, tempfile.mkdtemp(prefix="ezscale-"))
    pipeline.freeze()
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return held / n


def coordinator_busy(workers: int, step_seconds: float, steps: int) -> tuple[float, float]:
    """(busy fraction, dispatches per second) of the real coordinator on the wall clock."""
    from ezpipe import Pipeline
    from ezpipe.engine.channels import STOP
    from ezpipe.engine.coordinator import Coordinator
    from ezpipe.events import Observer
    from ezpipe.plan import Plan
    from ezpipe.records import Status, StepOutcome

    pipeline = Pipeline(tempfile.mkdtemp(prefix="ezscale-"), echo=False, progress=False)
    step = pipeline.step(name="s{i}")(lambda i: i)
    for i in range(steps):
        step(i)
    plan = Plan.make(pipeline.steps, pipeline.freeze(), pipeline.options)
    coordinator = Coordinator(plan, list(range(workers)), Observer())
    done = StepOutcome(status=Status.PASSED, duration=step_seconds)
    due: list[tuple[float, int, int]] = []  # (when the worker's batch ends, rank, size)
    start = time.perf_counter()
    for rank in range(workers):
        coordinator.report(rank, [])
    dispatched = 0
    while not coordinator.done:
        for rank, batch in coordinator.assignments():
            if batch != STOP:
                now = time.perf_counter()
                heapq.heappush(due, (now + step_seconds * len(batch), rank, len(batch)))
                dispatched += len(batch)
        if not due:
            continue
        when, rank, size = heapq.heappop(due)
        wait = when - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        coordinator.report(rank, [done] * size)
    makespan = time.perf_counter() - start
    return steps * step_seconds / (workers * makespan), dispatched / makespan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, nargs="*", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--step-seconds", type=float, default=0.05)
    args = parser.parse_args()
    rows = []
    held = bytes_per_frozen_step(100_000)
    for n in args.steps:
        define, freeze, dry = define_and_freeze(n)
        total = define + freeze + dry
        rows.append((n, define, freeze, dry, total, total / n * 1e6, held))
    print(
        table(
            "Define, freeze and dry-run a sweep (target: 1,000,000 steps in <= 40 s, linear; "
            "<= 1 KB per frozen step)",
            ["steps", "define s", "freeze s", "dry run s", "total s", "us/step", "bytes/step"],
            rows,
        )
    )
    steps = max(20 * args.workers, 2000)
    busy, rate = coordinator_busy(args.workers, args.step_seconds, steps)
    print(
        table(
            f"The coordinator with {args.workers} simulated workers, {args.step_seconds * 1000:.0f}"
            " ms steps (target busy >= 0.95)",
            ["workers", "steps", "busy fraction", "dispatches/s"],
            [(args.workers, steps, busy, rate)],
        )
    )


if __name__ == "__main__":
    main()
