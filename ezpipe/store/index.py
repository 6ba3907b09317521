"""The resume index: which frame holds each step's latest record, and its snapshots.

In memory, the index maps (name, key) to the latest commit frame that no
tombstone has cleared, ordered by the frames' logical timestamps (a writer's
clock never runs behind anything it has read), so applying frames from many
packs in any order gives the same answer. A snapshot (``steps/.packs/index``)
stores that map plus how far each pack was scanned; it is written to a
temporary name and renamed, and carries a checksum: a snapshot that does not
verify is ignored with a warning and the packs are scanned instead. Frames past
a snapshot's offsets (a run killed before it wrote one) are found by scanning
the packs' tails. A snapshot only ever points at frames, and every frame is
verified again when read, so a wrong snapshot can hide an entry, never make
one up.
"""

from __future__ import annotations

import json
import logging
import struct
import zlib

from ..bulk import no_gc
from .layout import write_atomic
from .pack import COMMIT, TOMBSTONE, TOMBSTONE_NAME, Frame

log = logging.getLogger(__name__)

SNAPSHOT_MAGIC = b"EZIX2\n"
_LEN = struct.Struct("<I")
# pack number, kind, flags, status, name/key/blob lengths, body, offset, size, record_len,
# result_len, timestamp
_ROW = struct.Struct("<IBBbHHHIQIIIQ")


class Index:
    """The latest live commit of every (name, key), and the tombstones seen."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], tuple[str, Frame]] = {}
        self._by_name: dict[str, dict[str, None]] | None = None  # built when first asked
        self.dead_keys: dict[tuple[str, str], int] = {}  # tombstone timestamps
        self.dead_names: dict[str, int] = {}
        self.scanned: dict[str, int] = {}  # pack name -> offset scanned up to
        self.max_ts = 0
        self.generation = 0

    @property
    def by_name(self) -> dict[str, dict[str, None]]:
        """name -> keys with a live entry (built on first use: resume never needs it)."""
        if self._by_name is None:
            self._by_name = {}
            for name, key in self.entries:
                self._by_name.setdefault(name, {})[key] = None
        return self._by_name

    def apply(self, pack: str, frame: Frame) -> None:
        ident = (frame.name, frame.key)
        ts = frame.ts
        self.max_ts = max(self.max_ts, ts)
        if frame.kind == COMMIT:
            if ts <= self.dead_keys.get(ident, -1) or ts <= self.dead_names.get(frame.name, -1):
                return
            current = self.entries.get(ident)
            if current is None or ts >= current[1].ts:
                self.entries[ident] = (pack, frame)
                if self._by_name is not None:
                    self._by_name.setdefault(frame.name, {})[frame.key] = None
        elif frame.kind == TOMBSTONE:
            if ts > self.dead_keys.get(ident, -1):
                self.dead_keys[ident] = ts
            current = self.entries.get(ident)
            if current is not None and current[1].ts < ts:
                self._drop(ident)
        elif frame.kind == TOMBSTONE_NAME:
            if ts > self.dead_names.get(frame.name, -1):
                self.dead_names[frame.name] = ts
            for key in list(self.by_name.get(frame.name, ())):
                if self.entries[frame.name, key][1].ts < ts:
                    self._drop((frame.name, key))

    def _drop(self, ident: tuple[str, str]) -> None:
        del self.entries[ident]
        keys = None if self._by_name is None else self._by_name.get(ident[0])
        if keys is not None:
            keys.pop(ident[1], None)
            if not keys and self._by_name is not None:
                del self._by_name[ident[0]]

    def forget_pack(self, pack: str) -> None:
        """Drop every entry of a pack that is gone (compacted away, or deleted)."""
        for ident in [i for i, (p, _) in self.entries.items() if p == pack]:
            self._drop(ident)
        self.scanned.pop(pack, None)

    # -- snapshots ------------------------------------------------------------------------------
    def dumps(self) -> bytes:
        """Magic, crc32 of the rest, the length of a small JSON head (generation, packs,
        tombstones), the head, then one fixed-size row per entry and their strings."""
        packs = sorted({p for p, _ in self.entries.values()} | set(self.scanned))
        number = {p: i for i, p in enumerate(packs)}
        head = json.dumps(
            {
                "generation": self.generation,
                "max_ts": self.max_ts,
                "packs": packs,
                "scanned": [self.scanned.get(p, 0) for p in packs],
                "dead_keys": [[n, k, t] for (n, k), t in self.dead_keys.items()],
                "dead_names": self.dead_names,
                "entries": len(self.entries),
            },
            separators=(",", ":"),
        ).encode()
        rows, strings = [], []
        for p, f in self.entries.values():
            name, key, blob = f.name.encode(), f.key.encode(), f.blob.encode()
            rows.append(
                _ROW.pack(
                    number[p],
                    f.kind,
                    f.flags,
                    f.status,
                    len(name),
                    len(key),
                    len(blob),
                    f.body,
                    f.offset,
                    f.size,
                    f.record_len,
                    f.result_len,
                    f.ts,
                )
            )
            strings += (name, key, blob)
        payload = b"".join((_LEN.pack(len(head)), head, *rows, *strings))
        return b"%s%08x\n%s" % (SNAPSHOT_MAGIC, zlib.crc32(payload), payload)

    @classmethod
    def loads(cls, data: bytes, label: str) -> Index | None:
        """The snapshot's index, or None (warned) when it does not verify."""
        start = len(SNAPSHOT_MAGIC) + 9
        with no_gc():
            return cls._loads(data, start, label)

    @classmethod
    def _loads(cls, data: bytes, start: int, label: str) -> Index | None:
        try:
            if not data.startswith(SNAPSHOT_MAGIC) or data[start - 1 : start] != b"\n":
                raise ValueError("not an ezpipe index")
            payload = memoryview(data)[start:]
            if int(data[len(SNAPSHOT_MAGIC) : start - 1], 16) != zlib.crc32(payload):
                raise ValueError("checksum mismatch")
            (size,) = _LEN.unpack_from(payload, 0)
            doc = json.loads(bytes(payload[_LEN.size : _LEN.size + size]))
            index = cls()
            index.generation = int(doc["generation"])
            index.max_ts = int(doc["max_ts"])
            packs = [str(p) for p in doc["packs"]]
            index.scanned = dict(zip(packs, map(int, doc["scanned"]), strict=True))
            for name, key, ts in doc["dead_keys"]:
                index.dead_keys[name, key] = int(ts)
            index.dead_names = {str(n): int(t) for n, t in doc["dead_names"].items()}
            count = int(doc["entries"])
            rows_at = _LEN.size + size
            strings = bytes(payload[rows_at + count * _ROW.size :])
            pos = 0
            entries = index.entries
            for row in _ROW.iter_unpack(payload[rows_at : rows_at + count * _ROW.size]):
                pk, kind, flags, status, n_len, k_len, b_len, *rest = row
                name = strings[pos : pos + n_len].decode()
                key = strings[pos + n_len : pos + n_len + k_len].decode()
                pos += n_len + k_len
                blob = strings[pos : pos + b_len].decode() if b_len else ""  # most have none
                pos += b_len
                entries[name, key] = (packs[pk], Frame(kind, flags, status, name, key, blob, *rest))
            if pos != len(strings):
                raise ValueError("entries do not add up")
        except (ValueError, TypeError, KeyError, IndexError, struct.error) as exc:
            log.warning("ignoring unreadable store index %s (%s): scanning the packs", label, exc)
            return None
        return index

    def save(self, path: str, *, fsync: bool) -> None:
        self.generation += 1
        write_atomic(path, self.dumps(), fsync=fsync)
