"""W6 coordinator throughput: dispatches per second with trivial steps at 2, 4 and 8 ranks.

Four figures, from the coordinator alone to the whole run:

- ``coordinator``: Coordinator.report + assignments in one process, no MPI, no
  disk: the ceiling of rank 0's bookkeeping (workers simulated round-robin);
- ``MPI, no-op executor``: the real runner over MPI with each step's work
  replaced by an immediate "passed" (no cache check, no files): transport,
  polling and coordinator;
- ``ezpipe``: real no-op steps, persisted;
- ``mpi4py.futures``: MPIPoolExecutor.map of a no-op over as many workers as
  ezpipe has ranks (plus the master), nothing persisted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import child_args, emit, is_child, launch, table
from benchmarks.dagbench import SCRIPT as DAGBENCH
from benchmarks.workloads import noop

SCRIPT = Path(__file__).resolve()
RANKS = (2, 4, 8)
STEPS = 4000


def coordinator_only(n: int, workers: int) -> float:
    """Dispatches per second of the Coordinator alone."""
    import tempfile

    from ezpipe import Pipeline
    from ezpipe.engine.channels import STOP
    from ezpipe.engine.coordinator import Coordinator
    from ezpipe.events import Observer
    from ezpipe.plan import Plan, plan_modes
    from ezpipe.records import Mode, Status, StepOutcome

    pipeline = Pipeline(tempfile.mkdtemp(), echo=False)
    step = pipeline.step(name="s{i}")(noop)
    for i in range(n):
        step(i)
    frozen = pipeline.freeze()
    plan = Plan(pipeline.steps, frozen, *plan_modes(pipeline.steps, frozen, Mode.CACHED))
    coordinator = Coordinator(plan, list(range(workers)), Observer())
    passed = StepOutcome(status=Status.PASSED, duration=0.0)
    start = time.perf_counter()
    for rank in range(workers):
        coordinator.report(rank, [])
    while not coordinator.done:
        for rank, batch in coordinator.assignments():
            if batch != STOP:
                coordinator.report(rank, [passed] * len(batch))  # the worker answers at once
    return n / (time.perf_counter() - start)


def mpi_noop(n: int) -> None:
    """Child: the runner over MPI with every step's work replaced by 'passed'."""
    from ezpipe import Pipeline
    from ezpipe.engine import loop, sandbox
    from ezpipe.engine.comm import world
    from ezpipe.events import Observer
    from ezpipe.plan import Plan, plan_modes
    from ezpipe.records import Mode, Status, StepOutcome

    done = StepOutcome(status=Status.PASSED, duration=0.0)  # a no-op step's report, no record
    sandbox.StepExecutor.run = lambda self, index: done  # type: ignore[method-assign]
    comm = world()
    pipeline = Pipeline("/nonexistent-ezbench", echo=False, comm=comm)
    step = pipeline.step(name="s{i}")(noop)
    for i in range(n):
        step(i)
    frozen = pipeline.freeze()
    plan = Plan(pipeline.steps, frozen, *plan_modes(pipeline.steps, frozen, Mode.CACHED))
    comm.allgather(None)
    start = time.perf_counter()
    loop.run(plan, comm, pipeline.store, Observer(), Observer())
    seconds = time.perf_counter() - start
    if comm.rank == 0:
        emit(seconds=seconds)


def run() -> str:
    rows = []
    for ranks in RANKS:
        coord = coordinator_only(STEPS, ranks)
        bare = STEPS / launch(SCRIPT, "noop", STEPS, ranks=ranks)["seconds"]
        full = STEPS / launch(DAGBENCH, "ezpipe", "dag", "noop", STEPS, ranks=ranks)["seconds"]
        futures = (
            STEPS
            / launch(DAGBENCH, "futures", "noop", STEPS, ranks=ranks + 1, futures=True)["seconds"]
        )
        rows.append((ranks, coord, bare, full, futures, bare / futures, full / futures))
    headers = ["ranks", "coordinator /s", "MPI no-op executor /s", "ezpipe persisted /s",
               "futures /s", "no-op/futures", "persisted/futures"]  # fmt: skip
    return table(
        f"W6 dispatches per second, {STEPS} trivial steps (target >= 20,000/s at 4 ranks)",
        headers, rows,
    )  # fmt: skip


if __name__ == "__main__":
    if is_child():
        mpi_noop(int(child_args()[1]))
    else:
        print(run())
