"""Reading the packed layout: the index from its snapshot and the packs' tails, and
verified frames.

:class:`PackReader` is what ``ezpipe status`` or a notebook uses; the
:class:`~ezpipe.store.packed.PackedBackend` of a run adds its writer. Every
read goes through the in-memory :class:`~ezpipe.store.index.Index`; a look-up
that misses rescans the packs' tails (one ``fstat`` per pack, a read of what
is new), so entries appended by other ranks are found as soon as they are
written; a pack that has gone (compacted) makes the reader load the new
snapshot.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from ..bulk import no_gc
from ..records import STATUS_BY_VALUE, Status, StepRecord
from . import pack
from .index import Index
from .layout import INDEX_FILE, PACK_SUFFIX, Layout, checksum
from .pack import Frame

log = logging.getLogger(__name__)

# Seconds a cache check may trust its last look at other writers' packs: a step's own
# record can only come from an earlier run (read on open), and every look costs an
# fstat per pack (a lock RPC on Lustre): at 1,000 ranks they must stay rare.
STALE_AFTER = 1.0

F = TypeVar("F", bound=Callable[..., Any])


def locked(method: F) -> F:
    """One thread at a time in a backend: rank 0's worker and its skip-record writer share
    one, and a reload closes the fds another read may be using."""

    @functools.wraps(method)
    def wrapper(self: PackReader, *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class PackReader:
    """The index of one packs folder and verified reads of its frames."""

    def __init__(self, layout: Layout, directory: Path | None = None) -> None:
        self.layout = layout
        self.path = directory or layout.packs  # another one while a migration writes
        self.dir = str(self.path)
        self.index_path = str(self.path / INDEX_FILE)
        self.index = Index()
        self._loaded = False
        self._fds: dict[str, int] = {}
        self._dir_mtime: int | None = None
        self._looked = 0.0  # monotonic time of the last refresh
        self._bad: set[str] = set()  # packs that could not be read (warned once)
        self._mutex = threading.RLock()

    # -- the index ------------------------------------------------------------------------------
    def _load(self) -> None:
        """The snapshot (if it verifies), then every pack's tail past it."""
        self._close_fds()
        self.index, self._dir_mtime = Index(), None
        try:
            data = Path(self.index_path).read_bytes()
        except FileNotFoundError:
            data = None
        except OSError as exc:
            log.warning("cannot read the store index %s: %s", self.index_path, exc)
            data = None
        if data is not None:
            self.index = Index.loads(data, self.index_path) or Index()
        self._loaded = True
        self.refresh(drop_missing=True)

    @locked
    def look(self) -> None:
        """Index what other writers appended since the last look (the end of a run)."""
        self._ensure()
        self.refresh()

    @locked
    def reload(self) -> None:
        """Forget what was read and read the snapshot and packs again (the writer stays)."""
        self._load()

    def _ensure(self) -> None:
        if not self._loaded:
            self._load()

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is None:
            fd = self._fds[name] = os.open(os.path.join(self.dir, name), os.O_RDONLY)
        return fd

    def refresh(self, *, drop_missing: bool = False) -> None:
        """Index what other writers appended since the last look."""
        self._looked = time.monotonic()
        try:
            mtime = os.stat(self.dir).st_mtime_ns
        except FileNotFoundError:
            return
        packs = list(self.index.scanned)
        if mtime != self._dir_mtime:
            self._dir_mtime = mtime
            listed = [n for n in os.listdir(self.dir) if n.endswith(PACK_SUFFIX)]
            for gone in set(packs) - set(listed):
                if drop_missing or gone not in self._fds:
                    self.index.forget_pack(gone)  # compacted away: its entries are elsewhere
            packs = sorted(set(listed) | set(self.index.scanned))
        for name in packs:
            self._scan(name)

    def _scan(self, name: str) -> None:
        start = self.index.scanned.get(name, 0)
        try:
            fd = self._fd(name)
            size = os.fstat(fd).st_size
            if size < start:
                log.warning("pack %s is shorter than the index says: scanning it again", name)
                self.index.forget_pack(name)
                start = 0
            if size == start:
                self.index.scanned.setdefault(name, start)
                return
            data = os.pread(fd, size - start, start)
        except FileNotFoundError:
            return
        except OSError as exc:  # not a file, unreadable: nothing of it is trusted
            if name not in self._bad:
                self._bad.add(name)
                log.warning("ignoring unreadable pack %s: %s", name, exc)
            return
        with no_gc():
            frames, end = pack.scan(data, start, name)
            for frame in frames:
                self.index.apply(name, frame)
        self.index.scanned[name] = end

    def _close_fds(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()

    def _lookup(self, name: str, key: str, *, look: str) -> tuple[str, Frame] | None:
        """The indexed entry. ``look``: "always" first takes in other writers' appends (a
        hit may be stale: cleared or rewritten since); "miss" does so on a miss only;
        "stale" on a miss only if the last look is older than STALE_AFTER."""
        self._ensure()
        if look == "always":
            self.refresh()
        found = self.index.entries.get((name, key))
        if found is None and (
            look == "miss" or (look == "stale" and time.monotonic() - self._looked > STALE_AFTER)
        ):
            self.refresh()
            found = self.index.entries.get((name, key))
        return found

    def _read(self, found: tuple[str, Frame]) -> tuple[StepRecord, bytes | None] | None:
        """The record and inline result bytes of an indexed frame, verified."""
        name, frame = found
        try:
            parts = pack.read_frame(self._fd(name), frame)
        except FileNotFoundError:  # compacted away since the index was read: read it again
            self._load()
            again = self.index.entries.get((frame.name, frame.key))
            if again is None or again[0] == name:
                return None
            return self._read(again)
        except OSError as exc:
            log.warning("cannot read pack %s: %s", name, exc)
            return None
        if parts is None:
            log.warning(
                "the entry of %s/%s at offset %d of pack %s does not verify: treating it as "
                "missing",
                frame.name,
                frame.key[:16],
                frame.offset,
                name,
            )
            return None
        try:
            record = StepRecord.model_validate_json(parts[0])
        except (ValidationError, ValueError) as exc:
            log.warning("ignoring unreadable step record in pack %s: %s", name, exc)
            return None
        if record.name != frame.name or record.key != frame.key:
            log.warning("ignoring a record of pack %s filed under another step", name)
            return None
        return record, parts[1]

    # -- reads ----------------------------------------------------------------------------------
    @locked
    def read_record(self, name: str, key: str, *, fresh: bool = True) -> StepRecord | None:
        found = self._lookup(name, key, look="always" if fresh else "stale")
        got = None if found is None else self._read(found)
        return None if got is None else got[0]

    @locked
    def read_verified(
        self, name: str, key: str, *, fresh: bool = True
    ) -> tuple[StepRecord, bytes | None] | None:
        found = self._lookup(name, key, look="always" if fresh else "stale")
        got = None if found is None else self._read(found)
        if got is None:
            return None
        record, inline = got
        if record.status != Status.PASSED:
            return record, None
        return record, self._verify(record, found[1], inline)  # type: ignore[index]

    @locked
    def read_result(self, record: StepRecord) -> bytes | None:
        found = self._lookup(record.name, record.key, look="miss")
        got = None if found is None else self._read(found)
        if got is None or got[0].checksum != record.checksum:
            log.warning("the result of %s/%s is no longer stored", record.name, record.key[:16])
            return None
        return self._verify(record, found[1], got[1])  # type: ignore[index]

    def _verify(self, record: StepRecord, frame: Frame, inline: bytes | None) -> bytes | None:
        where = f"{frame.name}/{frame.key[:16]}"
        if record.checksum is None:
            log.warning("record of %s has no checksum: not trusting its result", where)
            return None
        data = inline
        if frame.flags & pack.BLOB:
            path = os.path.join(self.dir, frame.blob)
            where = path
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                log.warning(
                    "cannot read result file %s although its record says passed: %s", path, exc
                )
                return None
        if data is None or checksum(data) != record.checksum:
            log.warning("result of %s does not match its checksum: treating it as missing", where)
            return None
        return data

    @locked
    def written_at(self, name: str, key: str) -> float | None:
        found = self._lookup(name, key, look="always")
        return None if found is None else found[1].ts / 1e9

    @locked
    def has_record(self, name: str, key: str) -> bool:
        return self._lookup(name, key, look="miss") is not None

    @locked
    def read_records(self, idents: Iterable[tuple[str, str]]) -> list[StepRecord | None]:
        with no_gc():
            return self._read_records(idents)

    def _read_records(self, idents: Iterable[tuple[str, str]]) -> list[StepRecord | None]:
        self._ensure()
        self.refresh()
        entries = self.index.entries
        wanted = [entries.get(i) for i in idents]
        needed: dict[str, int] = {}
        for found in wanted:
            if found is not None:
                needed[found[0]] = needed.get(found[0], 0) + found[1].size
        buffers: dict[str, tuple[int, bytes]] = {}
        for pack_name, size in needed.items():
            if size < self.index.scanned.get(pack_name, 0) // 8:
                continue  # a few of its frames (the failures of 100,000 steps): read one by one
            try:  # one read per pack, not one per step
                fd = self._fd(pack_name)
                buffers[pack_name] = (0, os.pread(fd, self.index.scanned.get(pack_name, 0), 0))
            except OSError:
                pass
        out: list[StepRecord | None] = []
        for found in wanted:
            if found is None:
                out.append(None)
                continue
            base, data = buffers.get(found[0], (0, b""))
            parts = pack.check(data, found[1].offset - base, found[1])
            if parts is None:
                got = self._read(found)  # a frame read alone, or the warning path
                out.append(None if got is None else got[0])
                continue
            try:
                out.append(StepRecord.model_validate_json(parts[0]))
            except (ValidationError, ValueError) as exc:
                log.warning("ignoring unreadable step record in pack %s: %s", found[0], exc)
                out.append(None)
        return out

    @locked
    def statuses(self, idents: Iterable[tuple[str, str]]) -> list[Status | None]:
        self._ensure()
        self.refresh()
        entries = self.index.entries
        with no_gc():
            found = [entries.get(i) for i in idents]
            return [None if f is None else STATUS_BY_VALUE[f[1].status] for f in found]

    @locked
    def records_of(self, name: str) -> list[StepRecord]:
        self._ensure()
        self.refresh()
        keys = list(self.index.by_name.get(name, ()))
        keys.sort(key=lambda k: self.index.entries[name, k][1].ts, reverse=True)
        return [r for r in self.read_records([(name, k) for k in keys]) if r is not None]

    @locked
    def entries(self) -> list[tuple[str, str]]:
        self._ensure()
        self.refresh()
        return list(self.index.entries)

    @locked
    def names(self) -> set[str]:
        self._ensure()
        self.refresh()
        return set(self.index.by_name)

    @locked
    def result_location(self, name: str, key: str) -> Path:
        self._ensure()
        found = self.index.entries.get((name, key))
        if found is None:
            return self.path
        if found[1].flags & pack.BLOB:
            return self.path / found[1].blob
        return self.path / found[0]

    @locked
    def record_location(self, name: str, key: str) -> Path:
        self._ensure()
        found = self.index.entries.get((name, key))
        return self.path if found is None else self.path / found[0]
