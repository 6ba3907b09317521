"""Skip records, written at once by a thread of their own (rank 0).

A skip is recorded as soon as the coordinator decides it, so a killed run
still shows why a step did not run; the writes happen off the coordinator's
thread, so an early failure in a large sweep never stalls dispatching on one
write per skipped step (about 2 ms each on a disk).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from ..events import Observer
from ..graph import step_manifest
from ..records import RunTally, Status, StepRecord
from ..steps import Step
from ..store import Store

log = logging.getLogger(__name__)


class SkipRecorder(Observer):
    """Subscribes to ``step_skipped``; :meth:`flush` (or ``run_finished``) waits for the disk."""

    def __init__(self, steps: Sequence[Step], store: Store) -> None:
        self.steps = steps
        self.store = store
        self._queue: queue.SimpleQueue[tuple[Step, str] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def step_skipped(self, index: int, name: str, cause: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._write, name="ezpipe-skip-records", daemon=True
            )
            self._thread.start()
        self._queue.put((self.steps[index], cause))  # the record is made off rank 0's loop

    def _write(self) -> None:
        """Record each skip, unless the folder holds an outcome of the same definition
        (a skip says nothing about the step itself: a valid result stays reusable once
        its upstream passes)."""
        while (item := self._queue.get()) is not None:
            step, cause = item
            try:
                if not self.store.has_record(step.name, step.key):
                    self.store.commit(skip_record(step, cause))
            except Exception as exc:  # a full disk, a repr that raises: the next skips go on
                log.error("could not write the skip record of %r: %s", step.name, exc)

    def flush(self) -> None:
        """Wait until every skip record is on disk."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def run_finished(self, tally: RunTally) -> None:
        self.flush()


def skip_record(step: Step, cause: str) -> StepRecord:
    """The record of a step skipped because upstream step ``cause`` did not pass."""
    return StepRecord(
        name=step.name,
        key=step.key,
        status=Status.SKIPPED,
        function=step.function_name,
        phase=step.phase,
        skipped_because=cause,
        manifest=step_manifest(step),
    )
