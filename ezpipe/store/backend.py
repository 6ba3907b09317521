"""What a storage backend does: commit, find and clear step entries.

The :class:`~ezpipe.store.Store` facade owns the folder's other files, pickling
and the error messages; a backend only keeps (name, key) -> record (+ result
bytes). Two exist: the per-step folder layout (one folder and two files per
step, the original) and the packed layout (a few append-only files per run).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from ..records import Status, StepRecord


class Backend(Protocol):
    layout_name: str

    def commit(self, record: StepRecord, result: bytes | None) -> StepRecord:
        """Store the record (and its result: the record names its sha256) as one commit;
        returns the record as stored (``result_path`` filled in)."""
        ...

    def read_record(self, name: str, key: str, *, fresh: bool = True) -> StepRecord | None:
        """The latest record of (name, key), or None. ``fresh``: take in what other
        processes stored since the last look first; else only on a miss, at most once a
        second (packed: an in-memory hit may be a cleared or rewritten entry)."""
        ...

    def read_verified(
        self, name: str, key: str, *, fresh: bool = True
    ) -> tuple[StepRecord, bytes | None] | None:
        """The record and, when it says passed, its verified result bytes (None if they
        are missing or do not match); None when there is no record. ``fresh=False``: a
        miss may trust the last look at other writers' appends (the engine's cache check)."""
        ...

    def read_result(self, record: StepRecord) -> bytes | None:
        """The result bytes of a passed record if they verify, else None (warned)."""
        ...

    def has_record(self, name: str, key: str) -> bool: ...

    def written_at(self, name: str, key: str) -> float | None:
        """When the record was stored: a file's time, or the frame's timestamp."""
        ...

    def read_records(self, idents: Iterable[tuple[str, str]]) -> list[StepRecord | None]:
        """Many records at once (``ezpipe status``): one pass over the storage."""
        ...

    def statuses(self, idents: Iterable[tuple[str, str]]) -> list[Status | None]:
        """The status of each (name, key)'s record, None without one, as the index has it
        (packed: the snapshot is checksummed and appended frames verified when scanned;
        a record is verified when it is read). ``ezpipe status`` of 100,000 steps."""
        ...

    def records_of(self, name: str) -> list[StepRecord]:
        """Every stored key of a step name, newest first."""
        ...

    def entries(self) -> list[tuple[str, str]]:
        """Every (name, key) with a record."""
        ...

    def names(self) -> set[str]:
        """Every step name with something stored (unverified: a superset is fine), so
        that a dry run of a new sweep asks nothing about its 100,000 new steps."""
        ...

    def clear(self, name: str, key: str | None) -> bool: ...

    def result_location(self, name: str, key: str) -> Path: ...

    def record_location(self, name: str, key: str) -> Path: ...

    def flush(self, *, snapshot: bool) -> None:
        """Everything committed on disk (grouped fsync) and, if asked, an index snapshot."""
        ...

    def close(self) -> None: ...
