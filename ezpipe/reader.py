"""Reading a pipeline folder without its script: ``ezpipe.open(DIR)``, for notebooks.

Everything comes from the folder (``pipeline.schema``, the records, the
results, the latest run's summary), read-only: nothing here writes, locks or
imports the user's code, so it is safe while a run writes (results and records
are renamed into place whole, and every result is checked against its
record's checksum before it is unpickled). Unpickling runs code: open only
folders you trust (see docs/trust.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pandas as pd

from . import folderview
from .errors import ResultNotAvailableError, StepFailedError
from .observe import summary as summary_mod
from .records import RunTally, Status, StepRecord


class FolderReader:
    """A pipeline folder's current definitions, their records and results, by step name."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self._view = folderview.load(folder)

    @property
    def folder(self) -> Path:
        return self._view.store.root

    @property
    def names(self) -> list[str]:
        """The steps of the folder's schema, in phase order."""
        return [s.name for s in self._view.steps]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self._view.steps)

    def __contains__(self, name: object) -> bool:
        return name in self._view.by_name

    def _step(self, name: str) -> folderview.StepView:
        step = self._view.by_name.get(name)
        if step is None:
            import difflib

            close = difflib.get_close_matches(name, self.names, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ResultNotAvailableError(f"{self.folder} has no step {name!r}{hint}")
        return step

    def record(self, name: str) -> StepRecord | None:
        """The stored record of the step's current definition (None: never ran)."""
        return self._step(name).record

    def status(self, name: str) -> Status:
        return self._step(name).status

    def result(self, name: str) -> Any:
        """The step's verified result; a recorded failure is raised as :class:`StepFailedError`."""
        step = self._step(name)
        record = step.record
        if record is not None and record.status == Status.FAILED:
            raise StepFailedError(
                record.name, record.error_type, record.error_message, record.traceback
            )
        return cloudpickle.loads(self._view.store.passed_bytes(step.name, step.key))

    def __getitem__(self, name: str) -> Any:
        return self.result(name)

    def results(self) -> dict[str, Any]:
        """Every passed step's result, by name (loads them all: mind the memory)."""
        return {s.name: self.result(s.name) for s in self._view.steps if s.status == Status.PASSED}

    @property
    def summary(self) -> pd.DataFrame:
        """The latest finished run's summary table."""
        if not self._view.store.summary_json_path.exists():
            raise ResultNotAvailableError(f"{self.folder} has no summary: no run finished there")
        return summary_mod.read(self._view.store)

    @property
    def tally(self) -> RunTally:
        """The folder's verdict (the latest run's, when it describes this schema)."""
        return self._view.tally()

    def __repr__(self) -> str:
        return f"<ezpipe folder {str(self.folder)!r}: {self.tally.describe()}>"


def open_folder(folder: str | os.PathLike[str]) -> FolderReader:
    """Open a pipeline folder read-only (``ezpipe.open``); FolderError when it is not one."""
    return FolderReader(folder)
