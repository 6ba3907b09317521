"""Compaction of the packed layout, and migration between layouts.

Both run with the folder lock held, so no run appends meanwhile; readers may
keep reading. Compaction writes the live entries to a new pack, fsyncs it,
replaces the index snapshot (temp + rename), and only then unlinks the old
packs: a reader that opened an old pack keeps reading it (POSIX keeps an
unlinked file's data while an fd is open), and one that had not finds it gone,
reads the new snapshot and finds every entry in the new pack. On NFS an
unlinked file another client holds open may return ESTALE: such a reader
reloads the index the same way (docs/store.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from typing import TYPE_CHECKING

from ..records import Status
from . import pack
from .folder_backend import FolderBackend
from .index import Index
from .layout import BLOB_SUFFIX, PACK_SUFFIX, RECORD_FILE, RESULT_FILE, writer_id
from .packed import PackedBackend

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compact(store: Store) -> dict[str, int]:
    """Rewrite live entries into one new pack; drop cleared, superseded and corrupt ones."""
    backend = store.backend
    if not isinstance(backend, PackedBackend):
        return {"entries": 0, "packs_removed": 0, "bytes_before": 0, "bytes_after": 0}
    backend.flush(snapshot=False)
    backend.reload()
    old = dict(backend.index.scanned)
    before = sum(_size(os.path.join(backend.dir, p)) for p in old)
    name = "compact-" + writer_id() + PACK_SUFFIX
    path = os.path.join(backend.dir, name)
    fresh = Index()
    fresh.generation, fresh.max_ts = backend.index.generation, backend.index.max_ts
    offset = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        live = sorted(backend.index.entries.values(), key=lambda pf: pf[1].ts)
        for pack_name, frame in live:
            try:
                data = os.pread(backend._fd(pack_name), frame.size, frame.offset)
            except OSError as exc:
                log.warning("compaction: cannot read pack %s: %s", pack_name, exc)
                continue
            parsed = pack.parse(data, 0, offset)
            if not isinstance(parsed, pack.Frame) or (parsed.name, parsed.key) != (
                frame.name,
                frame.key,
            ):
                log.warning("compaction: dropping an entry of %s that does not verify", frame.name)
                continue
            os.write(fd, data)
            fresh.apply(name, parsed)
            offset += len(data)
        os.fsync(fd)
    finally:
        os.close(fd)
    fresh.scanned[name] = offset
    _fsync_dir(backend.dir)
    fresh.save(backend.index_path, fsync=True)  # the commit point of the compaction
    referenced = {f.blob for _, f in fresh.entries.values() if f.blob}
    for old_pack in old:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(backend.dir, old_pack))
    for entry in os.listdir(backend.dir):
        if entry.endswith(BLOB_SUFFIX) and entry not in referenced:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(backend.dir, entry))
    backend.close()
    return {
        "entries": len(fresh.entries),
        "packs_removed": len(old),
        "bytes_before": before,
        "bytes_after": offset,
    }


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def migrate(store: Store, to: str = "packed") -> int:
    """Convert a folder between layouts; returns the number of entries moved.

    To packed: every record and verified result is appended to a pack in a
    side folder, which is renamed into place (``steps/.packs``) only when
    complete, so a crash midway leaves the per-step folder as it was; then the
    per-step files go (output logs stay). Records keep their order (their
    files' times become the frames' timestamps).
    """
    if to not in ("packed", "folder"):
        raise ValueError(f"unknown store layout {to!r}; use packed or folder")
    current = store.backend
    if current.layout_name == to:
        return 0
    layout = store.paths
    moved = 0
    if to == "packed":
        assert isinstance(current, FolderBackend)
        side = layout.steps / ".packs.migrating"
        shutil.rmtree(side, ignore_errors=True)
        side.mkdir(parents=True)
        target = PackedBackend(layout, fsync=True, directory=side)
        found = []
        for name, key in current.entries():
            record = current.read_record(name, key)
            if record is not None:
                found.append((current.mtime(name, key), record))
        for mtime, record in sorted(found, key=lambda t: t[0]):
            data = None
            if record.status == Status.PASSED:
                data = current.read_result(record)
                if data is None:
                    continue  # warned: recomputed by the next run
            target.commit(record, data, ts=int(mtime * 1e9))
            moved += 1
        target.flush(snapshot=True)
        target.close()
        _fsync_dir(str(side))
        os.rename(side, layout.packs)  # the commit point of the migration
        for _, record in found:
            for file in (RECORD_FILE, RESULT_FILE):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(layout.step_dir(record.name, record.key) / file)
        _remove_empty(layout.steps)
    else:
        assert isinstance(current, PackedBackend)
        folder = FolderBackend(layout, fsync=True)
        for name, key in current.entries():
            got = current.read_verified(name, key)
            if got is None or (got[0].status == Status.PASSED and got[1] is None):
                continue
            folder.commit(got[0].model_copy(update={"checksum": None}), got[1])
            moved += 1
        current.close()
        gone = layout.steps / ".packs.removed"
        os.rename(layout.packs, gone)  # the commit point: the folder is per-step from here
        shutil.rmtree(gone)
    store._backend = None
    store._requested = None
    return moved


def _remove_empty(root: os.PathLike[str]) -> None:
    for dirpath, _, _ in sorted(os.walk(root), key=lambda t: len(t[0]), reverse=True):
        if dirpath != os.fspath(root):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)  # only empty folders go
