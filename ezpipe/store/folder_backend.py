"""The per-step layout: ``steps/<name>/<key16>/{result.pkl,record.json}``.

Every file is written to a unique temporary name in its final folder and
renamed into place, so a reader sees the old file or the new one, never half
of one. The record is written after the result and is the commit point.
Costs two folders and two files per step: fine for hundreds of steps, slow on
a parallel file system for many thousands (see docs/store.md).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from ..records import Status, StepRecord
from .layout import PACKS_DIR, RECORD_FILE, Layout, checksum, write_atomic

log = logging.getLogger(__name__)


class FolderBackend:
    layout_name = "folder"

    def __init__(self, layout: Layout, *, fsync: bool) -> None:
        self.layout = layout
        self.fsync = fsync

    def commit(self, record: StepRecord, result: bytes | None) -> StepRecord:
        if result is not None:
            digest = checksum(result)
            if record.checksum not in (None, digest):
                raise ValueError(f"the record of {record.name!r} names another result's checksum")
            path = self.write_result(record.name, record.key, result)
            update = {"checksum": digest, "result_bytes": len(result), "result_path": str(path)}
            record = record.model_copy(update=update)
        self.write_record(record)
        return record

    def write_result(self, name: str, key: str, data: bytes) -> Path:
        path = self.layout.result_file(name, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data, fsync=self.fsync)
        return path

    def write_record(self, record: StepRecord) -> None:
        path = self.layout.record_file(record.name, record.key)
        data = record.model_dump_json(indent=1).encode()
        try:  # the folder usually exists: the result was written there just before
            write_atomic(path, data, fsync=self.fsync)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, fsync=self.fsync)

    def read_record(self, name: str, key: str, *, fresh: bool = True) -> StepRecord | None:
        path = self.layout.record_file(name, key)
        try:
            record = StepRecord.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError, ValueError) as exc:
            log.warning("ignoring unreadable step record %s: %s", path, exc)
            return None
        if record.name != name or record.key[: len(key)] != key:  # copied from another entry
            log.warning("ignoring step record %s: it describes another step or key", path)
            return None
        return record

    def read_result(self, record: StepRecord) -> bytes | None:
        path = self.layout.result_file(record.name, record.key)
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

    def read_verified(
        self, name: str, key: str, *, fresh: bool = True
    ) -> tuple[StepRecord, bytes | None] | None:
        record = self.read_record(name, key)
        if record is None:
            return None
        data = self.read_result(record) if record.status == Status.PASSED else None
        return record, data

    def has_record(self, name: str, key: str) -> bool:
        return self.layout.record_file(name, key).exists()

    def read_records(self, idents: Iterable[tuple[str, str]]) -> list[StepRecord | None]:
        return [self.read_record(name, key) for name, key in idents]

    def records_of(self, name: str) -> list[StepRecord]:
        root = self.layout.step_root(name)
        found: list[tuple[float, StepRecord]] = []
        for path in root.glob(f"*/{RECORD_FILE}") if root.exists() else ():
            # Folder names hold the first 16 hex digits of the key: a valid key for lookup.
            record = self.read_record(name, path.parent.name)
            if record is not None:
                found.append((path.stat().st_mtime, record))
        return [r for _, r in sorted(found, key=lambda t: t[0], reverse=True)]

    def entries(self) -> list[tuple[str, str]]:
        out = []
        steps = self.layout.steps
        for path in steps.glob(f"*/*/{RECORD_FILE}") if steps.exists() else ():
            record = self.read_record(path.parent.parent.name, path.parent.name)
            if record is not None:
                out.append((record.name, record.key))
        return out

    def statuses(self, idents: Iterable[tuple[str, str]]) -> list[Status | None]:
        return [None if r is None else r.status for r in self.read_records(idents)]

    def names(self) -> set[str]:
        try:
            with os.scandir(self.layout.steps) as found:
                return {e.name for e in found if e.name != PACKS_DIR and e.is_dir()}
        except (FileNotFoundError, NotADirectoryError):
            return set()

    def clear(self, name: str, key: str | None) -> bool:
        path = self.layout.step_root(name) if key is None else self.layout.step_dir(name, key)
        if not path.exists():
            return False
        shutil.rmtree(path)
        return True

    def result_location(self, name: str, key: str) -> Path:
        return self.layout.result_file(name, key)

    def record_location(self, name: str, key: str) -> Path:
        return self.layout.record_file(name, key)

    def flush(self, *, snapshot: bool) -> None:
        return None

    def close(self) -> None:
        return None

    def mtime(self, name: str, key: str) -> float:
        return os.stat(self.layout.record_file(name, key)).st_mtime

    def written_at(self, name: str, key: str) -> float | None:
        try:
            return self.mtime(name, key)
        except FileNotFoundError:
            return None
