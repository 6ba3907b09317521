"""The run loop: one coordinator on rank 0, a worker on every rank.

Rank 0 runs the coordinator in a helper thread and a worker in its main
thread, so it computes like every other rank while still answering them
promptly. A failure of ezpipe itself (not of a step) aborts the whole MPI job
with a message instead of leaving ranks waiting.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..events import Observer
from ..plan import Plan
from ..records import Status, StepOutcome
from ..store import Store
from .channels import TAG_ASSIGN, TAG_REQUEST, Channel, CommChannel, DirectChannel, QueueChannel
from .comm import Backoff, Comm
from .coordinator import Coordinator
from .gang import GangExecutor, Task
from .gangcoord import PlacedCoordinator
from .placement import Node
from .sandbox import StepExecutor
from .subcomm import drain

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    statuses: list[Status]
    outcomes: Sequence[StepOutcome | None] = field(default_factory=list)  # rank 0 only
    interrupted: bool = False  # rank 0 only: a worker's step was cut short by a stop signal
    storage_error: str | None = None  # rank 0 only: a full disk stopped the run
    started: float = 0.0
    ended: float = 0.0


Stuck = Callable[[Coordinator], None]  # ends the job when a step's ranks cannot be freed


def work(executor: StepExecutor, channel: Channel, gangs: GangExecutor | None = None) -> None:
    outcomes: list[StepOutcome] = []
    while True:
        batch = channel.exchange(outcomes)
        if not batch:
            return
        outcomes = [
            gangs.run(item) if isinstance(item, Task) and gangs else executor.run(item)
            for item in batch
        ]


def serve(
    coordinator: Coordinator, comm: Comm, local: QueueChannel | None, on_stuck: Stuck | None = None
) -> None:
    """The coordinator loop on rank 0: poll workers, hand out steps, until all stopped."""
    backoff = Backoff()
    placed = isinstance(coordinator, PlacedCoordinator)
    while not coordinator.done:
        if placed:
            coordinator.overdue()  # type: ignore[attr-defined]
            if coordinator.stuck is not None and on_stuck is not None:  # type: ignore[attr-defined]
                on_stuck(coordinator)
                return
        active = False
        while (message := comm.poll(TAG_REQUEST)) is not None:
            outcomes, source = message
            coordinator.report(source, outcomes)
            active = True
        if local is not None:
            while True:
                try:
                    outcomes = local.inbox.get_nowait()
                except queue.Empty:
                    break
                coordinator.report(0, outcomes)
                active = True
        if not active and not (coordinator.idle and coordinator.stopping):
            backoff.wait()
            continue
        backoff.reset()
        for rank, batch in coordinator.assignments():
            if rank == 0 and local is not None:
                local.outbox.put(batch)
            else:
                comm.send(batch, rank, TAG_ASSIGN)


@contextlib.contextmanager
def switching_every(seconds: float) -> Iterator[None]:
    """Let the coordinator thread take the interpreter lock at least every ``seconds``.

    While rank 0's own step runs pure Python, the coordinator waits for the lock
    up to the switch interval (5 ms by default) for every request it answers;
    measured in benchmarks/handoff.py, 0.5 ms brings that wait under 1 ms at a
    cost to the step of well under 1 %. A C call that holds the lock (a large
    ``pickle.dumps``) is not shortened by this: see docs/concepts.md.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def workers_of(comm: Comm, placed: bool = False) -> list[int]:
    """The ranks that run steps: every rank, unless MPI cannot serve a coordinator thread
    (for a plan with placed steps, rank 0's steps make MPI calls beside that thread, which
    takes ``MPI_THREAD_MULTIPLE``)."""
    if comm.size == 1:
        return [0]
    ok = comm.threaded and (not placed or getattr(comm, "multiple", True))
    return list(range(comm.size)) if ok else list(range(1, comm.size))


def run(
    plan: Plan,
    comm: Comm,
    store: Store,
    worker: Observer,
    coordinator_events: Observer,
    switch_interval: float = 0.0005,
    *,
    history: Mapping[int, float] | None = None,
    reused: Collection[int] = (),
    nodes: Sequence[Node] | None = None,
    on_stuck: Stuck | None = None,
) -> RunOutcome:
    """Execute the plan on every rank; every rank returns the final statuses.

    ``worker`` hears what this rank's worker does; ``coordinator_events`` (rank 0)
    what the coordinator decides and learns; ``switch_interval`` is rank 0's
    interpreter switch interval while its coordinator thread serves others.
    ``history`` (rank 0): seconds earlier runs took, per step; ``reused`` (rank 0):
    the steps expected to be reused, batched as short; ``nodes``: the workers'
    nodes, for a plan with placed steps.
    """
    started = time.time()
    with contextlib.suppress(OSError):
        store.look()  # what earlier runs and other processes stored, before cache checks
    if not faulthandler.is_enabled():
        faulthandler.enable()  # a segfault in a step prints where it happened
    executor = StepExecutor(plan, store, worker, comm.rank)
    gangs = GangExecutor(executor, comm, nodes) if nodes is not None else None
    coordinator: Coordinator | None = None
    if comm.rank == 0:
        workers = workers_of(comm, nodes is not None)
        if nodes is not None:
            coordinator = PlacedCoordinator(
                plan, workers, coordinator_events, nodes, history, reused=reused
            )
        else:
            coordinator = Coordinator(plan, workers, coordinator_events, history, reused)
    if comm.size == 1:
        assert coordinator is not None
        work(executor, DirectChannel(coordinator), gangs)
    elif comm.rank == 0:
        assert coordinator is not None
        with switching_every(switch_interval):
            _run_rank0(coordinator, executor, comm, gangs, on_stuck)
    else:
        work(executor, CommChannel(comm), gangs)
    outcomes: Sequence[StepOutcome | None] = []
    interrupted, storage_error = False, None
    if coordinator is not None:
        outcomes, interrupted = coordinator.outcomes, coordinator.interrupted
        storage_error = coordinator.storage_error
    _flush(store, snapshot=False)  # this rank's commits on disk (grouped fsync)
    statuses = comm.bcast([Status.NOT_RUN if o is None else o.status for o in outcomes])
    if gangs is not None:
        comm.bcast(None)  # every late message of a step was sent before this
        drain(gangs.raw)
    if comm.rank == 0:  # every outcome is in: the resume index of the whole run
        _flush(store, snapshot=True)
    else:
        with contextlib.suppress(OSError):
            store.look()  # every rank's steps are stored: get_result sees them
    return RunOutcome(statuses, outcomes, interrupted, storage_error, started, time.time())


def _flush(store: Store, *, snapshot: bool) -> None:
    try:
        store.flush(snapshot=snapshot)
    except OSError as exc:  # results are committed: only durability or the index is behind
        log.error("could not flush the store in %s: %s", store.root, exc)


def _run_rank0(
    coordinator: Coordinator,
    executor: StepExecutor,
    comm: Comm,
    gangs: GangExecutor | None,
    on_stuck: Stuck | None,
) -> None:
    if not comm.threaded:
        serve(coordinator, comm, None, on_stuck)
        return
    local = QueueChannel()

    def serve_or_abort() -> None:
        try:
            serve(coordinator, comm, local, on_stuck)
        except BaseException as exc:
            log.critical("the coordinator failed", exc_info=True)
            comm.abort(f"the ezpipe coordinator failed: {type(exc).__name__}: {exc}")

    thread = threading.Thread(target=serve_or_abort, name="ezpipe-coordinator", daemon=True)
    thread.start()
    work(executor, local, gangs)
    thread.join()
