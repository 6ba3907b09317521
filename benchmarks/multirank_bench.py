"""Multi-rank steps at 8 ranks: a mixed workload, the alternative of today, sub-communicators.

    python benchmarks/multirank_bench.py        (about 2-3 minutes on the 2-core machine)

The workload: 4 steps of 2 ranks, 2 of 4 ranks and 1 of 8 ranks whose ranks
sleep and meet in collectives (``comm.barrier`` and ``comm.allreduce`` between
sleeps), mixed with 24 one-rank sleeps. The machine has 2 cores, so every step
sleeps: the figures measure scheduling and launching, not arithmetic.

* **ezpipe**: one ``mpiexec -n 8``; each k-rank step runs on a sub-communicator
  made from the world. Makespan = wall time of ``execute()`` on rank 0.
* **mpiexec per step**: what users do today: a pool of 8 rank slots in one
  driver; each k-rank step is launched as its own ``mpiexec -n k python step.py``
  when k slots are free, each 1-rank sleep runs in a pool thread. Makespan =
  the pool's wall time.

Efficiency = max(critical path, rank-seconds / ranks) / makespan. Also the cost
of making and freeing a ``k``-rank sub-communicator (``MPI_Comm_create_group``)
in an 8-rank world, k = 2..8.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import BIN, child_args, cleanup, emit, fresh_folder, is_child, launch, table

RANKS = 8
SLEEP = 1.0  # seconds of each multi-rank step, in MEETINGS parts with a collective between
MEETINGS = 4
ONE_RANK = [0.5] * 24
GANGS = [2, 2, 2, 2, 4, 4, 8]


def bound() -> float:
    rank_seconds = sum(k * SLEEP for k in GANGS) + sum(ONE_RANK)
    return max(SLEEP, max(ONE_RANK), rank_seconds / RANKS)


# -- children -------------------------------------------------------------------------------------
def child_ezpipe(folder: str) -> None:
    from ezpipe import Pipeline

    pipeline = Pipeline(folder, echo=False, progress=False)

    def meet(seconds: float, comm) -> int:
        total = 0
        for _ in range(MEETINGS):
            time.sleep(seconds / MEETINGS)
            total += comm.allreduce(1)
        comm.barrier()
        return total

    for k in sorted(set(GANGS)):
        step = pipeline.step(name=f"gang{k}_{{i}}", ranks=k)(
            lambda i, seconds, comm: meet(seconds, comm)
        )
        for i in range(GANGS.count(k)):
            step(i, SLEEP)
    nap = pipeline.step(name="nap{i}")(lambda i, seconds: time.sleep(seconds) or i)
    for i, seconds in enumerate(ONE_RANK):
        nap(i, seconds)
    pipeline.initialize_schema()
    pipeline.comm.allgather(None)
    start = time.perf_counter()
    pipeline.execute()
    seconds = time.perf_counter() - start
    if pipeline.comm.rank == 0:
        failed = [s.name for s in pipeline.steps if int(s.status) != 0]
        emit(seconds=seconds, failed=failed)


def child_gang_step() -> None:
    """One k-rank step on its own: the body of the mpiexec-per-step alternative."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    for _ in range(MEETINGS):
        time.sleep(SLEEP / MEETINGS)
        comm.allreduce(1)
    comm.barrier()


def child_subcomm(repeats: str) -> None:
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    out = {}
    for k in range(2, world.size + 1):
        members = list(range(k))
        world.barrier()
        start = time.perf_counter()
        if world.rank in members:
            for i in range(int(repeats)):
                group = world.Get_group().Incl(members)
                sub = world.Create_group(group, tag=i + 1)
                group.Free()
                sub.Free()
        elapsed = time.perf_counter() - start
        times = world.gather(elapsed if world.rank in members else 0.0)
        if world.rank == 0:
            out[str(k)] = max(times) / int(repeats)
    if world.rank == 0:
        emit(per_k=out)


# -- the alternative: a pool launching mpiexec per multi-rank step -----------------------------
def pool_makespan() -> float:
    """Greedy list scheduling over 8 rank slots, gangs first (as ezpipe's priority does)."""
    jobs = [("gang", k) for k in sorted(GANGS, reverse=True)] + [("one", s) for s in ONE_RANK]
    free = [RANKS]
    lock = threading.Condition()
    threads = []

    def run(kind: str, size: float) -> None:
        if kind == "gang":
            cmd = [str(BIN / "mpiexec"), "-n", str(int(size)), sys.executable, __file__]
            subprocess.run([*cmd, "--child", "gangstep"], check=True, capture_output=True)
        else:
            time.sleep(size)
        with lock:
            free[0] += int(size) if kind == "gang" else 1
            lock.notify_all()

    start = time.perf_counter()
    for kind, size in jobs:
        need = int(size) if kind == "gang" else 1
        with lock:
            lock.wait_for(lambda n=need: free[0] >= n)
            free[0] -= need
        thread = threading.Thread(target=run, args=(kind, size))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def run() -> str:
    folder = fresh_folder("multirank")
    try:
        ez = launch(__file__, "ezpipe", folder, ranks=RANKS, timeout=600)
    finally:
        cleanup(folder)
    assert not ez["failed"], ez["failed"]
    pool = pool_makespan()
    low = bound()
    rows = [
        ("ezpipe, sub-communicators (one mpiexec -n 8)", ez["seconds"], low / ez["seconds"]),
        ("pool of 8 slots, mpiexec -n k per multi-rank step", pool, low / pool),
    ]
    first = table(
        f"Mixed 2/4/8-rank and 1-rank sleeps at {RANKS} ranks: bound {low:.2f} s "
        "(target efficiency >= 0.90 and ahead of mpiexec per step)",
        ["engine", "makespan s", "efficiency"],
        rows,
    )
    sub = launch(__file__, "subcomm", 50, ranks=RANKS, timeout=600)["per_k"]
    second = table(
        f"Making and freeing a k-rank sub-communicator in a {RANKS}-rank world (mean of 50)",
        ["k", "ms per create_group + free"],
        [(k, v * 1000) for k, v in sub.items()],
    )
    return f"{first}\n{second}"


if __name__ == "__main__":
    if is_child():
        what, *rest = child_args()
        if what == "ezpipe":
            child_ezpipe(*rest)
        elif what == "gangstep":
            child_gang_step()
        else:
            child_subcomm(*rest)
    else:
        print(run())
