"""The step communicator under mpiexec: collectives that can be left, and freed groups.

Run under ``mpiexec -n 4 python -m pytest --with-mpi -m mpi tests/mpi``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from mpi4py import MPI

from ezpipe.engine.subcomm import Cancel, StepCancelled, StepComm, StepTimeout, drain

world = MPI.COMM_WORLD
pytestmark = pytest.mark.mpi(min_size=2)


def group_of(members: list[int], tag: int) -> MPI.Intracomm:
    group = world.Get_group().Incl(members)
    try:
        return world.Create_group(group, tag=tag)
    finally:
        group.Free()


@pytest.mark.parametrize("collective", ["Allreduce", "Gather"])
def test_the_others_leave_a_collective_when_one_rank_raises(collective):
    members = list(range(world.size))
    sub = group_of(members, 11)
    cancel = Cancel(world, token=1001)
    comm = StepComm(sub, cancel)
    outcome = "returned"
    try:
        if comm.rank == 1:
            time.sleep(0.2)
            cancel.tell(members, world.rank, "rank 1 raised ValueError")
            outcome = "raised"
        else:
            out = np.zeros(world.size)
            if collective == "Allreduce":
                comm.Allreduce(np.ones(world.size), out)
            else:
                comm.Gather(np.ones(1), out, root=0)
    except StepCancelled as exc:
        outcome = f"cancelled: {exc}"
    finally:
        sub.Free()
    outcomes = world.allgather(outcome)
    assert outcomes[1] == "raised"
    cancelled = "cancelled: rank 1 raised ValueError"
    if collective == "Gather":  # only the root waits for rank 1; the others may be done
        assert outcomes[0] == cancelled
        assert all(o in (cancelled, "returned") for o in outcomes[2:])
    else:
        assert all(o == cancelled for i, o in enumerate(outcomes) if i != 1)
    assert world.allreduce(1) == world.size  # the world goes on
    world.barrier()
    drain(world)


def test_a_late_cancel_of_another_step_is_ignored():
    members = list(range(world.size))
    stale = Cancel(world, token=2001)
    if world.rank == 0:
        stale.tell(members, 0, "an old step failed")
    world.barrier()
    sub = group_of(members, 12)
    comm = StepComm(sub, Cancel(world, token=2002))
    try:
        assert comm.allreduce(comm.rank) == sum(range(world.size))
        comm.barrier()
    finally:
        sub.Free()


def test_the_deadline_is_polled_inside_collectives():
    sub = group_of([0, 1], 13) if world.rank < 2 else None
    outcome = "idle"
    if sub is not None:
        comm = StepComm(sub, Cancel(world, token=3001, deadline=time.monotonic() + 0.3))
        try:
            if comm.rank == 0:
                comm.barrier()  # rank 1 never comes
            outcome = "returned"
        except StepTimeout:
            outcome = "timed out"
        finally:
            sub.Free()
    got = world.allgather(outcome)
    assert got[0] == "timed out" and got[1] == "returned"


def test_thousands_of_groups_are_freed():
    """MPICH fails after about 2,000 unfreed communicators."""
    members = [0, 1]
    if world.rank in members:
        for i in range(3000):
            sub = group_of(members, 20 + i % 1000)
            sub.Free()
    world.barrier()


def test_buffer_collectives_give_mpis_results():
    sub = group_of(list(range(world.size)), 14)
    comm = StepComm(sub, Cancel(world, token=4001))
    try:
        out = np.zeros(world.size)
        comm.Gather(np.array([float(comm.rank)]), out, root=0)
        if comm.rank == 0:
            assert list(out) == [float(r) for r in range(world.size)]
        total = np.zeros(1)
        comm.Allreduce(np.array([1.0]), total)
        assert total[0] == world.size
        assert comm.alltoall(list(range(world.size))) == [comm.rank] * world.size
    finally:
        sub.Free()
