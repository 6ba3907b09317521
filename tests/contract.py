"""One contract for every transport: in-process, the thread world of N ranks, real MPI.

Each function takes one rank's communicator, is called on every rank alike, and
asserts what that rank must see; the callers run it over each channel.
"""

from __future__ import annotations

from pathlib import Path

from ezpipe import Pipeline, Status
from ezpipe.engine.comm import Comm, root_call
from ezpipe.errors import StoreError

TAG = 5


def collectives(comm: Comm) -> None:
    assert comm.allgather(comm.rank * 10) == [r * 10 for r in range(comm.size)]
    assert comm.bcast("from 0" if comm.rank == 0 else None) == "from 0"
    last = comm.size - 1
    assert comm.bcast(comm.rank, root=last) == last


def point_to_point(comm: Comm) -> None:
    if comm.size == 1:
        return
    if comm.rank == 0:
        heard = {}
        while len(heard) < comm.size - 1:
            message = comm.poll(TAG)
            if message is not None:
                obj, source = message
                heard[source] = obj
        assert heard == {r: {"hello": r} for r in range(1, comm.size)}
        for r in range(1, comm.size):
            comm.send(("reply", r), r, TAG + 1)
    else:
        comm.send({"hello": comm.rank}, 0, TAG)
        assert comm.recv(0, TAG + 1) == ("reply", comm.rank)


def root_calls(comm: Comm) -> None:
    assert root_call(comm, lambda: comm.rank + 41) == 41  # rank 0's value, on every rank

    def fails() -> None:
        raise StoreError("disk full on rank 0")

    try:
        root_call(comm, fails)
    except StoreError as exc:
        assert "disk full" in str(exc)
    else:
        raise AssertionError("rank 0's exception did not reach this rank")


def sub_communicators(comm: Comm) -> None:
    halves = comm.split(comm.rank % 2, comm.rank)
    mine = [r for r in range(comm.size) if r % 2 == comm.rank % 2]
    assert halves.size == len(mine) and halves.rank == mine.index(comm.rank)
    assert halves.allgather(comm.rank) == mine
    halves.free()
    if comm.size >= 2 and comm.rank in (0, comm.size - 1):
        pair = comm.create_group([0, comm.size - 1])  # only these two call it
        assert pair.size == 2 and pair.allgather(comm.rank) == [0, comm.size - 1]
        pair.free()
    comm.bcast(None)  # the others did not wait for the pair


def whole_run(comm: Comm, folder: Path) -> None:
    """A small DAG with a failure: the same statuses on every rank, each step run once."""
    pipeline = Pipeline(folder, echo=False, progress=False, tee_output=False, comm=comm)

    @pipeline.step(name="leaf_{i}")
    def leaf(i):
        if i == 3:
            raise ValueError("three")
        return i

    @pipeline.step
    def total(values):
        return sum(values)

    leaves = [leaf(i) for i in range(6)]
    total([leaves[0], leaves[1], leaves[2]])
    total.named("with_three")([leaves[3], leaves[4]])
    frame = pipeline.execute()
    statuses = dict(zip(frame["name"], frame["status"], strict=True))
    assert statuses["leaf_3"] == Status.FAILED and statuses["with_three"] == Status.SKIPPED
    assert statuses["total"] == Status.PASSED
    assert pipeline.get_result("total") == 3
    ranks = {int(r) for r in frame["rank"].dropna()}
    assert ranks <= set(range(comm.size))
    assert comm.allgather(sorted(statuses.items())) == [sorted(statuses.items())] * comm.size


CONTRACT = (collectives, point_to_point, root_calls, sub_communicators)
