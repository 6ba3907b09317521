"""The packed layout: each writer process appends commits to its own pack file.

A run writes one pack per rank, one index snapshot and one file per large
result, whatever its number of steps (docs/store.md). Reading is
:class:`~ezpipe.store.reader.PackReader`'s; this adds the writer: one append
per commit, tombstones for clears, index snapshots.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from ..records import StepRecord
from . import pack
from .layout import (
    NFS_TYPES,
    PACK_SUFFIX,
    Layout,
    checksum,
    filesystem_type,
    write_atomic,
    writer_id,
)
from .pack import COMMIT, TOMBSTONE, TOMBSTONE_NAME, PackWriter
from .reader import STALE_AFTER, PackReader, locked

__all__ = ["LARGE_RESULT", "STALE_AFTER", "PackedBackend"]

LARGE_RESULT = 512 << 10  # bytes; larger results get their own file (docs/store.md: measured)
SNAPSHOT_EVERY = 50_000  # own commits between two index snapshots written by a writer


class PackedBackend(PackReader):
    layout_name = "packed"

    def __init__(
        self,
        layout: Layout,
        *,
        fsync: bool,
        large: int = LARGE_RESULT,
        directory: Path | None = None,
    ) -> None:
        super().__init__(layout, directory)
        self.fsync = fsync
        self.large = large
        self._writer: PackWriter | None = None
        self._pack_name = ""
        self._pack_path = ""
        self._since_snapshot = 0

    # -- writes ---------------------------------------------------------------------------------
    def _ensure_writer(self) -> PackWriter:
        self._ensure()
        if self._writer is None:
            os.makedirs(self.dir, exist_ok=True)
            self._pack_name = writer_id() + PACK_SUFFIX
            self._pack_path = os.path.join(self.dir, self._pack_name)
            nfs = filesystem_type(self.dir) in NFS_TYPES
            self._writer = PackWriter(self._pack_path, fsync=self.fsync, flush_each=nfs)
        return self._writer

    def _append(
        self, kind: int, name: str, key: str, ts: int | None = None, **fields: object
    ) -> None:
        writer = self._ensure_writer()
        if ts is None:
            ts = max(time.time_ns(), self.index.max_ts + 1)  # never behind what was read
        data, frame = pack.encode(kind, name, key, ts=ts, **fields)  # type: ignore[arg-type]
        offset = writer.append(data)
        frame = frame._replace(offset=offset) if offset else frame
        self.index.apply(self._pack_name, frame)
        if self.index.scanned.get(self._pack_name, 0) == offset:
            self.index.scanned[self._pack_name] = offset + len(data)
        self._since_snapshot += 1
        if self._since_snapshot >= SNAPSHOT_EVERY:
            self.flush(snapshot=True)

    @locked
    def commit(self, record: StepRecord, result: bytes | None, ts: int | None = None) -> StepRecord:
        """One append: the record (naming its result's sha256) and the result with it, or
        the result in a file of its own first when it is large.

        Fills in the record's checksum, result size and location (a fresh record from
        the engine: no copy, as this runs once per step)."""
        self._ensure_writer()
        blob = ""
        if result is not None:
            digest = checksum(result)
            if record.checksum not in (None, digest):
                raise ValueError(f"the record of {record.name!r} names another result's checksum")
            if len(result) > self.large:
                blob = self.layout.blob_name(record.name, record.key)
                write_atomic(os.path.join(self.dir, blob), result, fsync=self.fsync)
            record.checksum = digest
            record.result_bytes = len(result)
            record.result_path = os.path.join(self.dir, blob) if blob else self._pack_path
        self._append(
            COMMIT,
            record.name,
            record.key,
            ts,
            status=int(record.status),
            record=record.model_dump_json().encode(),
            result=None if blob else result,
            blob=blob,
            result_len=len(result) if result is not None else 0,
        )
        return record

    @locked
    def clear(self, name: str, key: str | None) -> bool:
        self._ensure()
        self.refresh()
        idents = (
            [(name, key)]
            if key is not None
            else [(name, k) for k in self.index.by_name.get(name, ())]
        )
        live = [self.index.entries[i] for i in idents if i in self.index.entries]
        if live:
            self._append(TOMBSTONE if key is not None else TOMBSTONE_NAME, name, key or "")
            for _, frame in live:  # large results: their space back at once
                if frame.flags & pack.BLOB:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(self.dir, frame.blob))
        return bool(live)

    @locked
    def flush(self, *, snapshot: bool) -> None:
        if self._writer is not None:
            self._writer.sync()
        if snapshot and self._loaded:
            self.refresh()
            os.makedirs(self.dir, exist_ok=True)
            self.index.save(self.index_path, fsync=self.fsync)
            self._since_snapshot = 0

    @locked
    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._pack_name = ""
        self._close_fds()
        self._loaded = False
