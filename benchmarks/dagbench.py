"""Child entry point shared by W1-W4: run one workload once and report.

python benchmarks/dagbench.py --child ezpipe POLICY WORKLOAD [PARAMS...]
mpiexec -n 5 python -m mpi4py.futures benchmarks/dagbench.py --child futures WORKLOAD [...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import child_args, cleanup, emit, fresh_folder
from benchmarks.workloads import build, run_ezpipe, run_futures

SCRIPT = Path(__file__).resolve()


def child(args: list[str]) -> None:
    engine, rest = args[0], args[1:]
    if engine == "futures":
        emit(**run_futures(build(*rest)))
        return
    from ezpipe.engine.comm import world

    comm = world()
    policy, work = rest[0], build(*rest[1:])
    folder = comm.bcast(fresh_folder(work.name) if comm.rank == 0 else None)
    try:
        figures = run_ezpipe(work, folder, policy)
    finally:
        comm.allgather(None)
        if comm.rank == 0:
            cleanup(folder)
    if comm.rank == 0:
        emit(ranks=comm.size, **figures)


if __name__ == "__main__":
    child(child_args())
