"""An in-process world of N ranks, one thread each: the transport without ``mpiexec``.

:class:`ThreadWorld` gives every rank a :class:`ThreadComm` with the same
methods as :class:`ezpipe.engine.comm.MPIComm` (point-to-point messages,
collectives, ``create_group`` and ``split`` for sub-communicators), so the
coordinator/worker protocol, ``root_call`` and the collectives run in ordinary
unit tests at any N, and a simulated 1,000-worker world can drive the real
coordinator on the wall clock. Messages are pickled on the way, as MPI would,
so what cannot cross a real world cannot cross this one either.

Every blocking wait gives up after ``timeout`` seconds with :class:`WorldError`
(a test that would hang fails instead), and ``abort`` on any rank wakes all
the others with the same error.
"""

from __future__ import annotations

import pickle
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class WorldError(RuntimeError):
    """A rank aborted the world, or a wait outlived the world's timeout."""


class ThreadWorld:
    """The shared state of N thread ranks: mailboxes and collective slots."""

    def __init__(self, size: int, *, timeout: float = 60.0) -> None:
        if size < 1:
            raise ValueError("a world needs at least one rank")
        self.size = size
        self.timeout = timeout
        self.lock = threading.Condition()
        self.boxes: dict[tuple[Any, int, int], deque[tuple[int, bytes]]] = defaultdict(deque)
        self.slots: dict[tuple[Any, int], dict[int, bytes]] = {}
        self.reads: dict[tuple[Any, int], int] = {}
        self.aborted: str | None = None

    def comm(self, rank: int) -> ThreadComm:
        return ThreadComm(self, ("world",), tuple(range(self.size)), rank)

    def run(self, fn: Callable[[ThreadComm], T]) -> list[T]:
        """Run ``fn(comm)`` on every rank at once; each rank's return value, in rank order.

        The first exception raised on any rank is re-raised here, after every
        thread ended (a rank that raised aborts the world so no one waits on it).
        """
        results: list[Any] = [None] * self.size
        errors: list[BaseException | None] = [None] * self.size

        def body(rank: int) -> None:
            comm = self.comm(rank)
            try:
                results[rank] = fn(comm)
            except BaseException as exc:
                errors[rank] = exc
                if not isinstance(exc, WorldError):
                    self.abort(f"rank {rank} raised {type(exc).__name__}: {exc}")

        threads = [
            threading.Thread(target=body, args=(r,), name=f"fake-rank-{r}", daemon=True)
            for r in range(self.size)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.timeout * 2)
            if thread.is_alive():
                self.abort("a rank did not finish")
                raise WorldError(f"{thread.name} still running after {self.timeout * 2} s")
        first = next((e for e in errors if e is not None and not isinstance(e, WorldError)), None)
        if first is None:
            first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first
        return results

    def abort(self, message: str) -> None:
        with self.lock:
            if self.aborted is None:
                self.aborted = message
            self.lock.notify_all()

    def wait(self, ready: Callable[[], bool], what: str) -> None:
        """Wait (holding ``lock``) until ``ready()``; a clear error on abort or timeout."""
        if not self.lock.wait_for(lambda: ready() or self.aborted is not None, self.timeout):
            raise WorldError(f"no {what} within {self.timeout} s")
        if self.aborted is not None and not ready():
            raise WorldError(f"the world was aborted: {self.aborted}")


class ThreadComm:
    """One rank's view of a communicator of a :class:`ThreadWorld`."""

    threaded = True

    def __init__(
        self, world: ThreadWorld, context: tuple[Any, ...], members: Sequence[int], rank: int
    ) -> None:
        self.world = world
        self.context = context
        self.members = tuple(members)  # world ranks, in this communicator's rank order
        self.rank = rank
        self.size = len(self.members)
        self._sequence = 0  # collectives called so far on this communicator
        self._groups: dict[tuple[int, ...], int] = defaultdict(int)

    # -- point to point -------------------------------------------------------------------------
    def send(self, obj: Any, dest: int, tag: int) -> None:
        data = pickle.dumps(obj)
        with self.world.lock:
            self.world.boxes[self.context, dest, tag].append((self.rank, data))
            self.world.lock.notify_all()

    def poll(self, tag: int) -> tuple[Any, int] | None:
        with self.world.lock:
            box = self.world.boxes.get((self.context, self.rank, tag))
            if not box:
                if self.world.aborted is not None:
                    raise WorldError(f"the world was aborted: {self.world.aborted}")
                return None
            source, data = box.popleft()
        return pickle.loads(data), source

    def recv(self, source: int, tag: int) -> Any:
        box = self.world.boxes[self.context, self.rank, tag]
        with self.world.lock:
            self.world.wait(lambda: any(s == source for s, _ in box), f"message from {source}")
            for item in box:
                if item[0] == source:
                    box.remove(item)
                    return pickle.loads(item[1])
        raise AssertionError("unreachable")

    # -- collectives ----------------------------------------------------------------------------
    def _exchange(self, contribution: Any) -> list[Any]:
        """Every rank contributes; every rank gets all contributions in rank order."""
        key = (self.context, self._sequence)
        self._sequence += 1
        data = pickle.dumps(contribution)
        with self.world.lock:
            slot = self.world.slots.setdefault(key, {})
            slot[self.rank] = data
            self.world.lock.notify_all()
            self.world.wait(lambda: len(slot) >= self.size, "collective from every rank")
            values = [pickle.loads(slot[r]) for r in range(self.size)]
            read = self.world.reads[key] = self.world.reads.get(key, 0) + 1
            if read == self.size:  # the last reader clears the slot
                del self.world.slots[key], self.world.reads[key]
        return values

    def bcast(self, obj: T, root: int = 0) -> T:
        return self._exchange(obj if self.rank == root else None)[root]  # type: ignore[no-any-return]

    def allgather(self, obj: T) -> list[T]:
        return self._exchange(obj)

    def barrier(self) -> None:
        self._exchange(None)

    # -- sub-communicators ----------------------------------------------------------------------
    def create_group(self, ranks: Sequence[int]) -> ThreadComm:
        """A communicator of ``ranks`` (ranks of this one), called by those ranks only."""
        ranks = tuple(ranks)
        if self.rank not in ranks:
            raise ValueError(f"rank {self.rank} is not in the group {list(ranks)}")
        nth = self._groups[ranks]
        self._groups[ranks] += 1
        members = [self.members[r] for r in ranks]
        context = (*self.context, "group", ranks, nth)
        return ThreadComm(self.world, context, members, ranks.index(self.rank))

    def split(self, color: int, key: int = 0) -> ThreadComm:
        """Ranks with the same ``color`` form a communicator, ordered by ``key`` (a collective)."""
        sequence = self._sequence
        everyone = self._exchange((color, key))
        mine = sorted((k, r) for r, (c, k) in enumerate(everyone) if c == color)
        ranks = [r for _, r in mine]
        context = (*self.context, "split", sequence, color)
        return ThreadComm(
            self.world, context, [self.members[r] for r in ranks], ranks.index(self.rank)
        )

    def free(self) -> None:
        """Nothing to release in-process (MPI communicators must be freed)."""

    def abort(self, message: str, code: int = 1) -> None:
        self.world.abort(f"rank {self.rank}: {message}")
        raise WorldError(f"aborted by rank {self.rank}: {message}")
