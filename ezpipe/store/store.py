"""The :class:`Store`: every path under one pipeline folder, and the step entries.

Step entries (records and results) go through a backend: the packed layout
(the default: a few append-only files per run) or the per-step folder layout
(one folder and two files per step). A folder keeps the layout it was written
in: an existing per-step folder is read and written as it is until
:meth:`Store.migrate` converts it. Either way the record is the commit point
and names the sha256 of its result; nothing unverified is ever trusted.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cloudpickle
from pydantic import ValidationError

from ..errors import ResultNotAvailableError, StoreError
from ..options import env
from ..records import RunRecord, Status, StepRecord
from . import layout as L
from .backend import Backend
from .folder_backend import FolderBackend
from .layout import Layout, checksum, write_atomic
from .packed import PackedBackend

log = logging.getLogger(__name__)
OUTPUT_DIR = "output"

LAYOUTS = ("packed", "folder")
ENV_LAYOUT = "EZPIPE_STORE_LAYOUT"  # the layout of new folders (default: packed)
DEFAULT_LAYOUT = "packed"


class Store:
    """Owns every path under one pipeline folder; knows nothing about MPI.

    Creating one touches no disk: the layout is detected on first use.
    """

    def __init__(
        self, folder: str | os.PathLike[str], *, fsync: bool = False, layout: str | None = None
    ) -> None:
        if layout is not None and layout not in LAYOUTS:
            raise ValueError(f"unknown store layout {layout!r}; use one of: {', '.join(LAYOUTS)}")
        self.root = Path(folder).expanduser().absolute()
        self.fsync = fsync
        self.paths = Layout(self.root)
        self._requested = layout
        self._backend: Backend | None = None
        self._tentative: tuple[Backend, float] | None = None  # an empty folder's reader, briefly
        self._staged: tuple[str, str, bytes, str] | None = None  # write_result, then write_record

    # -- layout ---------------------------------------------------------------------------------
    def detect_layout(self) -> str:
        """The folder's layout: asked for, else as found on disk, else the default."""
        return self._detect()[0]

    def _detect(self) -> tuple[str, bool]:
        """(layout, whether the folder says so: not merely the default for a new one)."""
        if self._requested is not None:
            return self._requested, True
        if self.paths.packs.is_dir():
            return "packed", True
        try:
            with os.scandir(self.paths.steps) as entries:
                if any(e.name != L.PACKS_DIR and e.is_dir() for e in entries):
                    return "folder", True  # written in the per-step layout: read as it is
        except (FileNotFoundError, NotADirectoryError):
            pass
        default = (env(ENV_LAYOUT) or DEFAULT_LAYOUT).strip().lower()
        return (default if default in LAYOUTS else DEFAULT_LAYOUT), False

    def _make(self, layout: str) -> Backend:
        if layout == "packed":
            return PackedBackend(self.paths, fsync=self.fsync)
        return FolderBackend(self.paths, fsync=self.fsync)

    @property
    def backend(self) -> Backend:
        """The backend that writes (chosen once: what a folder says, else the default)."""
        if self._backend is None:
            self._backend = self._make(self.detect_layout())
        return self._backend

    @property
    def reader(self) -> Backend:
        """The backend that reads: while an empty folder has no layout yet (a reader that
        started before the run's first write), look again at every read."""
        if self._backend is None:
            tentative = self._tentative
            if tentative is not None and time.monotonic() < tentative[1]:
                return tentative[0]  # no folder less than a second ago
            layout, certain = self._detect()
            if not certain:
                backend = self._make(layout)
                if not self.root.exists():  # nothing to read at all: a dry run asks 100,000 times
                    self._tentative = (backend, time.monotonic() + 1.0)
                return backend
            self._backend = self._make(layout)
        return self._backend

    @property
    def layout(self) -> str:
        return self.reader.layout_name

    # -- paths ----------------------------------------------------------------------------------
    @property
    def schema_path(self) -> Path:
        return self.root / L.SCHEMA_FILE

    @property
    def step_table_path(self) -> Path:
        return self.root / L.STEP_TABLE_FILE

    @property
    def summary_path(self) -> Path:
        return self.root / L.SUMMARY_FILE

    @property
    def summary_json_path(self) -> Path:
        return self.root / L.SUMMARY_JSON_FILE

    @property
    def run_path(self) -> Path:
        return self.root / L.RUN_FILE

    @property
    def dry_run_path(self) -> Path:
        return self.root / L.DRY_RUN_FILE

    @property
    def lock_path(self) -> Path:
        return self.root / L.LOCK_FILE

    @property
    def jobs_path(self) -> Path:
        return self.root / L.JOBS_FILE

    @property
    def packs_path(self) -> Path:
        return self.paths.packs

    def step_root(self, name: str) -> Path:
        return self.paths.step_root(name)

    def step_dir(self, name: str, key: str) -> Path:
        """The step's own folder: its output log (both layouts), result and record (per-step)."""
        return self.paths.step_dir(name, key)

    def result_path(self, name: str, key: str) -> Path:
        """Where the result is: its own file, or (packed, small) the pack that holds it."""
        return self.reader.result_location(name, key)

    def record_path(self, name: str, key: str) -> Path:
        """Where the record is: ``record.json``, or (packed) the pack that holds it."""
        return self.reader.record_location(name, key)

    def log_path(self, name: str, key: str) -> Path:
        return self.paths.log_file(name, key)

    def output_dir(self, name: str, key: str) -> Path:
        """The step's own output folder (``output/`` in its step folder, beside its log);
        its attempts live beside it, see :mod:`ezpipe.outputs`."""
        return self.step_dir(name, key) / OUTPUT_DIR

    # -- folder ---------------------------------------------------------------------------------
    def create(self) -> None:
        """Create the folder (and parents); a clear error when that is impossible."""
        try:
            self.paths.steps.mkdir(parents=True, exist_ok=True)
            if self.backend.layout_name == "packed":  # marks it before any step writes a log
                self.paths.packs.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the pipeline folder {self.root}: {exc}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreError(f"the pipeline folder {self.root} is not writable")

    def write_text(self, path: Path, text: str) -> None:
        write_atomic(path, text.encode("utf-8"), fsync=self.fsync)

    def write_run_record(self, record: RunRecord) -> None:
        self.write_text(self.run_path, record.model_dump_json(indent=1))

    def read_run_record(self) -> RunRecord | None:
        """The latest run's record, or None when there is none (or it is unreadable)."""
        try:
            return RunRecord.model_validate_json(self.run_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError, ValueError) as exc:
            log.warning("ignoring unreadable run record %s: %s", self.run_path, exc)
            return None

    # -- writing entries --------------------------------------------------------------------------
    @staticmethod
    def dump(value: Any) -> bytes:
        """A result's bytes; raises whatever pickling raises, before touching disk."""
        return cloudpickle.dumps(value)

    def commit(self, record: StepRecord, result: bytes | None = None) -> StepRecord:
        """Store a step's record, and its result bytes if given, as one commit.

        The stored record names the result's sha256 (filled in here), its size and
        where it is; that record is returned. Packed: one append.
        """
        return self.backend.commit(record, result)

    def write_result(self, name: str, key: str, value: Any) -> tuple[Path, str, int]:
        """Pickle a result; returns its path, checksum and size (then call write_record).

        Packed: the bytes wait in memory for the record, so that both go in one
        append. Raises whatever pickling raises before touching disk.
        """
        data = self.dump(value)
        digest = checksum(data)
        backend = self.backend
        if isinstance(backend, FolderBackend):
            return backend.write_result(name, key, data), digest, len(data)
        self._staged = (name, key, data, digest)
        return self.packs_path, digest, len(data)

    def write_record(self, record: StepRecord) -> None:
        staged, self._staged = self._staged, None
        backend = self.backend
        if isinstance(backend, FolderBackend):
            backend.write_record(record)
            return
        if (
            staged is not None
            and staged[:2] == (record.name, record.key)
            and record.status == Status.PASSED
            and record.checksum == staged[3]
        ):
            backend.commit(record, staged[2])
            return
        backend.commit(record, None)

    # -- reading entries --------------------------------------------------------------------------
    def read_record(self, name: str, key: str, *, fresh: bool = True) -> StepRecord | None:
        """The step's record, or None when missing or unreadable (with a warning).

        ``fresh=False``: an entry already read may be returned without looking for a newer
        one (what another process stored since); a miss still looks, at most once a second.
        """
        return self.reader.read_record(name, key, fresh=fresh)

    def has_record(self, name: str, key: str) -> bool:
        return self.reader.has_record(name, key)

    def read_records(self, idents: Iterable[tuple[str, str]]) -> list[StepRecord | None]:
        """Records of many (name, key) at once, in order: one pass, for ``ezpipe status``."""
        return self.reader.read_records(idents)

    def statuses(self, idents: Iterable[tuple[str, str]]) -> list[Status | None]:
        """The status of each (name, key)'s record (None: none), as the index says it,
        without reading the records: ``ezpipe status`` of 100,000 passed steps."""
        return self.reader.statuses(idents)

    def records_of(self, name: str) -> list[StepRecord]:
        """Records of every key stored for a step name, newest first (older definitions too)."""
        return self.reader.records_of(name)

    def entries(self) -> list[tuple[str, str]]:
        """Every stored (name, key) (``clean --stale``)."""
        return self.reader.entries()

    def names(self) -> set[str]:
        """Every step name with something stored (unverified): whatever is not in it
        has no record of any key."""
        return self.reader.names()

    def written_at(self, name: str, key: str) -> float | None:
        """When the step's record was stored (epoch seconds), or None without one."""
        return self.reader.written_at(name, key)

    def read_result_bytes(self, record: StepRecord) -> bytes | None:
        """The result's bytes if they match the record's checksum, else None (warned)."""
        return self.reader.read_result(record)

    def valid_record(self, name: str, key: str, *, fresh: bool = True) -> StepRecord | None:
        """The record if it says passed and its result verifies, or if it says failed.

        ``fresh=False`` (the engine's cache check, once per step): a miss may trust the
        last look at other ranks' appends, up to a second old: this run's own steps are
        never in the cache before they run, and a look costs an fstat per pack.
        """
        got = self.reader.read_verified(name, key, fresh=fresh)
        if got is None or got[0].status not in (Status.PASSED, Status.FAILED):
            return None
        if got[0].status == Status.PASSED and got[1] is None:
            return None
        return got[0]

    def passed_bytes(self, name: str, key: str) -> bytes:
        """The verified pickled result of a passed step, or an error that says why not."""
        # A passed result of this key is right whenever it was stored (keys name the
        # definition): only a miss or another outcome asks for a fresher look.
        record = self.read_record(name, key, fresh=False)
        if record is None or record.status != Status.PASSED:
            record = self.read_record(name, key)
        if record is None and isinstance(self.reader, PackedBackend):
            self.reader.reload()  # a miss after a rescan: reopen everything (NFS), once
            record = self.read_record(name, key)
        if record is None:
            raise ResultNotAvailableError(
                f"step {name!r} has no result for its current definition in {self.root}: "
                "it has not been run (call execute())"
            )
        if record.status == Status.FAILED:
            raise ResultNotAvailableError(
                f"step {name!r} failed on rank {record.rank}: {record.error_message}"
            )
        if record.status == Status.SKIPPED:
            raise ResultNotAvailableError(
                f"step {name!r} was skipped because upstream step "
                f"{record.skipped_because!r} did not pass"
            )
        data = self.read_result_bytes(record)
        if data is None:
            raise ResultNotAvailableError(
                f"the result of step {name!r} at {self.result_path(name, key)} is missing or "
                "corrupt (the next run recomputes it)"
            )
        return data

    def load_result(self, name: str, key: str) -> Any:
        """The unpickled result of a passed step, or :class:`ResultNotAvailableError`."""
        return cloudpickle.loads(self.passed_bytes(name, key))

    # -- removing, maintenance ------------------------------------------------------------------
    def clear(self, name: str, key: str | None = None) -> bool:
        """Delete one entry (or every key of a step); True if anything was removed.

        Packed: a tombstone (the space comes back with :meth:`compact`), and the
        step's folder of output logs goes.
        """
        removed = self.backend.clear(name, key)
        if isinstance(self.backend, PackedBackend):
            path = self.step_root(name) if key is None else self.step_dir(name, key)
            if path.exists():
                shutil.rmtree(path)
                removed = True
        return removed

    def look(self) -> None:
        """Take in what other processes stored since the last look (every rank at the end
        of a run: ``get_result`` and ``lookup`` then see every rank's steps)."""
        reader = self.reader
        if isinstance(reader, PackedBackend):
            reader.look()

    def flush(self, *, snapshot: bool = False) -> None:
        """This process's commits on disk (when fsync is on); ``snapshot``: also write the
        resume index (rank 0, at the end of a run)."""
        if self._backend is not None:
            self._backend.flush(snapshot=snapshot)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    def compact(self) -> dict[str, int]:
        """Rewrite the live entries into one pack, dropping cleared and superseded ones.

        Call it with the folder lock held (no run writing); readers may go on reading.
        """
        from .maintain import compact

        return compact(self)

    def migrate(self, to: str = "packed") -> int:
        """Convert the folder to the ``to`` layout; the number of entries moved.

        Call it with the folder lock held. Output logs stay where they are.
        """
        from .maintain import migrate

        return migrate(self, to)
