"""A pipeline folder read from its files alone, for the ``ezpipe`` commands.

The commands cannot import the user's script, so everything comes from
``pipeline.schema`` (steps, phases, dependencies, keys), each step's
record (read through the store, in one pass), ``run.json`` and, when it belongs to the latest run,
``pipeline.summary.json`` (which says which steps came from the cache). A run
in progress or a crashed run has records but no fresh summary; both are shown.
No pandas here: reading a folder of 100,000 records stays quick.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_core import from_json

from . import steptable
from .bulk import no_gc
from .errors import EzpipeError
from .records import (
    STATUS_BY_VALUE,
    RunRecord,
    RunTally,
    Status,
    StepOutcome,
    StepRecord,
    skipped_error,
)
from .store import STEPS_DIR, Store

log = logging.getLogger(__name__)
_NOT_RUN = Status.NOT_RUN  # a module name: 8 ns a look-up, a member of the class 70 ns
_PASSED = Status.PASSED


class FolderError(EzpipeError, FileNotFoundError):
    """The folder is not a pipeline folder (no ``pipeline.schema``)."""


@dataclass(slots=True)
class StepView:
    """One step of the schema and what the folder knows about it."""

    name: str
    function: str
    phase: int
    depends_on: list[str]
    key: str
    record: StepRecord | None = None  # None also when only its status was read (``stored``)
    stored: Status | None = None  # the status of the step's verified record; None: none
    cached: bool | None = None  # None: unknown (no summary of the latest run)
    latest: Status | None = None  # the latest run's outcome, when its summary is there
    latest_error: str | None = None

    def __post_init__(self) -> None:
        if self.record is not None and self.stored is None:
            self.stored = self.record.status

    @property
    def status(self) -> Status:
        """The latest run's outcome if known (a skip keeps an earlier record), else the
        record's (``ezpipe status`` asks 100,000 steps, once per column: kept cheap)."""
        latest = self.latest
        if latest is not None and latest is not _NOT_RUN:
            return latest
        return _NOT_RUN if self.stored is None else self.stored


@dataclass
class FolderView:
    store: Store
    pipeline: str  # its name, as the schema says
    steps: list[StepView]
    run: RunRecord | None
    summary_is_current: bool
    document: dict[str, Any] | None = None  # ``pipeline.schema`` parsed, once it was asked for
    by_name: dict[str, StepView] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {s.name: s for s in self.steps}

    @property
    def schema(self) -> dict[str, Any]:
        """``pipeline.schema``, parsed when first asked (``ezpipe why`` wants the parts of
        keys; the steps came from the step table, a tenth of the parse)."""
        if self.document is None:
            self.document = _read_schema(self.store)
        return self.document

    @property
    def phases(self) -> list[list[StepView]]:
        out: list[list[StepView]] = []
        for step in self.steps:
            while len(out) <= step.phase:
                out.append([])
            out[step.phase].append(step)
        return out

    def tally(self) -> RunTally:
        """The folder's verdict: the latest run's, when its summary is current and it ran
        this schema, else one read off the steps (every step counted as asked for)."""
        run = self.run
        if self.summary_is_current and run is not None and run.verdict is not None:
            recorded = RunTally.from_dict(run.verdict)
            if recorded.total == len(self.steps):
                return recorded
        outcomes = [StepOutcome(status=s.status, cached=bool(s.cached)) for s in self.steps]
        return RunTally.of(outcomes)

    def read_outcomes(self) -> None:
        """The latest run's outcome of each step, from its summary when that is current
        (what a ``records=False`` load leaves unread: its 100,000 rows cost a third)."""
        if not self.summary_is_current:
            return
        with no_gc():
            rows = _summary_rows(self.store)
            for step in self.steps:
                row = rows.get(step.name)
                if row is not None:
                    step.cached = bool(row.get("cached"))
                    step.latest = STATUS_BY_VALUE.get(row.get("status", -1), _NOT_RUN)
                    step.latest_error = row.get("error")

    def read_not_passed(self) -> bool:
        """The latest run's failed and skipped steps, from ``run.json`` (a finished run
        lists them); False when it lists none (a run of an older ezpipe): read the
        summary then (:meth:`read_outcomes`)."""
        run = self.run
        if not self.summary_is_current or run is None or run.not_passed is None:
            return False
        for name, (status, cause, cached) in run.not_passed.items():
            step = self.by_name.get(name)
            if step is not None:
                step.latest = STATUS_BY_VALUE.get(status, _NOT_RUN)
                step.cached = cached
                if cause is not None:
                    step.latest_error = skipped_error(cause)
        return True

    def read_records(self, steps: list[StepView]) -> None:
        """Read the records of those of ``steps`` that a ``records=False`` load left out."""
        with no_gc():
            _fill(self.store, [s for s in steps if s.record is None and s.stored is not None])

    def counts(self) -> dict[Status, int]:
        counts = dict.fromkeys(Status, 0)
        for step in self.steps:
            counts[step.status] += 1
        return counts

    def downstream(self, names: list[str]) -> list[str]:
        """The named steps and every step that depends on them, in schema order."""
        children: dict[str, list[str]] = {s.name: [] for s in self.steps}
        for step in self.steps:
            for dep in step.depends_on:
                children.setdefault(dep, []).append(step.name)
        seen, todo = set(names), list(names)  # no networkx here: `ezpipe clean` stays quick
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return [s.name for s in self.steps if s.name in seen]

    def resolve(self, path: str | None) -> str | None:
        """A path a record stored, valid here: when the folder was moved since (the stored
        absolute path is gone), the same file under this folder's ``steps/``."""
        return relocate(self.store.root, path)

    def run_state(self) -> str:
        """``finished``, ``running``, ``crashed``, ``running or crashed`` or ``never run``."""
        run = self.run
        if run is None:
            return "never run"
        if run.end is not None:
            return "finished"
        if run.host == socket.gethostname():
            return "running" if _alive(run.pid) else "crashed"
        return "running or crashed"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load(folder: str | os.PathLike[str], *, records: bool = True) -> FolderView:
    """Read a pipeline folder; :class:`FolderError` when it is not one.

    ``records=False``: of a step whose record says passed, only that status is read
    (from the store's index), and the latest run's summary is not read:
    :meth:`FolderView.read_records` and :meth:`FolderView.read_outcomes` read them
    when they are wanted after all (``ezpipe status`` of 100,000 steps in a second).
    """
    with no_gc():  # 100,000s of small objects and no cycles: collections would triple the time
        return _load(folder, records)


def _load(folder: str | os.PathLike[str], records: bool) -> FolderView:
    store = Store(folder)
    try:
        table = steptable.read(store.step_table_path, store.schema_path)
    except FileNotFoundError:
        table = None  # no schema: _read_schema says so
    if table is not None:
        pipeline, document = table.pipeline, None
        columns = (table.names, table.functions, table.phases, table.depends_on, table.keys)
        steps = [StepView(n, f, p, d, k) for n, f, p, d, k in zip(*columns, strict=True)]
    else:
        document = _read_schema(store)
        pipeline = str(document.get("pipeline", ""))
        steps = _schema_steps(document)
    if records or store.layout == "folder":  # a per-step folder has no index: read once
        _fill(store, steps)
    else:
        for step, status in zip(
            steps, store.statuses([(s.name, s.key) for s in steps]), strict=True
        ):
            step.stored = status
        _fill(store, [s for s in steps if s.stored is not None and s.stored is not _PASSED])
    run = store.read_run_record()
    view = FolderView(store, pipeline, steps, run, _summary_is_current(store, run), document)
    if records:
        view.read_outcomes()
    return view


def _read_schema(store: Store) -> dict[str, Any]:
    try:
        return from_json(store.schema_path.read_bytes(), cache_strings="keys")  # type: ignore[no-any-return]
    except FileNotFoundError:
        if not store.root.exists():
            raise FolderError(f"no such folder: {store.root}") from None
        raise FolderError(
            f"{store.root} is not a pipeline folder (no {store.schema_path.name}; "
            "has the pipeline run?)"
        ) from None
    except ValueError as exc:
        raise FolderError(f"cannot read {store.schema_path}: {exc}") from None


def _schema_steps(schema: dict[str, Any]) -> list[StepView]:
    """The schema's steps, phase by phase (a folder without a current step table)."""
    entries = [
        (int(phase), entry)
        for phase, group in sorted(schema.get("phases", {}).items(), key=lambda kv: int(kv[0]))
        for entry in group
    ]
    return [
        StepView(
            name=entry["name"],
            function=entry.get("function", ""),
            phase=phase,
            depends_on=entry.get("depends_on", []),
            key=entry["key"],
        )
        for phase, entry in entries
    ]


def _fill(store: Store, steps: list[StepView]) -> None:
    """Read the records of ``steps`` in one pass."""
    for step, record in zip(
        steps, store.read_records([(s.name, s.key) for s in steps]), strict=True
    ):
        step.record = record
        step.stored = None if record is None else record.status


def relocate(root: Path, path: str | None) -> str | None:
    """``path`` if it exists, else the same file under ``root/steps`` when that exists.

    Records store absolute paths; after ``mv old new`` they point into ``old``.
    """
    if not path or os.path.exists(path):
        return path
    marker = f"{os.sep}{STEPS_DIR}{os.sep}"
    cut = path.rfind(marker)
    if cut < 0:
        return path
    moved = os.path.join(str(root), path[cut + 1 :])
    return moved if os.path.exists(moved) else path


def _summary_is_current(store: Store, run: RunRecord | None) -> bool:
    try:
        mtime = store.summary_json_path.stat().st_mtime
    except FileNotFoundError:
        return False
    return run is None or (run.end is not None and mtime >= run.start)


def _summary_rows(store: Store) -> dict[str, dict[str, Any]]:
    try:
        rows = from_json(store.summary_json_path.read_bytes(), cache_strings="keys")
    except (OSError, ValueError):
        return {}
    return {row["name"]: row for row in rows if isinstance(row, dict) and "name" in row}
