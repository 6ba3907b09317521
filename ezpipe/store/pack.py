"""Pack files: one append-only file per writer process, a sequence of checksummed frames.

A frame is one commit (a record, with its result inline or in a blob file) or a
tombstone. Its fixed header carries the lengths, the step's status and a
logical timestamp, and is checksummed on its own, so a scanner can index a
pack without parsing records; the body (name, key, blob name, record JSON,
result) has a second checksum. A frame whose header or body does not verify is
never trusted: at the end of a file it means "not yet written" (a writer is in
the middle of it, or was killed there); in the middle of a file it is
corruption, skipped with a warning by searching for the next frame that
verifies. The record inside names the sha256 of its result, checked again on
every read, as in the per-step layout.

One writer per pack: a process appends with a single ``write`` per frame to
its own file, so no two writers ever interleave, on NFS either.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from typing import NamedTuple

log = logging.getLogger(__name__)

MAGIC = b"EZPK"
# magic, kind, flags, status, pad, name_len, key_len, blob_len, record_len, result_len,
# timestamp, body crc32; then the crc32 of those 34 bytes.
_HEAD = struct.Struct("<4sBBbxHHHIIQI")
_HEAD_CRC = struct.Struct("<I")
HEADER_SIZE = _HEAD.size + _HEAD_CRC.size

COMMIT = 1  # a record (and its result)
TOMBSTONE = 2  # (name, key) cleared
TOMBSTONE_NAME = 3  # every key of name cleared
INLINE = 1  # flags: the result follows the record in the body
BLOB = 2  # flags: the result is in the blob file the body names


class Frame(NamedTuple):
    """One verified frame's header, as the index needs it (the body stays on disk).

    A tuple: 100,000 of them are built when an index snapshot is read."""

    kind: int
    flags: int
    status: int
    name: str
    key: str
    blob: str
    body: int  # where the record starts, from the frame's start
    offset: int  # of the frame in its pack
    size: int  # of the whole frame
    record_len: int
    result_len: int
    ts: int


def encode(
    kind: int,
    name: str,
    key: str,
    *,
    status: int = -1,
    record: bytes = b"",
    result: bytes | None = None,
    blob: str = "",
    result_len: int = 0,
    ts: int,
    offset: int = 0,
) -> tuple[bytes, Frame]:
    """The bytes of one frame (written with one ``write``) and its index entry, were it
    written at ``offset``."""
    name_b, key_b, blob_b = name.encode(), key.encode(), blob.encode()
    flags = 0
    if result is not None:
        flags, result_len = INLINE, len(result)
    elif blob:
        flags = BLOB
    body = b"".join((name_b, key_b, blob_b, record, result or b""))
    head = _HEAD.pack(
        MAGIC,
        kind,
        flags,
        status,
        len(name_b),
        len(key_b),
        len(blob_b),
        len(record),
        result_len,
        ts,
        zlib.crc32(body),
    )
    data = b"".join((head, _HEAD_CRC.pack(zlib.crc32(head)), body))
    start = HEADER_SIZE + len(name_b) + len(key_b) + len(blob_b)
    frame = Frame(
        kind, flags, status, name, key, blob, start, offset, len(data), len(record), result_len, ts
    )
    return data, frame


def _header(buf: bytes | memoryview, pos: int) -> tuple | None:
    """The unpacked header at ``pos`` if it is complete and verifies, else None."""
    end = pos + _HEAD.size
    if len(buf) < end + _HEAD_CRC.size:
        return None
    (crc,) = _HEAD_CRC.unpack_from(buf, end)
    if zlib.crc32(buf[pos:end]) != crc:
        return None
    fields = _HEAD.unpack_from(buf, pos)
    return fields if fields[0] == MAGIC else None


def _body_len(fields: tuple) -> int:
    inline = fields[8] if fields[2] & INLINE else 0
    return fields[4] + fields[5] + fields[6] + fields[7] + inline


TORN = "torn"  # parse: a verified header whose body is not all there yet
BAD = "bad"  # parse: a header or body that does not verify


def parse(buf: bytes | memoryview, pos: int, base: int) -> Frame | str:
    """The frame at ``pos`` of ``buf`` (file offset ``base + pos``) if whole and verified,
    else TORN (the header verifies, the body is not all there) or BAD."""
    fields = _header(buf, pos)
    if fields is None:
        return BAD
    start = pos + HEADER_SIZE
    end = start + _body_len(fields)
    if len(buf) < end:
        return TORN
    if zlib.crc32(buf[start:end]) != fields[10]:
        return BAD
    _, kind, flags, status, n_len, k_len, b_len, r_len, res_len, ts, _ = fields
    try:
        name = bytes(buf[start : start + n_len]).decode()
        key = bytes(buf[start + n_len : start + n_len + k_len]).decode()
        blob = bytes(buf[start + n_len + k_len : start + n_len + k_len + b_len]).decode()
    except UnicodeDecodeError:
        return BAD
    body = HEADER_SIZE + n_len + k_len + b_len
    return Frame(
        kind, flags, status, name, key, blob, body, base + pos, end - pos, r_len, res_len, ts
    )


def scan(buf: bytes | memoryview, base: int, label: str) -> tuple[list[Frame], int]:
    """Verified frames of ``buf`` (the bytes of a pack from offset ``base``) and the offset
    where scanning must resume: the end of the last whole frame, or of a torn tail.

    A bad frame followed by a good one is corruption: warned about and skipped.
    A bad frame with nothing verifiable after it is a tail not yet written.
    """
    frames: list[Frame] = []
    pos, size = 0, len(buf)
    while pos < size:
        frame = parse(buf, pos, base)
        if isinstance(frame, Frame):
            frames.append(frame)
            pos += frame.size
            continue
        if frame == TORN:
            break  # its body is not all there: not yet written (or cut by a kill)
        fields = _header(buf, pos)
        if fields is not None:  # a trusted length around a body that does not verify
            found: int | None = pos + HEADER_SIZE + _body_len(fields)
        else:  # an unknown length: the next frame that verifies, if any
            found = _resync(buf, pos + 1, base)
        if found is None:
            break  # not yet written (or torn by a kill): looked at again next time
        log.warning(
            "ignoring %d unreadable bytes at offset %d of pack %s (corrupt or torn frame)",
            found - pos,
            base + pos,
            label,
        )
        pos = found
    return frames, base + pos


def _resync(buf: bytes | memoryview, pos: int, base: int) -> int | None:
    data = bytes(buf) if isinstance(buf, memoryview) else buf
    while (pos := data.find(MAGIC, pos)) != -1:
        if isinstance(parse(data, pos, base), Frame):
            return pos
        pos += 1
    return None


def read_frame(fd: int, expected: Frame) -> tuple[bytes, bytes | None] | None:
    """(record JSON, inline result or None) of the frame the index points to, if the
    bytes there still verify and are that frame; else None."""
    data = os.pread(fd, expected.size, expected.offset)
    return check(data, 0, expected) if len(data) == expected.size else None


def check(buf: bytes, pos: int, expected: Frame) -> tuple[bytes, bytes | None] | None:
    """(record JSON, inline result or None) if the frame at ``pos`` of ``buf`` verifies
    and is ``expected`` (cheaper than :func:`parse`: nothing decoded)."""
    end = pos + _HEAD.size
    if len(buf) < pos + expected.size:
        return None
    (crc,) = _HEAD_CRC.unpack_from(buf, end)
    if zlib.crc32(buf[pos:end]) != crc:
        return None
    fields = _HEAD.unpack_from(buf, pos)
    start = pos + expected.body
    stop = pos + expected.size
    head = pos + HEADER_SIZE
    if (
        fields[0] != MAGIC
        or fields[1:4] != (expected.kind, expected.flags, expected.status)
        or fields[7:10] != (expected.record_len, expected.result_len, expected.ts)
        or HEADER_SIZE + fields[4] + fields[5] + fields[6] != expected.body
        or HEADER_SIZE + _body_len(fields) != expected.size
        or zlib.crc32(buf[head:stop]) != fields[10]
        or buf[head : head + fields[4]] != expected.name.encode()
        or buf[head + fields[4] : head + fields[4] + fields[5]] != expected.key.encode()
    ):
        return None
    record = buf[start : start + expected.record_len]
    result = buf[start + expected.record_len : stop] if expected.flags & INLINE else None
    return record, result


class PackWriter:
    """Appends frames to this process's own pack file; fsync grouped over many commits.

    The file is created on the first append (a process that only reads creates
    nothing). Thread-safe: rank 0's worker and its skip-record writer share it.
    """

    def __init__(
        self,
        path: str,
        *,
        fsync: bool,
        group: int = 256,
        interval: float = 1.0,
        flush_each: bool = False,
    ) -> None:
        self.path = path
        self.fsync = fsync
        self.flush_each = flush_each  # NFS: other clients see data only once it is flushed
        self.group = group
        self.interval = interval
        self._fd: int | None = None
        self._offset = 0
        self._pending = 0
        self._synced_at = time.monotonic()
        self._lock = threading.Lock()

    def append(self, frame: bytes) -> int:
        """Write one frame; returns its offset. A failed write leaves a tail no one trusts."""
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                self._offset = os.fstat(self._fd).st_size
            offset = self._offset
            written = os.write(self._fd, frame)
            if written != len(frame):  # a short write (disk full): the tail does not verify
                self._offset += written
                raise OSError(f"short write to {self.path}: {written} of {len(frame)} bytes")
            self._offset += written
            if self.flush_each:
                os.fsync(self._fd)
            elif self.fsync:
                self._pending += 1
                now = time.monotonic()
                if self._pending >= self.group or now - self._synced_at >= self.interval:
                    os.fsync(self._fd)
                    self._pending, self._synced_at = 0, now
            return offset

    def sync(self) -> None:
        """Everything appended so far on disk (when fsync is on)."""
        with self._lock:
            if self._fd is not None and self.fsync and self._pending:
                os.fsync(self._fd)
                self._pending, self._synced_at = 0, time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                if self.fsync and self._pending:
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None

    @property
    def started(self) -> bool:
        return self._fd is not None
