"""What the engine tells the world: events, and the observers that subscribe to them.

The engine calls these methods and imports none of the subscribers (console
lines, the progress bar, logging, the skip-record writer): a new observer is
a new subclass, and the engine does not change. Two streams exist. Every rank
reports what its own worker does (``step_started`` ... ``step_interrupted``),
so each line comes from the rank that ran the step; rank 0's coordinator
reports what it decides and learns (``steps_assigned``, ``step_settled``,
``step_skipped``). ``run_started``
and ``run_finished`` come from the session on every rank.

Methods must be cheap: the coordinator calls them while ranks wait for work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .records import RunTally, StepOutcome


class Observer:
    """Subscriber to engine events; every method is a no-op unless overridden."""

    def run_started(self, total: int) -> None:
        """A run of ``total`` selected steps starts (every rank)."""

    def step_started(self, name: str, phase: int, rank: int) -> None:
        """This rank starts computing a step."""

    def step_reused(self, name: str, phase: int, rank: int, *, failed: bool) -> None:
        """This rank reuses a stored outcome (a recorded failure when ``failed``)."""

    def step_passed(self, name: str, rank: int) -> None:
        """This rank computed and stored a step's result."""

    def step_failed(self, name: str, rank: int, error: str) -> None:
        """A step this rank ran failed (``error``: type and message)."""

    def step_interrupted(self, name: str, rank: int) -> None:
        """A stop signal cut a step short on this rank; it has no record."""

    def steps_assigned(self, indices: Sequence[int], rank: int) -> None:
        """Rank 0 handed these steps to worker ``rank`` (they are running now)."""

    def step_settled(self, index: int, outcome: StepOutcome, skipped: Sequence[int]) -> None:
        """Rank 0 learned a step's outcome; ``skipped`` dependents are skipped because of it."""

    def step_skipped(self, index: int, name: str, cause: str) -> None:
        """Rank 0 skips a step because upstream step ``cause`` did not pass."""

    def run_finished(self, tally: RunTally) -> None:
        """The run ended with this verdict (rank 0)."""

    def relay(self) -> tuple[str, ...]:
        """Lines this rank holds for rank 0, taken after each step (see StepOutcome.lines).

        Called by the worker once per step; the default holds nothing.
        """
        return ()


class Observers(Observer):
    """Forwards every event to each subscriber, in order."""

    def __init__(self, subscribers: Iterable[Observer] = ()) -> None:
        self.subscribers = list(subscribers)

    def add(self, observer: Observer) -> None:
        self.subscribers.append(observer)

    def run_started(self, total: int) -> None:
        for s in self.subscribers:
            s.run_started(total)

    def step_started(self, name: str, phase: int, rank: int) -> None:
        for s in self.subscribers:
            s.step_started(name, phase, rank)

    def step_reused(self, name: str, phase: int, rank: int, *, failed: bool) -> None:
        for s in self.subscribers:
            s.step_reused(name, phase, rank, failed=failed)

    def step_passed(self, name: str, rank: int) -> None:
        for s in self.subscribers:
            s.step_passed(name, rank)

    def step_failed(self, name: str, rank: int, error: str) -> None:
        for s in self.subscribers:
            s.step_failed(name, rank, error)

    def step_interrupted(self, name: str, rank: int) -> None:
        for s in self.subscribers:
            s.step_interrupted(name, rank)

    def steps_assigned(self, indices: Sequence[int], rank: int) -> None:
        for s in self.subscribers:
            s.steps_assigned(indices, rank)

    def step_settled(self, index: int, outcome: StepOutcome, skipped: Sequence[int]) -> None:
        for s in self.subscribers:
            s.step_settled(index, outcome, skipped)

    def step_skipped(self, index: int, name: str, cause: str) -> None:
        for s in self.subscribers:
            s.step_skipped(index, name, cause)

    def run_finished(self, tally: RunTally) -> None:
        for s in self.subscribers:
            s.run_finished(tally)

    def relay(self) -> tuple[str, ...]:
        return tuple(line for s in self.subscribers for line in s.relay())
