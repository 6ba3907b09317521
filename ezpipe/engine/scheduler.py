"""Who runs which step next: pure policy, no MPI, no clocks, no disk.

The coordinator asks :meth:`Scheduler.next_for` when a worker is free and
reports outcomes with :meth:`Scheduler.finish`. Three policies:

``static``
    ezpyp's: each phase's steps dealt round-robin to workers up front, with a
    barrier between phases. Kept as the baseline the others are measured against.
``phase``
    a free worker takes the next step of the current phase; barrier between phases.
``dag`` (default)
    no barriers: a step is ready as soon as its own dependencies passed; among
    ready steps the one with the longest chain of dependents below it goes first,
    so the critical path starts early.

Under every policy a failure skips its transitive dependents at once and
nothing else.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from typing import Literal

from ..options import POLICIES
from ..records import Status

Policy = Literal["static", "phase", "dag"]


class Scheduler:
    """State machine over step indices ``0..n-1``."""

    def __init__(
        self,
        deps: Sequence[Sequence[int]],
        phases: Sequence[Sequence[int]],
        n_workers: int,
        policy: str = "dag",
        max_concurrent: int | None = None,
        todo: Sequence[int] | None = None,
        weights: Sequence[float] | None = None,
        priorities: Sequence[float | None] | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown scheduling policy {policy!r}; use one of {POLICIES}")
        if n_workers < 1:
            raise ValueError("a scheduler needs at least one worker")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        n = len(deps)
        self.policy = policy
        self.n_workers = n_workers
        self.max_concurrent = max_concurrent
        self.status: list[Status] = [Status.NOT_RUN] * n
        self.skip_cause: dict[int, int] = {}
        self.dependents: list[list[int]] = [[] for _ in range(n)]
        for index, ds in enumerate(deps):
            for d in ds:
                self.dependents[d].append(index)
        selected = set(range(n)) if todo is None else set(todo)
        self._todo_total = len(selected)
        self._waiting = [0] * n  # unfinished dependencies of each selected step
        for index in selected:
            self._waiting[index] = sum(1 for d in deps[index] if d in selected)
        self._finished = 0
        self.running: set[int] = set()
        self._phases = [[i for i in phase if i in selected] for phase in phases]
        self._phase = 0
        self._phase_left = [len(p) for p in self._phases]
        self._phase_of = {i: p for p, phase in enumerate(self._phases) for i in phase}
        self.level = self._bottom_levels(deps, phases, weights)
        self.explicit = list(priorities) if priorities is not None else [None] * n
        rank = self.level if policy == "dag" else None
        self._ready: list[tuple[float, float, int]] = []  # heap of (-explicit, -level, index)
        self._own: list[list[list[int]]] = []  # static: per phase, per worker, queue
        self._queues = [deque(phase) for phase in self._phases]  # phase: shared queue
        if policy == "static":
            for phase in self._phases:
                lanes: list[list[int]] = [[] for _ in range(n_workers)]
                for j, index in enumerate(phase):
                    lanes[j % n_workers].append(index)
                self._own.append([lane[::-1] for lane in lanes])  # pop() from the end
        for index in sorted(selected):
            if self._waiting[index] == 0:
                self._make_ready(index, rank)
        self._rank = rank
        self._skip_empty_phases()

    @staticmethod
    def _bottom_levels(
        deps: Sequence[Sequence[int]],
        phases: Sequence[Sequence[int]],
        weights: Sequence[float] | None = None,
    ) -> list[float]:
        """The longest chain from each step to the end, counting the step itself: in
        expected seconds when ``weights`` are known (earlier runs' durations), else in
        steps (critical-path priority)."""
        w = weights if weights is not None else [1.0] * len(deps)
        level = [float(x) for x in w]
        for phase in reversed(phases):
            for index in phase:
                for d in deps[index]:
                    level[d] = max(level[d], level[index] + w[d])
        return level

    def priority(self, index: int) -> tuple[float, float]:
        """Sort key, smaller first: an explicit ``priority=`` first, then the critical path."""
        return (-(self.explicit[index] or 0.0), -self.level[index])

    def _make_ready(self, index: int, rank: list[float] | None) -> None:
        if self.policy == "dag":
            heapq.heappush(self._ready, (*self.priority(index), index))

    # -- queries --------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self._finished == self._todo_total

    def next_for(self, worker: int) -> int | None:
        """A step for ``worker`` to run now, or None if none is ready for it."""
        if self.max_concurrent is not None and len(self.running) >= self.max_concurrent:
            return None
        index: int | None = None
        if self.policy == "dag":
            if self._ready:
                index = heapq.heappop(self._ready)[2]
        elif self._phase < len(self._phases):
            if self.policy == "static":
                lane = self._own[self._phase][worker % self.n_workers]
                while lane and self.status[lane[-1]] != Status.NOT_RUN:
                    lane.pop()  # skipped while queued
                if lane:
                    index = lane.pop()
            else:
                index = self._pop_phase_ready()
        if index is not None:
            self.running.add(index)
        return index

    def available(self, worker: int) -> int:
        """About how many steps ``worker`` could be handed now (skipped ones may count)."""
        if self.policy == "dag":
            return len(self._ready)
        if self._phase >= len(self._phases):
            return 0
        if self.policy == "static":
            return len(self._own[self._phase][worker % self.n_workers])
        return len(self._queues[self._phase])

    def _pop_phase_ready(self) -> int | None:
        queue = self._queues[self._phase]
        while queue:
            index = queue.popleft()
            if self.status[index] == Status.NOT_RUN:
                return index
        return None

    # -- updates --------------------------------------------------------------------------------
    def finish(self, index: int, status: Status) -> list[int]:
        """Record an outcome; returns the steps skipped because of it (if it failed)."""
        self.running.discard(index)
        self._settle(index, status)
        skipped: list[int] = []
        if status == Status.PASSED:
            for child in self.dependents[index]:
                if self.status[child] == Status.NOT_RUN and self._in_todo(child):
                    self._waiting[child] -= 1
                    if self._waiting[child] == 0:
                        self._make_ready(child, self._rank)
        else:
            stack = list(self.dependents[index])
            while stack:
                child = stack.pop()
                if self.status[child] != Status.NOT_RUN or not self._in_todo(child):
                    continue
                self._settle(child, Status.SKIPPED)
                self.skip_cause[child] = index  # the failed step itself, for every descendant
                skipped.append(child)
                stack.extend(self.dependents[child])
        self._skip_empty_phases()
        return skipped

    def _in_todo(self, index: int) -> bool:
        return index in self._phase_of

    def _settle(self, index: int, status: Status) -> None:
        self.status[index] = status
        self._finished += 1
        self._phase_left[self._phase_of[index]] -= 1

    def _skip_empty_phases(self) -> None:
        while self._phase < len(self._phases) and self._phase_left[self._phase] == 0:
            self._phase += 1
