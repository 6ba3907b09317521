"""The cache folder: every path, atomic writes, records, verified reads.

Layout of a pipeline folder::

    pipeline.schema             JSON: phases and their steps (rank 0, each freeze)
    pipeline.summary            text: outcome and the summary table
    pipeline.summary.json       the same table, machine-readable
    steps/<name>/<key16>/result.pkl    cloudpickle of the result
    steps/<name>/<key16>/record.json   StepRecord: status, rank, times, checksum, error
    steps/<name>/<key16>/output.log    the step's captured stdout and stderr (if it wrote any)
    steps/<name>/<key16>/output/       the step's own files (steps with an output_dir)
    run.json                    RunRecord of the latest run: times, ranks, hosts, versions
    pipeline.dryrun             the report of the latest dry run (nothing else is written)

Results of every definition are kept under their own key, so changing a step
never overwrites what an earlier definition computed. Every file is written to
a unique temporary name in its final folder and renamed into place, so a
reader sees the old file or the new one, never half of one. The record is
written after the result and is the commit point: a result without a matching
record (checksum included) is never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import Any

import cloudpickle
from pydantic import ValidationError

from .errors import ResultNotAvailableError, StoreError
from .keys import KEY_LENGTH
from .records import RunRecord, Status, StepRecord

log = logging.getLogger(__name__)

SCHEMA_FILE = "pipeline.schema"
SUMMARY_FILE = "pipeline.summary"
SUMMARY_JSON_FILE = "pipeline.summary.json"
STEPS_DIR = "steps"
RESULT_FILE = "result.pkl"
RECORD_FILE = "record.json"
LOG_FILE = "output.log"
OUTPUT_DIR = "output"
RUN_FILE = "run.json"
DRY_RUN_FILE = "pipeline.dryrun"
LOCK_FILE = ".ezpipe.lock"
JOBS_FILE = "slurm_jobs.json"

_HOST = socket.gethostname()


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    folder, name = os.path.split(path)  # strings: pathlib costs ~10 us per operation
    tmp = os.path.join(folder, f".{name}.{_HOST}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class Store:
    """Owns every path under one pipeline folder; knows nothing about MPI."""

    def __init__(self, folder: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.root = Path(folder).expanduser().absolute()
        self.fsync = fsync
        self._dirs: dict[tuple[str, str], Path] = {}  # step folders, built once (pathlib is slow)

    # -- paths ----------------------------------------------------------------------------------
    @property
    def schema_path(self) -> Path:
        return self.root / SCHEMA_FILE

    @property
    def summary_path(self) -> Path:
        return self.root / SUMMARY_FILE

    @property
    def summary_json_path(self) -> Path:
        return self.root / SUMMARY_JSON_FILE

    @property
    def run_path(self) -> Path:
        return self.root / RUN_FILE

    @property
    def dry_run_path(self) -> Path:
        return self.root / DRY_RUN_FILE

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def jobs_path(self) -> Path:
        return self.root / JOBS_FILE

    def step_root(self, name: str) -> Path:
        return self.root / STEPS_DIR / name

    def step_dir(self, name: str, key: str) -> Path:
        folder = self._dirs.get((name, key))
        if folder is None:
            if len(self._dirs) >= 100_000:
                self._dirs.clear()
            folder = self._dirs[name, key] = self.step_root(name) / key[:KEY_LENGTH]
        return folder

    def result_path(self, name: str, key: str) -> Path:
        return self.step_dir(name, key) / RESULT_FILE

    def record_path(self, name: str, key: str) -> Path:
        return self.step_dir(name, key) / RECORD_FILE

    def log_path(self, name: str, key: str) -> Path:
        return self.step_dir(name, key) / LOG_FILE

    def output_dir(self, name: str, key: str) -> Path:
        """The step's own output folder (``output/`` beside its record); its attempts
        live beside it, see :mod:`ezpipe.outputs`."""
        return self.step_dir(name, key) / OUTPUT_DIR

    # -- folder ---------------------------------------------------------------------------------
    def create(self) -> None:
        """Create the folder (and parents); a clear error when that is impossible."""
        try:
            (self.root / STEPS_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the pipeline folder {self.root}: {exc}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreError(f"the pipeline folder {self.root} is not writable")

    def write_text(self, path: Path, text: str) -> None:
        write_atomic(path, text.encode("utf-8"), fsync=self.fsync)

    # -- results and records ----------------------------------------------------------------------
    def write_result(self, name: str, key: str, value: Any) -> tuple[Path, str, int]:
        """Pickle and store a result; returns its path, checksum and size.

        Raises whatever pickling raises (an unpicklable result) before touching disk.
        """
        data = cloudpickle.dumps(value)
        path = self.result_path(name, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data, fsync=self.fsync)
        return path, checksum(data), len(data)

    def write_record(self, record: StepRecord) -> None:
        path = self.record_path(record.name, record.key)
        data = record.model_dump_json(indent=1).encode()
        try:  # the folder usually exists: the result was written there just before
            write_atomic(path, data, fsync=self.fsync)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, fsync=self.fsync)

    def read_record(self, name: str, key: str) -> StepRecord | None:
        """The step's record, or None when missing or unreadable (with a warning)."""
        path = self.record_path(name, key)
        try:
            return StepRecord.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError, ValueError) as exc:
            log.warning("ignoring unreadable step record %s: %s", path, exc)
            return None

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

    def read_result_bytes(self, record: StepRecord) -> bytes | None:
        """The result's bytes if they match the record's checksum, else None (warned)."""
        path = self.result_path(record.name, record.key)
        if record.checksum is None:
            log.warning("record of %s has no checksum: not trusting its result", path)
            return None
        try:
            data = path.read_bytes()
        except OSError as exc:
            log.warning("cannot read result file %s although its record says passed: %s", path, exc)
            return None
        if checksum(data) != record.checksum:
            log.warning("result file %s does not match its checksum: treating it as missing", path)
            return None
        return data

    def valid_record(self, name: str, key: str) -> StepRecord | None:
        """The record if it says passed and its result verifies, or if it says failed."""
        record = self.read_record(name, key)
        if record is None or record.status not in (Status.PASSED, Status.FAILED):
            return None
        if record.status == Status.PASSED and self.read_result_bytes(record) is None:
            return None
        return record

    def passed_bytes(self, name: str, key: str) -> bytes:
        """The verified pickled result of a passed step, or an error that says why not."""
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

    def clear(self, name: str, key: str | None = None) -> bool:
        """Delete one entry (or every key of a step); True if anything was removed."""
        path = self.step_root(name) if key is None else self.step_dir(name, key)
        if not path.exists():
            return False
        shutil.rmtree(path)
        return True
