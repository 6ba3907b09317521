"""The communicator a multi-rank step receives as ``comm``: collectives that can be left.

A step declared with ``ranks=k`` gets a :class:`StepComm` over exactly its k
ranks (made with ``MPI_Comm_create_group`` by those ranks only, freed after the
step). Its collectives (``barrier``, ``bcast``, ``allreduce``, ``Allreduce``,
...) run as nonblocking operations polled with back-off against a cancel flag:
when one rank of the step raises, it tells the others (a small message on the
world communicator, stamped with the step's token so a late one can never
cancel a later step), and a rank waiting in a collective leaves it with
:class:`StepCancelled` instead of waiting forever. The step fails, the world
goes on (an abandoned ``Iallreduce`` leaves the world usable; MPICH's wheel
has no ULFM ``Revoke``). The same poll enforces the step's deadline.

``comm.mpi`` is the raw mpi4py communicator, for libraries that want one; a
collective called on it directly cannot be left, which is what the watchdog in
:mod:`ezpipe.engine.deadline` is for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from .comm import Backoff

TAG_CANCEL = 81  # world: "step <token> failed on my rank: leave its collectives"
TAG_MEMBER = 82  # world: a member's report to the step's rank 0
BUFFER_COLLECTIVES = frozenset(
    {
        "Gather",
        "Gatherv",
        "Scatter",
        "Scatterv",
        "Allgatherv",
        "Alltoall",
        "Alltoallv",
        "Reduce_scatter",
        "Reduce_scatter_block",
        "Scan",
        "Exscan",
    }
)


class StepCancelled(BaseException):
    """Another rank of this step failed: leave the step (a BaseException, so a step's own
    ``except Exception`` does not keep it waiting for a rank that will never come)."""


class StepTimeout(BaseException):
    """The step ran past its ``timeout=``."""


class Cancel:
    """The cancel flag of one step on one rank: set by a message, or by the deadline."""

    def __init__(self, world: Any, token: int, deadline: float | None = None) -> None:
        self.world = world  # mpi4py world communicator, or None (one rank)
        self.token = token
        self.deadline = deadline
        self.reason: str | None = None

    def check(self) -> None:
        """Raise if the step must be left: another rank failed, or the deadline passed."""
        if self.reason is None and self.world is not None:
            from mpi4py import MPI

            while self.world.iprobe(source=MPI.ANY_SOURCE, tag=TAG_CANCEL):
                token, message = self.world.recv(source=MPI.ANY_SOURCE, tag=TAG_CANCEL)
                if token == self.token:
                    self.reason = message
        if self.reason is not None:
            raise StepCancelled(self.reason)
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise StepTimeout("the step ran past its timeout")

    def tell(self, members: Sequence[int], me: int, message: str) -> None:
        """Tell the other members (world ranks) that this rank failed."""
        if self.world is None:
            return
        for rank in members:
            if rank != me:
                self.world.isend((self.token, message), dest=rank, tag=TAG_CANCEL)


def drain(world: Any) -> int:
    """Receive the cancel messages and reports nobody waits for any more (a rank that
    left a step before its partner's cancel came): MPI refuses to finalize a world with
    unmatched messages. Called by every rank once the run is over; how many there were."""
    if world is None:
        return 0
    from mpi4py import MPI

    count = 0
    for tag in (TAG_CANCEL, TAG_MEMBER):
        while world.iprobe(source=MPI.ANY_SOURCE, tag=tag):
            world.recv(source=MPI.ANY_SOURCE, tag=tag)
            count += 1
    return count


class StepComm:
    """A k-rank step's communicator: mpi4py's methods, collectives that can be left."""

    def __init__(self, mpi: Any, cancel: Cancel, node: int = 0, local_rank: int = 0) -> None:
        self.mpi = mpi  # the raw mpi4py communicator
        self.cancel = cancel
        self.rank: int = mpi.Get_rank()
        self.size: int = mpi.Get_size()
        self.node = node  # which node of the job this rank is on (pretend nodes count)
        self.local_rank = local_rank  # this rank's position among its node's ranks

    def Get_rank(self) -> int:
        return self.rank

    def Get_size(self) -> int:
        return self.size

    def _wait(self, request: Any) -> Any:
        backoff = Backoff(ceiling=0.002)
        while True:
            done, value = request.test()
            if done:
                return value
            self.cancel.check()
            backoff.wait()

    def _wait_buffer(self, request: Any) -> None:
        """Wait for ``request``, leaving when the step must be left, unless it completed
        meanwhile (then the others passed it too and count on this rank)."""
        backoff = Backoff(ceiling=0.002)
        while not request.Test():
            try:
                self.cancel.check()
            except BaseException:
                if request.Test():
                    return
                raise
            backoff.wait()

    def _gathered(self, collective: Callable[[], Any]) -> Any:
        """An object collective once every rank is there (a polled ``Ibarrier`` first):
        the blocking call that follows then never waits."""
        self._wait_buffer(self.mpi.Ibarrier())
        return collective()

    # -- collectives ----------------------------------------------------------------------------
    def barrier(self) -> None:
        self._wait_buffer(self.mpi.Ibarrier())

    Barrier = barrier

    def bcast(self, obj: Any = None, root: int = 0) -> Any:
        return self._gathered(lambda: self.mpi.bcast(obj, root=root))

    def allreduce(self, obj: Any, op: Any = None) -> Any:
        return self._gathered(lambda: self.mpi.allreduce(obj, op=op or _sum()))

    def reduce(self, obj: Any, op: Any = None, root: int = 0) -> Any:
        return self._gathered(lambda: self.mpi.reduce(obj, op=op or _sum(), root=root))

    def allgather(self, obj: Any) -> list[Any]:
        return self._gathered(lambda: self.mpi.allgather(obj))  # type: ignore[no-any-return]

    def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        return self._gathered(lambda: self.mpi.gather(obj, root=root))  # type: ignore[no-any-return]

    def scatter(self, objs: Sequence[Any] | None, root: int = 0) -> Any:
        return self._gathered(lambda: self.mpi.scatter(objs, root=root))

    def Allreduce(self, sendbuf: Any, recvbuf: Any, op: Any = None) -> None:
        self._wait_buffer(self.mpi.Iallreduce(sendbuf, recvbuf, op=op or _sum()))

    def Bcast(self, buf: Any, root: int = 0) -> None:
        self._wait_buffer(self.mpi.Ibcast(buf, root=root))

    def Allgather(self, sendbuf: Any, recvbuf: Any) -> None:
        self._wait_buffer(self.mpi.Iallgather(sendbuf, recvbuf))

    def Reduce(self, sendbuf: Any, recvbuf: Any, op: Any = None, root: int = 0) -> None:
        self._wait_buffer(self.mpi.Ireduce(sendbuf, recvbuf, op=op or _sum(), root=root))

    # -- point to point -------------------------------------------------------------------------
    def send(self, obj: Any, dest: int, tag: int = 0) -> None:
        self._wait(self.mpi.isend(obj, dest=dest, tag=tag))

    def recv(self, source: int | None = None, tag: int | None = None) -> Any:
        from mpi4py import MPI

        source = MPI.ANY_SOURCE if source is None else source
        tag = MPI.ANY_TAG if tag is None else tag
        backoff = Backoff(ceiling=0.002)
        while not self.mpi.iprobe(source=source, tag=tag):
            self.cancel.check()
            backoff.wait()
        return self.mpi.recv(source=source, tag=tag)

    def __getattr__(self, name: str) -> Any:
        """Other buffer collectives run as their nonblocking form (``Gather`` as
        ``Igather``, ...); anything else is mpi4py's own (and cannot be left)."""
        if name in BUFFER_COLLECTIVES:
            start = getattr(self.mpi, "I" + name.lower())

            def collective(*args: Any, **kwargs: Any) -> None:
                self._wait_buffer(start(*args, **kwargs))

            return collective
        return getattr(self.mpi, name)

    def alltoall(self, objs: Sequence[Any]) -> list[Any]:
        return self._gathered(lambda: self.mpi.alltoall(objs))  # type: ignore[no-any-return]


def _sum() -> Any:
    from mpi4py import MPI

    return MPI.SUM


class SelfComm:
    """The ``comm`` of a ``ranks=1`` step in a world without MPI: one rank, no messages."""

    rank = 0
    size = 1
    mpi = None
    node = 0
    local_rank = 0

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def barrier(self) -> None:
        """Nobody to wait for."""

    def bcast(self, obj: Any = None, root: int = 0) -> Any:
        return obj

    def allreduce(self, obj: Any, op: Any = None) -> Any:
        return obj

    reduce = allreduce

    def allgather(self, obj: Any) -> list[Any]:
        return [obj]

    gather = allgather

    def scatter(self, objs: Sequence[Any] | None, root: int = 0) -> Any:
        assert objs is not None
        return objs[0]
