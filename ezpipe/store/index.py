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
import zlib
from dataclasses import astuple

from .layout import write_atomic
from .pack import COMMIT, TOMBSTONE, TOMBSTONE_NAME, Frame

log = logging.getLogger(__name__)

SNAPSHOT_MAGIC = b"EZIX1\n"


class Index:
    """The latest live commit of every (name, key), and the tombstones seen."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], tuple[str, Frame]] = {}
        self.by_name: dict[str, dict[str, None]] = {}  # name -> keys with a live entry
        self.dead_keys: dict[tuple[str, str], int] = {}  # tombstone timestamps
        self.dead_names: dict[str, int] = {}
        self.scanned: dict[str, int] = {}  # pack name -> offset scanned up to
        self.max_ts = 0
        self.generation = 0

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
                self.by_name.setdefault(frame.name, {})[frame.key] = None
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
        keys = self.by_name.get(ident[0])
        if keys is not None:
            keys.pop(ident[1], None)
            if not keys:
                del self.by_name[ident[0]]

    def forget_pack(self, pack: str) -> None:
        """Drop every entry of a pack that is gone (compacted away, or deleted)."""
        for ident in [i for i, (p, _) in self.entries.items() if p == pack]:
            self._drop(ident)
        self.scanned.pop(pack, None)

    # -- snapshots ------------------------------------------------------------------------------
    def dumps(self) -> bytes:
        packs = sorted({p for p, _ in self.entries.values()} | set(self.scanned))
        number = {p: i for i, p in enumerate(packs)}
        payload = json.dumps(
            {
                "generation": self.generation,
                "max_ts": self.max_ts,
                "packs": packs,
                "scanned": [self.scanned.get(p, 0) for p in packs],
                "entries": [[number[p], *astuple(f)] for p, f in self.entries.values()],
                "dead_keys": [[n, k, t] for (n, k), t in self.dead_keys.items()],
                "dead_names": self.dead_names,
            },
            separators=(",", ":"),
        ).encode()
        return b"%s%08x\n%s" % (SNAPSHOT_MAGIC, zlib.crc32(payload), payload)

    @classmethod
    def loads(cls, data: bytes, label: str) -> Index | None:
        """The snapshot's index, or None (warned) when it does not verify."""
        head = len(SNAPSHOT_MAGIC) + 9
        try:
            if not data.startswith(SNAPSHOT_MAGIC) or data[head - 1 : head] != b"\n":
                raise ValueError("not an ezpipe index")
            payload = data[head:]
            if int(data[len(SNAPSHOT_MAGIC) : head - 1], 16) != zlib.crc32(payload):
                raise ValueError("checksum mismatch")
            doc = json.loads(payload)
            index = cls()
            index.generation = int(doc["generation"])
            index.max_ts = int(doc["max_ts"])
            packs = [str(p) for p in doc["packs"]]
            index.scanned = dict(zip(packs, map(int, doc["scanned"]), strict=True))
            for name, key, ts in doc["dead_keys"]:
                index.dead_keys[name, key] = int(ts)
            index.dead_names = {str(n): int(t) for n, t in doc["dead_names"].items()}
            for row in doc["entries"]:
                frame = Frame(*row[1:])
                index.entries[frame.name, frame.key] = (packs[row[0]], frame)
                index.by_name.setdefault(frame.name, {})[frame.key] = None
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            log.warning("ignoring unreadable store index %s (%s): scanning the packs", label, exc)
            return None
        return index

    def save(self, path: str, *, fsync: bool) -> None:
        self.generation += 1
        write_atomic(path, self.dumps(), fsync=fsync)
