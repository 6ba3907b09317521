"""Rank 0's bookkeeping: worker reports in, assignments out, skips, and events.

Pure Python over the :class:`Scheduler`'s state (no MPI, no disk), so the
whole protocol runs in unit tests. The state, in one place:

``outcomes``
    per step, the :class:`StepOutcome` learned so far (None: not yet).
``idle``
    workers waiting for work, the one that reported last first.
``assigned``
    worker rank -> the batch of step indices it is running.
``stopped``
    how many workers were told to stop.
``_seen``
    per step function, (runs, longest duration): what batching knows, with
    ``_reused``, the steps whose records the index says will be reused.

Short steps travel in batches so that one round trip carries about
``BATCH_SECONDS`` of work: a round trip costs 0.1-1 ms, as much as a no-op
step with its two files.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence

from ..events import Observer
from ..plan import Plan
from ..records import Status, StepOutcome
from . import preempt
from .channels import STOP, Batch
from .scheduler import Scheduler

BATCH_SECONDS = 0.004
MAX_BATCH = 16
MIN_WEIGHT = 0.1  # seconds: shorter steps keep their definition order
STEP_OVERHEAD = 0.0002  # per step on top of its function's time: cache check, two writes


def weights_of(n: int, history: Mapping[int, float] | None) -> list[float] | None:
    """Per step, the seconds earlier runs took (critical-path weights); a step without a
    record counts as the median of those with one. None: nothing known, count steps.

    Steps shorter than :data:`MIN_WEIGHT` weigh as much as that: their order hardly
    changes the makespan, and timing noise would shuffle it from run to run, so they
    keep their definition order."""
    if not history:
        return None
    known = sorted(history.values())
    typical = known[len(known) // 2]
    return [max(history.get(i, typical), MIN_WEIGHT) for i in range(n)]


class Coordinator:
    """Turns worker reports into assignments; marks dependents of failures skipped."""

    def __init__(
        self,
        plan: Plan,
        workers: Sequence[int],
        observer: Observer,
        history: Mapping[int, float] | None = None,
        reused: Collection[int] = (),
    ) -> None:
        self.plan = plan
        self._reused = frozenset(reused)  # expected to be reused: short (plan.expected_reuse)
        self._recomputed: set[object] = set()  # functions of which a hinted step ran after all
        self.observer = observer
        self.workers = list(workers)
        self._position = {rank: pos for pos, rank in enumerate(self.workers)}
        self.scheduler = Scheduler(
            plan.frozen.dependencies,
            plan.frozen.phases,
            len(self.workers),
            plan.policy,
            plan.max_concurrent,
            plan.todo,
            weights=weights_of(len(plan.steps), history),
            priorities=[s.definition.resources.priority for s in plan.steps],
        )
        self.outcomes: list[StepOutcome | None] = [None] * len(plan.steps)
        self.idle: deque[int] = deque()
        self.assigned: dict[int, Batch] = {}  # rank -> the batch it is running
        self.stopped = 0
        self._seen: dict[object, tuple[int, float]] = {}  # step function -> (runs, longest)
        self.interrupted = False  # a worker's step was cut short by a stop signal
        self.storage_error: str | None = None  # the folder's disk is full: start nothing more

    @property
    def stopping(self) -> bool:
        """Hand out no more steps: all are done, the job was told to stop, or the disk is full."""
        return (
            self.scheduler.finished
            or self.interrupted
            or self.storage_error is not None
            or preempt.requested()
        )

    def report(self, rank: int, outcomes: Sequence[StepOutcome]) -> None:
        """A worker's outcomes of its last batch, in order (none when it checks in)."""
        if outcomes:
            batch = self.assigned.pop(rank)
            for index, outcome in zip(batch, outcomes, strict=True):
                self.outcomes[index] = outcome
                if outcome.interrupted:
                    self.interrupted = True
                    continue
                if outcome.storage_error is not None:
                    self.storage_error = self.storage_error or outcome.storage_error
                    if outcome.status == Status.NOT_RUN:
                        continue  # not stored: no verdict on the step, and no skips below it
                self._learn(index, outcome)
                skipped = self.scheduler.finish(index, outcome.status)
                for child in skipped:
                    self._skip(child)
                self.observer.step_settled(index, outcome, skipped)
        # Served first when work is scarce: the rank that just reported is awake and polling
        # (others may sleep in their back-off), so a chain stays on one rank (W2 in
        # docs/benchmarks.md).
        self.idle.appendleft(rank)

    def _learn(self, index: int, outcome: StepOutcome) -> None:
        duration = outcome.duration
        if duration is None or outcome.cached:
            return
        definition = self.plan.steps[index].definition
        if index in self._reused:  # the hint was wrong for this function: trust runs only
            self._recomputed.add(definition)
        runs, longest = self._seen.get(definition, (0, 0.0))
        self._seen[definition] = (runs + 1, max(longest, duration))

    def _expected(self, index: int) -> float:
        """A step's expected time: a cache check if its record is expected to be reused,
        else the longest run of its function once it ran on as many steps as there are
        workers; until then it counts as long (no batch)."""
        definition = self.plan.steps[index].definition
        if index in self._reused and definition not in self._recomputed:
            return STEP_OVERHEAD
        runs, longest = self._seen.get(definition, (0, 0.0))
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
        cause = self.plan.steps[self.scheduler.skip_cause[index]].name
        self.outcomes[index] = StepOutcome(status=Status.SKIPPED, skipped_because=cause)
        self.observer.step_skipped(index, self.plan.steps[index].name, cause)

    def _stop_idle(self) -> list[tuple[int, Batch]]:
        """STOP for every idle worker (the run is stopping)."""
        out = [(rank, STOP) for rank in self.idle]
        self.stopped += len(out)
        self.idle.clear()
        return out

    def assignments(self) -> list[tuple[int, Batch]]:
        """(rank, batch of step indices or STOP) for idle workers that can be given work now."""
        out: list[tuple[int, Batch]] = []
        if self.stopping:
            return self._stop_idle()
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
                self.observer.steps_assigned(batch, rank)
                out.append((rank, batch))
        self.idle = waiting
        everyone_waits = len(waiting) == len(self.workers)  # not just the first to check in
        if not out and not self.assigned and everyone_waits and not self.scheduler.finished:
            raise RuntimeError("scheduler stalled: no step running and none ready")
        return out

    @property
    def done(self) -> bool:
        return self.stopped == len(self.workers)
