"""The wire protocol between workers and the coordinator, and its three channels.

A worker sends the outcomes of its last batch (``[]`` when it checks in) and
receives the next batch of step indices; an empty batch (:data:`STOP`) means
no more work. Only indices and :class:`StepOutcome` values cross: every rank
built the same steps, and results travel through the store.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from typing import Protocol

from ..records import StepOutcome
from .comm import Comm

TAG_REQUEST = 71  # worker -> coordinator: outcomes of the last batch ([] at start)
TAG_ASSIGN = 72  # coordinator -> worker: the next batch of step indices, or STOP
Batch = tuple[int, ...]  # step indices a worker runs in order, then reports together
STOP: Batch = ()  # an empty batch: no more work


class Dispatcher(Protocol):
    """What the coordinator offers a channel (see :mod:`ezpipe.engine.coordinator`)."""

    def report(self, rank: int, outcomes: Sequence[StepOutcome]) -> None: ...
    def assignments(self) -> list[tuple[int, Batch]]: ...


class Channel(Protocol):
    def exchange(self, outcomes: list[StepOutcome]) -> Batch: ...


class DirectChannel:
    """One rank, no threads: the worker calls the coordinator directly."""

    def __init__(self, coordinator: Dispatcher) -> None:
        self.coordinator = coordinator

    def exchange(self, outcomes: list[StepOutcome]) -> Batch:
        self.coordinator.report(0, outcomes)
        assignments = self.coordinator.assignments()
        return assignments[0][1]


class QueueChannel:
    """Rank 0's own worker, talking to the coordinator thread."""

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[list[StepOutcome]] = queue.SimpleQueue()
        self.outbox: queue.SimpleQueue[Batch] = queue.SimpleQueue()

    def exchange(self, outcomes: list[StepOutcome]) -> Batch:
        self.inbox.put(outcomes)
        return self.outbox.get()


class CommChannel:
    """A worker rank, talking to rank 0 over the transport."""

    def __init__(self, comm: Comm) -> None:
        self.comm = comm

    def exchange(self, outcomes: list[StepOutcome]) -> Batch:
        self.comm.send(outcomes, 0, TAG_REQUEST)
        return tuple(self.comm.recv(0, TAG_ASSIGN))
