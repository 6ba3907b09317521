"""Multi-rank steps under mpiexec: ``multirank.py FOLDER SCENARIO [N]``.

Scenarios: ``mix`` (2- and 4-rank steps whose ranks meet in collectives, with
1-rank steps downstream), ``many N`` (N two-rank steps: communicators are freed),
``raise`` (rank 1 of a 4-rank step raises while the others sit in Allreduce),
``stuck`` (rank 1 raises while rank 0 sits in the raw mpi4py Allreduce),
``stuck0`` (the step's rank 0 raises while ranks 1-3 sit in the raw Allreduce),
``deadline`` (a 1-rank and a 2-rank step past their timeout), ``big`` (a step
needing more ranks than the job has), ``single`` (a ranks=1 step's comm),
``place`` (GPU, memory and thread requests, for pretend nodes). Prints one JSON
line of statuses on rank 0.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

import numpy as np

from ezpipe import Pipeline, gpu_ids

folder, scenario = sys.argv[1], sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 0
pipeline = Pipeline(folder, echo=False, progress=False)


@pipeline.step(ranks=2)
def pair(i, comm):
    return comm.allreduce(i + comm.rank)


@pipeline.step(ranks=4, name="quad{i}")
def quad(i, comm):
    print(f"rank {comm.rank} of {comm.size} on {socket.gethostname()}")
    buf = np.array([float(comm.rank)])
    out = np.zeros(1)
    comm.Allreduce(buf, out)
    where = comm.allgather((comm.node, comm.local_rank))
    return {
        "sum": float(out[0]),
        "size": comm.size,
        "mpi": comm.mpi.Get_size(),
        "i": i,
        "where": where,
    }


@pipeline.step
def total(xs):
    return sum(x if isinstance(x, int) else x["sum"] for x in xs)


@pipeline.step(ranks=4, name="boom")
def boom(comm):
    if comm.rank == 1:
        time.sleep(0.3)
        raise ValueError("rank 1 cannot go on")
    buf, out = np.ones(1), np.zeros(1)
    comm.Allreduce(buf, out)
    return 1


@pipeline.step(ranks=2, name="wedged")
def wedged(comm):
    if comm.rank == 1:
        time.sleep(0.3)
        raise ValueError("rank 1 cannot go on")
    buf, out = np.ones(1), np.zeros(1)
    comm.mpi.Allreduce(buf, out)  # the raw communicator: cannot be left
    return 1


@pipeline.step(ranks=4, name="wedged")
def wedged_leader(comm):
    if comm.rank == 0:
        time.sleep(0.3)
        raise ValueError("rank 0 cannot go on")
    buf, out = np.ones(1), np.zeros(1)
    comm.mpi.Allreduce(buf, out)  # ranks 1-3 wait here for ever
    return 1


@pipeline.step(timeout=1)
def slow_one():
    while True:
        time.sleep(0.05)


@pipeline.step(ranks=2, timeout=1)
def slow_pair(comm):
    if comm.rank == 0:
        time.sleep(30)
    comm.barrier()
    return 1


@pipeline.step
def after(x):
    return x


@pipeline.step(ranks=1)
def solo(x, comm):
    return comm.allreduce(x) + comm.size


@pipeline.step(gpus=1, name="g{i}")
def on_gpu(i):
    time.sleep(0.3)
    return {"ids": list(gpu_ids()), "cvd": os.environ.get("CUDA_VISIBLE_DEVICES")}


@pipeline.step(memory="6G", name="m{i}")
def big_memory(i):
    time.sleep(0.3)
    return i


@pipeline.step(threads=2)
def threaded():
    from threadpoolctl import threadpool_info

    pools = [p["num_threads"] for p in threadpool_info()]
    return {"omp": os.environ.get("OMP_NUM_THREADS"), "pools": pools}


if scenario == "mix":
    parts = [pair(i) for i in range(4)] + [quad(i) for i in range(2)]
    total(parts)
elif scenario == "many":
    for i in range(count):
        pair.named(f"p{i}")(i)
elif scenario == "raise":
    after(boom())
    for i in range(3):
        pair(i)
elif scenario == "stuck":
    wedged()
    for i in range(3):
        after.named(f"a{i}")(i)
elif scenario == "stuck0":
    wedged_leader()
    for i in range(3):
        after.named(f"a{i}")(i)
elif scenario == "deadline":
    slow_one()
    slow_pair()
    pair(1)
elif scenario == "big":
    quad(0)
elif scenario == "single":
    solo(20)
elif scenario == "place":
    quad(0)
    for i in range(8):
        on_gpu(i)
        big_memory(i)
    threaded()
pipeline.execute()
if pipeline.comm.rank == 0:
    print(json.dumps({s.name: int(s.status) for s in pipeline.steps}), flush=True)
