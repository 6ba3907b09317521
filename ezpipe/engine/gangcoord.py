"""Rank 0's bookkeeping when steps have placement needs: gangs, backfill, stuck steps.

Used instead of the plain :class:`~ezpipe.engine.coordinator.Coordinator` when a
plan has a step with ``ranks=``, ``threads=``, ``gpus=`` or ``memory=``. Ready
steps are taken from the :class:`~ezpipe.engine.scheduler.Scheduler` (which
still owns readiness and skips) into a pending list kept in priority order, and
the :class:`~ezpipe.engine.placement.Placer` decides which start where. A step
that needs a communicator or reserved cores/GPUs travels as a
:class:`~ezpipe.engine.gang.Task` to each of its members; plain steps travel as
indices, one at a time.

A member's report frees that member; the step's rank 0's report settles the
step. If the step's rank 0 reports ranks that did not return, or a member
reported a failure and rank 0 stays silent for twice the grace period, the run
cannot free those ranks: :attr:`stuck` says so, and the serve loop ends the job
(see :mod:`ezpipe.engine.deadline`).
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Collection, Mapping, Sequence

from ..events import Observer
from ..plan import Plan
from ..records import Status, StepOutcome
from . import deadline
from .channels import Batch
from .coordinator import Coordinator
from .gang import Task
from .placement import Node, Placer, Ready

WINDOW = 256  # ready steps the placer considers per decision (best first): bounded work


def needs_task(plan: Plan, index: int) -> bool:
    res = plan.steps[index].definition.resources
    return res.gang or res.placed


def placed_plan(plan: Plan) -> bool:
    """Does any step of the plan need placement or a deadline watched by the coordinator
    (then every step goes through the placed coordinator)?"""
    return any(
        needs_task(plan, i) or plan.steps[i].definition.resources.timeout is not None
        for i in plan.selected
    )


class PlacedCoordinator(Coordinator):
    """The coordinator of a plan with placed steps."""

    def __init__(
        self,
        plan: Plan,
        workers: Sequence[int],
        observer: Observer,
        nodes: Sequence[Node],
        history: Mapping[int, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        reused: Collection[int] = (),
    ) -> None:
        super().__init__(plan, workers, observer, history, reused)
        self.placer = Placer(nodes)
        self.history = dict(history or {})
        self.clock = clock
        self.pending: list[tuple[float, float, int]] = []  # heap: (*priority, index)
        self._tokens = itertools.count(1)
        self.tasks: dict[int, Task] = {}  # running placed steps by index
        # index -> (when, which rank of the step, its error): a member reported a failure
        self._member_failed: dict[int, tuple[float, int, str | None]] = {}
        # index -> (when past its deadline and grace, its members, those that reported)
        self._due: dict[int, tuple[float, tuple[int, ...], set[int]]] = {}
        self.stuck: tuple[int, StepOutcome] | None = None

    @property
    def stopping(self) -> bool:
        return super().stopping or self.stuck is not None

    def expected(self, index: int) -> float | None:
        """Seconds the step is expected to take: learned this run, else from earlier runs."""
        runs, longest = self._seen.get(self.plan.steps[index].definition, (0, 0.0))
        if runs:
            return longest
        return self.history.get(index)

    def report(self, rank: int, outcomes: Sequence[StepOutcome]) -> None:
        if not outcomes:
            self.idle.appendleft(rank)
            return
        batch = self.assigned.pop(rank)
        for item, outcome in zip(batch, outcomes, strict=True):
            due = self._due.get(item.index if isinstance(item, Task) else item)
            if due is not None:
                due[2].add(rank)
            if isinstance(item, Task):
                if rank != item.leader:
                    if outcome.status == Status.FAILED and item.index not in self._member_failed:
                        local = item.members.index(rank)
                        self._member_failed[item.index] = (self.clock(), local, outcome.error)
                    continue
                self.tasks.pop(item.index, None)
                self._member_failed.pop(item.index, None)
                index = item.index
            else:
                index = item
            self.placer.finish(index)
            self._due.pop(index, None)
            if outcome.stuck and self.stuck is None:
                self.stuck = (index, outcome)
            self._settle(index, outcome)
        self.idle.appendleft(rank)

    def _settle(self, index: int, outcome: StepOutcome) -> None:
        self.outcomes[index] = outcome
        if outcome.interrupted:
            self.interrupted = True
            return
        self._learn(index, outcome)
        skipped = self.scheduler.finish(index, outcome.status)
        for child in skipped:
            self._skip(child)
        self.observer.step_settled(index, outcome, skipped)

    def overdue(self) -> None:
        """A step whose ranks cannot be freed: a member failed and the step's rank 0 is
        silent past twice the grace period, or the step is that far past its deadline
        with ranks that never returned; record the step as such."""
        now = self.clock()
        for index, (due, members, reported) in list(self._due.items()):
            if self.stuck is None and now > due:
                missing = [members.index(r) for r in members if r not in reported]
                timeout = self.plan.steps[index].definition.resources.timeout
                wait = (timeout or 0.0) + 2 * deadline.grace()
                reason = deadline.who_did_not_return({}, missing, wait)
                stuck = tuple(r for r in members if r not in reported)
                outcome = StepOutcome(
                    status=Status.FAILED, rank=members[0], error=reason, stuck=stuck
                )
                self.outcomes[index] = outcome
                self.stuck = (index, outcome)
        for index, (since, local, error) in list(self._member_failed.items()):
            if self.stuck is None and now - since > 2 * deadline.grace():
                task = self.tasks[index]
                name = (error or "an error").split(":")[0]
                reason = deadline.who_did_not_return({local: name}, [0], 2 * deadline.grace())
                reason = f"{reason} (world rank {task.leader}): {error}"
                outcome = StepOutcome(
                    status=Status.FAILED, rank=task.leader, error=reason, stuck=(task.leader,)
                )
                self.outcomes[index] = outcome
                self.stuck = (index, outcome)

    def assignments(self) -> list[tuple[int, Batch]]:
        out: list[tuple[int, Batch]] = []
        if self.stopping:
            return self._stop_idle()
        lanes = range(len(self.workers)) if self.plan.policy == "static" else (0,)
        for lane in lanes:  # static deals steps to lanes; the placer decides the ranks here
            while (index := self.scheduler.next_for(lane)) is not None:
                heapq.heappush(self.pending, (*self.scheduler.priority(index), index))
        if not self.idle or not self.pending:
            return out
        window = []  # the best pending steps, in order: the placer looks at these only
        while self.pending and len(window) < WINDOW:
            window.append(heapq.heappop(self.pending))
        steps = self.plan.steps
        ready = [Ready(i, steps[i].definition.resources, self.expected(i)) for *_, i in window]
        placements = self.placer.plan(
            self.clock(), ready, list(self.idle), self.plan.max_concurrent
        )
        started = {p.index for p in placements}
        for item in window:
            if item[-1] not in started:
                heapq.heappush(self.pending, item)
        busy = {m for p in placements for m in p.members}
        for p in placements:
            if needs_task(self.plan, p.index):
                task = Task(p.index, p.members, next(self._tokens), p.cores, p.gpus)
                self.tasks[p.index] = task
                batch: Batch = (task,)  # type: ignore[assignment]
            else:
                batch = (p.index,)
            timeout = self.plan.steps[p.index].definition.resources.timeout
            if timeout is not None:
                due = self.clock() + timeout + 2 * deadline.grace()
                self._due[p.index] = (due, p.members, set())
            for member in p.members:
                self.assigned[member] = batch
                out.append((member, batch))
            self.observer.steps_assigned((p.index,), p.members[0])
        self.idle = type(self.idle)(r for r in self.idle if r not in busy)
        stalled = not out and not self.assigned and len(self.idle) == len(self.workers)
        if stalled and not self.scheduler.finished and self.pending:
            raise RuntimeError("scheduler stalled: no step running and none can be placed")
        return out
