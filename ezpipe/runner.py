"""The execution loop: one coordinator on rank 0, a worker on every rank.

Rank 0 runs the coordinator (the scheduler plus bookkeeping) in a helper
thread and a worker in its main thread, so it computes like every other rank
while still answering them promptly. Ranks exchange step indices and small
outcome dictionaries only: every rank built the same steps, and results travel
through the store. A worker turns everything a step does (any exception,
``SystemExit`` included, an unpicklable result, a failed write) into that
step's failure; a failure of ezpipe itself aborts the whole MPI job with a
message instead of leaving ranks waiting.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import queue
import socket
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

import cloudpickle

from . import capture, preempt
from .comm import Backoff, Comm
from .graph import FrozenGraph
from .progress import Progress, showing
from .records import Mode, Status, StepRecord
from .reporter import Reporter
from .scheduler import Scheduler
from .steps import Step, substitute
from .store import Store

log = logging.getLogger(__name__)

TAG_REQUEST = 71  # worker -> coordinator: outcomes of the last batch ([] at start)
TAG_ASSIGN = 72  # coordinator -> worker: the next batch of step indices, or STOP
Batch = tuple[int, ...]  # step indices a worker runs in order, then reports together
STOP: Batch = ()  # an empty batch: no more work
# Short steps travel in batches so that one round trip carries about BATCH_SECONDS of
# work: a round trip costs 0.1-1 ms, as much as a no-op step with its two files.
BATCH_SECONDS = 0.004
MAX_BATCH = 16
STEP_OVERHEAD = 0.0002  # per step on top of its function's time: cache check, two writes
HOST = socket.gethostname()
Outcome = dict[str, Any]


@dataclass
class Plan:
    """Everything every rank must agree on before running (all derived identically)."""

    steps: Sequence[Step]
    frozen: FrozenGraph
    modes: list[Mode]
    forced: list[bool]
    policy: str = "dag"
    max_concurrent: int | None = None
    todo: list[int] | None = None
    tee_output: bool = True  # echo each step's captured output, prefixed, to the job output


def plan_modes(
    steps: Sequence[Step], frozen: FrozenGraph, run_mode: Mode, force: Sequence[int] = ()
) -> tuple[list[Mode], list[bool]]:
    """Each step's cache mode (its own, else the run's); force spreads downstream.

    ``force`` lists steps recomputed whatever their mode (``from_step``).
    """
    modes = [step.definition.mode or run_mode for step in steps]
    forced = [mode == Mode.FORCE for mode in modes]
    for index in force:
        forced[index] = True
    for phase in frozen.phases:  # topological order: parents settle before children
        for index in phase:
            if not forced[index] and any(forced[d] for d in steps[index].dependencies):
                forced[index] = True
    return modes, forced


@dataclass
class RunOutcome:
    statuses: list[Status]
    outcomes: list[Outcome | None] = field(default_factory=list)  # rank 0 only
    started: float = 0.0
    ended: float = 0.0


# ---------------------------------------------------------------------------------------------
# Worker side: run one step.
class StepExit(BaseException):
    """A step called ``os._exit``: made a failure of that step instead of a silent exit."""


@contextlib.contextmanager
def _os_exit_as_exception() -> Iterator[None]:
    """Turn ``os._exit`` called by a step in this process into :class:`StepExit`.

    Otherwise ``os._exit(0)`` on rank 0 ends the job with exit status 0 and no
    message. Forked children (multiprocessing) still exit for real.
    """
    real_exit, owner = os._exit, os.getpid()

    def guarded(code: int) -> NoReturn:
        if os.getpid() != owner:
            real_exit(code)
        raise StepExit(f"the step called os._exit({code})")

    os._exit = guarded
    try:
        yield
    finally:
        os._exit = real_exit


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose message cannot be shown>"


def reusable(plan: Plan, store: Store, index: int) -> StepRecord | None:
    """The cached record a run of ``plan`` reuses for the step instead of running it
    (the executor's decision, and the dry run's prediction of it)."""
    if plan.forced[index]:
        return None
    step = plan.steps[index]
    cached = store.valid_record(step.name, step.key, fresh=False)
    if cached is not None and (
        cached.status == Status.PASSED
        or (cached.status == Status.FAILED and plan.modes[index] == Mode.CACHED)
    ):
        return cached
    return None


class StepExecutor:
    """Runs steps on this rank: cache check, inputs, call, result, record."""

    def __init__(self, plan: Plan, store: Store, reporter: Reporter, rank: int) -> None:
        self.plan = plan
        self.store = store
        self.reporter = reporter
        self.rank = rank
        self._inputs: OrderedDict[str, bytes] = OrderedDict()  # small LRU of input bytes
        self._log_path: str | None = None  # captured output of the step being recorded

    def _record(self, step: Step, status: Status, **fields: Any) -> StepRecord:
        return StepRecord(
            name=step.name,
            key=step.key,
            status=status,
            function=step.function_name,
            phase=step.phase,
            rank=self.rank,
            host=HOST,
            pid=os.getpid(),
            log_path=self._log_path,
            **fields,
        )

    def run(self, index: int) -> Outcome:
        """One step's outcome; whatever goes wrong becomes that step's failure."""
        try:
            return self._run(index)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a cache folder that cannot be read, say
            return self._fail(self.plan.steps[index], time.time(), exc, "ezpipe could not run it: ")

    def _run(self, index: int) -> Outcome:
        step = self.plan.steps[index]
        mode = self.plan.modes[index]
        self._log_path = None
        if not self.plan.forced[index]:
            cached = reusable(self.plan, self.store, index)
            if cached is not None:
                self.reporter.cached(step.name, step.phase, failed=cached.status != Status.PASSED)
                return cached.model_copy(update={"cached": True, "rank": self.rank}).outcome()
            if mode == Mode.READ_ONLY:
                self.reporter.executing(step.name, step.phase)
                message = "no cached result and the cache mode is 'read-only'"
                self.reporter.failed(step.name, message)
                return self._record(
                    step, Status.FAILED, error_type="ResultNotAvailableError", error_message=message
                ).outcome()
        return self._compute(step)

    def _compute(self, step: Step) -> Outcome:
        start = time.time()
        if preempt.requested():
            return self._interrupted(step, start)
        self.reporter.executing(step.name, step.phase)
        try:
            args = substitute(step.args, self._load_input)
            kwargs = substitute(step.kwargs, self._load_input)
        except Exception as exc:
            return self._fail(step, start, exc, "could not load an input: ")
        output = capture.StepOutput(
            self.store.log_path(step.name, step.key), step.name, tee=self.plan.tee_output
        )
        try:
            with capture.capturing(output), _os_exit_as_exception(), preempt.step_running():
                value = step.func(*args, **kwargs)
        except preempt.StepInterrupted:
            return self._interrupted(step, start)
        except KeyboardInterrupt:
            raise  # the user stopped the run: no record, so a rerun computes the step
        except BaseException as exc:  # SystemExit too: a step never ends the run
            self._log_path = output.written_path
            if exc.__traceback__ is not None and exc.__traceback__.tb_next is not None:
                exc = exc.with_traceback(exc.__traceback__.tb_next)  # start at the user's code
            return self._fail(step, start, exc)
        self._log_path = output.written_path
        del args, kwargs
        end = time.time()
        try:  # one commit: the record names its result's checksum (one append when packed)
            data = self.store.dump(value)
            record = self.store.commit(
                self._record(step, Status.PASSED, start=start, end=end, duration=end - start),
                data,
            )
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            prefix = f"could not store the result (type {type(value).__qualname__}): "
            return self._fail(step, start, exc, prefix)
        self.reporter.passed(step.name)
        return record.outcome()

    def _fail(self, step: Step, start: float, exc: BaseException, prefix: str = "") -> Outcome:
        end = time.time()
        message = f"{prefix}{type(exc).__name__}: {_safe_str(exc)}"
        try:
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        except Exception:  # an exception whose __str__ itself raises
            trace = message
        record = self._record(
            step,
            Status.FAILED,
            start=start,
            end=end,
            duration=end - start,
            error_type=type(exc).__qualname__,
            error_message=message,
            traceback=trace,
        )
        try:
            self.store.commit(record)
        except Exception as write_error:
            log.error("could not write the failure record of %r: %s", step.name, write_error)
        self.reporter.failed(step.name, message)
        return record.outcome()

    def _interrupted(self, step: Step, start: float) -> Outcome:
        """A step cut short by a stop signal: reported, but no record, so a rerun computes it."""
        self.reporter.interrupted(step.name)
        end = time.time()
        record = self._record(step, Status.NOT_RUN, start=start, end=end, duration=end - start)
        message = "interrupted: the job was told to stop (time limit); a rerun computes it"
        return {**record.outcome(), "interrupted": True, "error_message": message}

    def _load_input(self, upstream: Step) -> Any:
        """A fresh copy of an upstream result: steps may change their inputs freely.

        The verified bytes are kept (a small LRU), never the objects, so one step's
        mutation can never reach another step.
        """
        data = self._inputs.get(upstream.key)
        if data is None:
            data = self.store.passed_bytes(upstream.name, upstream.key)
            self._inputs[upstream.key] = data
            if len(self._inputs) > 16:
                self._inputs.popitem(last=False)
        else:
            self._inputs.move_to_end(upstream.key)
        return cloudpickle.loads(data)


# ---------------------------------------------------------------------------------------------
# Coordinator side: scheduling and bookkeeping (rank 0).
class Coordinator:
    """Turns worker reports into assignments; marks dependents of failures skipped."""

    def __init__(
        self,
        plan: Plan,
        workers: Sequence[int],
        store: Store,
        reporter: Reporter,
        progress: Progress | None = None,
    ) -> None:
        self.plan = plan
        self.store = store
        self.reporter = reporter
        self.progress = progress
        self.workers = list(workers)
        self._position = {rank: pos for pos, rank in enumerate(self.workers)}
        self.scheduler = Scheduler(
            plan.frozen.dependencies,
            plan.frozen.phases,
            len(self.workers),
            plan.policy,
            plan.max_concurrent,
            plan.todo,
        )
        self.outcomes: list[Outcome | None] = [None] * len(plan.steps)
        self.idle: deque[int] = deque()
        self.assigned: dict[int, Batch] = {}  # rank -> the batch it is running
        self.stopped = 0
        self._seen: dict[object, tuple[int, float]] = {}  # step function -> (runs, longest)
        self.interrupted = False  # a worker's step was cut short by a stop signal
        self._skips: queue.SimpleQueue[StepRecord | None] = queue.SimpleQueue()
        self._skip_writer: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        """Hand out no more steps: all are done, or the job was told to stop."""
        return self.scheduler.finished or self.interrupted or preempt.requested()

    def report(self, rank: int, outcomes: Sequence[Outcome]) -> None:
        """A worker's outcomes of its last batch, in order (none when it checks in)."""
        if outcomes:
            batch = self.assigned.pop(rank)
            for index, outcome in zip(batch, outcomes, strict=True):
                self.outcomes[index] = outcome
                if outcome.get("interrupted"):
                    self.interrupted = True
                    continue
                self._learn(index, outcome)
                skipped = self.scheduler.finish(index, Status(outcome["status"]))
                for child in skipped:
                    self._skip(child)
                if self.progress is not None:
                    self.progress.settled(
                        outcome["status"], outcome.get("cached", False), len(skipped)
                    )
        # Served first when work is scarce: the rank that just reported is awake and polling
        # (others may sleep in their back-off), so a chain stays on one rank (W2 in
        # docs/benchmarks.md).
        self.idle.appendleft(rank)

    def _learn(self, index: int, outcome: Outcome) -> None:
        duration = outcome.get("duration")
        if duration is None or outcome.get("cached"):
            return
        definition = self.plan.steps[index].definition
        runs, longest = self._seen.get(definition, (0, 0.0))
        self._seen[definition] = (runs + 1, max(longest, duration))

    def _expected(self, index: int) -> float:
        """A step's expected time: the longest run of its function, once it ran on as many
        steps as there are workers; until then it counts as long (no batch)."""
        runs, longest = self._seen.get(self.plan.steps[index].definition, (0, 0.0))
        return longest + STEP_OVERHEAD if runs >= len(self.workers) else BATCH_SECONDS

    def _batch(self, rank: int, first: int) -> Batch:
        """``first`` plus more ready steps while they add up to less than BATCH_SECONDS.

        Only steps of functions seen to be short join a batch (the last one added may be
        of unknown length), and a worker takes at most its share of what is ready, so
        batching never holds back long steps that an idle rank could start.
        """
        batch = [first]
        budget = self._expected(first)
        share = -(-self.scheduler.available(self._position[rank]) // len(self.workers))
        while budget < BATCH_SECONDS and len(batch) < min(MAX_BATCH, 1 + share):
            index = self.scheduler.next_for(self._position[rank])
            if index is None:
                break
            batch.append(index)
            budget += self._expected(index)
        return tuple(batch)

    def _skip(self, index: int) -> None:
        step = self.plan.steps[index]
        cause = self.plan.steps[self.scheduler.skip_cause[index]].name
        record = StepRecord(
            name=step.name,
            key=step.key,
            status=Status.SKIPPED,
            function=step.function_name,
            phase=step.phase,
            skipped_because=cause,
        )
        if self._skip_writer is None:  # disk I/O off the dispatching thread
            self._skip_writer = threading.Thread(
                target=self._write_skips, name="ezpipe-skip-records", daemon=True
            )
            self._skip_writer.start()
        self._skips.put(record)
        self.outcomes[index] = record.outcome()
        self.reporter.skipped(step.name, cause)

    def _write_skips(self) -> None:
        """Record each skip at once, unless the folder holds an outcome of the same
        definition (a skip says nothing about the step itself: a valid result stays
        reusable once its upstream passes)."""
        while (record := self._skips.get()) is not None:
            try:
                if not self.store.has_record(record.name, record.key):
                    self.store.commit(record)
            except OSError as exc:
                log.error("could not write the skip record of %r: %s", record.name, exc)

    def flush_skip_records(self) -> None:
        """Wait until every skip record is on disk (at the end of a run)."""
        if self._skip_writer is not None:
            self._skips.put(None)
            self._skip_writer.join()
            self._skip_writer = None

    def assignments(self) -> list[tuple[int, Batch]]:
        """(rank, batch of step indices or STOP) for idle workers that can be given work now."""
        out: list[tuple[int, Batch]] = []
        if self.stopping:
            while self.idle:
                out.append((self.idle.popleft(), STOP))
                self.stopped += 1
            return out
        waiting: deque[int] = deque()
        while self.idle:
            rank = self.idle.popleft()
            index = self.scheduler.next_for(self._position[rank])
            if index is None:
                waiting.append(rank)
                if self.plan.policy != "static":
                    waiting.extend(self.idle)  # nothing ready for anyone
                    self.idle.clear()
            else:
                batch = self._batch(rank, index)
                self.assigned[rank] = batch
                out.append((rank, batch))
        self.idle = waiting
        everyone_waits = len(waiting) == len(self.workers)  # not just the first to check in
        if not out and not self.assigned and everyone_waits and not self.scheduler.finished:
            raise RuntimeError("scheduler stalled: no step running and none ready")
        return out

    @property
    def done(self) -> bool:
        return self.stopped == len(self.workers)


# ---------------------------------------------------------------------------------------------
# Channels: how a worker reaches the coordinator.
class Channel(Protocol):
    def exchange(self, outcomes: list[Outcome]) -> Batch: ...


class DirectChannel:
    """One rank, no threads: the worker calls the coordinator directly."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    def exchange(self, outcomes: list[Outcome]) -> Batch:
        self.coordinator.report(0, outcomes)
        assignments = self.coordinator.assignments()
        return assignments[0][1]


class QueueChannel:
    """Rank 0's own worker, talking to the coordinator thread."""

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[list[Outcome]] = queue.SimpleQueue()
        self.outbox: queue.SimpleQueue[Batch] = queue.SimpleQueue()

    def exchange(self, outcomes: list[Outcome]) -> Batch:
        self.inbox.put(outcomes)
        return self.outbox.get()


class MPIChannel:
    """A worker rank, talking to rank 0 over MPI."""

    def __init__(self, comm: Comm) -> None:
        self.comm = comm

    def exchange(self, outcomes: list[Outcome]) -> Batch:
        self.comm.send(outcomes, 0, TAG_REQUEST)
        return tuple(self.comm.recv(0, TAG_ASSIGN))


def work(executor: StepExecutor, channel: Channel) -> None:
    outcomes: list[Outcome] = []
    while True:
        batch = channel.exchange(outcomes)
        if not batch:
            return
        outcomes = [executor.run(index) for index in batch]


def serve(coordinator: Coordinator, comm: Comm, local: QueueChannel | None) -> None:
    """The coordinator loop on rank 0: poll workers, hand out steps, until all stopped."""
    backoff = Backoff()
    while not coordinator.done:
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


def run(
    plan: Plan, comm: Comm, store: Store, reporter: Reporter, progress: Progress | None = None
) -> RunOutcome:
    """Execute the plan on every rank; every rank returns the final statuses.

    ``progress`` (rank 0 only) is told every outcome and shown by its own thread.
    """
    started = time.time()
    with contextlib.suppress(OSError):
        store.look()  # what earlier runs and other processes stored, before cache checks
    if not faulthandler.is_enabled():
        faulthandler.enable()  # a segfault in a step prints where it happened
    executor = StepExecutor(plan, store, reporter, comm.rank)
    coordinator: Coordinator | None = None
    if comm.size == 1:
        coordinator = Coordinator(plan, [0], store, reporter, progress)
        with showing(progress, coordinator.assigned):
            work(executor, DirectChannel(coordinator))
    elif comm.rank == 0:
        workers = list(range(comm.size)) if comm.threaded else list(range(1, comm.size))
        coordinator = Coordinator(plan, workers, store, reporter, progress)
        with showing(progress, coordinator.assigned):
            _run_rank0(coordinator, executor, comm)
    else:
        work(executor, MPIChannel(comm))
    outcomes: list[Outcome | None] = []
    if coordinator is not None:
        coordinator.flush_skip_records()
        outcomes = coordinator.outcomes
    _flush(store, snapshot=False)  # this rank's commits on disk (grouped fsync)
    statuses = comm.bcast([Status.NOT_RUN if o is None else Status(o["status"]) for o in outcomes])
    if comm.rank == 0:  # every outcome is in: the resume index of the whole run
        _flush(store, snapshot=True)
    else:
        with contextlib.suppress(OSError):
            store.look()  # every rank's steps are stored: get_result sees them
    return RunOutcome(statuses, outcomes, started, time.time())


def _flush(store: Store, *, snapshot: bool) -> None:
    try:
        store.flush(snapshot=snapshot)
    except OSError as exc:  # results are committed: only durability or the index is behind
        log.error("could not flush the store in %s: %s", store.root, exc)


def _run_rank0(coordinator: Coordinator, executor: StepExecutor, comm: Comm) -> None:
    if not comm.threaded:
        serve(coordinator, comm, None)
        return
    local = QueueChannel()
    failure: list[BaseException] = []

    def serve_or_abort() -> None:
        try:
            serve(coordinator, comm, local)
        except BaseException as exc:
            failure.append(exc)
            log.critical("the coordinator failed", exc_info=True)
            comm.abort(f"the ezpipe coordinator failed: {type(exc).__name__}: {exc}")

    thread = threading.Thread(target=serve_or_abort, name="ezpipe-coordinator", daemon=True)
    thread.start()
    work(executor, local)
    thread.join()
