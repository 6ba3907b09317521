"""Pack frames, torn and corrupt packs and indexes, and writers killed with SIGKILL."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import cloudpickle

from ezpipe.records import Status, StepRecord
from ezpipe.store import Store
from ezpipe.store import pack as P

KEY = "k" * 64


def frames(n: int) -> list[bytes]:
    return [
        P.encode(P.COMMIT, f"s{i}", KEY, status=0, record=b'{"i":%d}' % i, result=b"r" * i, ts=i)[0]
        for i in range(1, n + 1)
    ]


def test_a_frame_round_trips():
    (data,) = frames(1)
    frame = P.parse(data, 0, 100)
    assert isinstance(frame, P.Frame)
    assert (frame.name, frame.key, frame.offset, frame.size, frame.ts) == (
        "s1",
        KEY,
        100,
        len(data),
        1,
    )
    assert P.parse(data[:-1], 0, 0) == P.TORN
    assert P.parse(data[: P.HEADER_SIZE - 1], 0, 0) == P.BAD


def test_a_torn_tail_is_never_a_frame_and_is_read_once_complete():
    whole = b"".join(frames(3))
    last = len(whole) - len(frames(3)[2])
    for cut in range(last, len(whole)):
        found, end = P.scan(whole[:cut], 0, "p")
        assert [f.name for f in found] == ["s1", "s2"] and end == last
    found, end = P.scan(whole[last:], last, "p")  # the writer finished it: picked up
    assert [f.name for f in found] == ["s3"] and end == len(whole)


def test_every_corrupted_byte_is_caught_and_later_frames_survive(caplog):
    parts = frames(3)
    whole = b"".join(parts)
    start, stop = len(parts[0]), len(parts[0]) + len(parts[1])
    for at in range(start, stop):
        bad = bytearray(whole)
        bad[at] ^= 0x5A
        with caplog.at_level(logging.WARNING, logger="ezpipe"):
            found, end = P.scan(bytes(bad), 0, "p")
        names = [f.name for f in found]
        assert "s2" not in names, at  # never trusted
        assert names == ["s1", "s3"] and end == len(whole), at
    assert "unreadable bytes" in caplog.text


def key(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def test_a_corrupt_index_is_ignored_with_a_warning(tmp_path, caplog):
    store = Store(tmp_path, layout="packed")
    for i in range(20):
        store.commit(StepRecord(name=f"s{i}", key=key(i), status=Status.PASSED), store.dump(i))
    store.flush(snapshot=True)
    index = tmp_path / "steps" / ".packs" / "index"
    data = bytearray(index.read_bytes())
    data[len(data) // 2] ^= 1
    index.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="ezpipe"):
        fresh = Store(tmp_path)
        assert [fresh.load_result(f"s{i}", key(i)) for i in range(20)] == list(range(20))
    assert "ignoring unreadable store index" in caplog.text


def test_an_index_that_points_at_the_wrong_bytes_is_never_trusted(tmp_path, caplog):
    store = Store(tmp_path, layout="packed")
    for i in range(3):
        store.commit(StepRecord(name=f"s{i}", key=key(i), status=Status.PASSED), store.dump(i))
    store.flush(snapshot=True)
    backend = Store(tmp_path).backend
    backend._ensure()
    pack_name, frame = backend.index.entries["s1", key(1)]
    moved = frame._replace(offset=frame.offset + 1)
    backend.index.entries["s1", key(1)] = (pack_name, moved)
    with caplog.at_level(logging.WARNING, logger="ezpipe"):
        assert backend.read_record("s1", key(1)) is None
    assert "does not verify" in caplog.text


def test_entries_past_the_snapshot_are_found_by_the_tail_scan(tmp_path):
    store = Store(tmp_path, layout="packed")
    for i in range(10):
        store.commit(StepRecord(name=f"s{i}", key=key(i), status=Status.PASSED), store.dump(i))
    store.flush(snapshot=True)
    for i in range(10, 15):  # then killed: no snapshot of these
        store.commit(StepRecord(name=f"s{i}", key=key(i), status=Status.PASSED), store.dump(i))
    assert sorted(Store(tmp_path).entries()) == sorted((f"s{i}", key(i)) for i in range(15))


def test_a_truncated_pack_keeps_every_whole_entry(tmp_path):
    store = Store(tmp_path, layout="packed")
    for i in range(10):
        store.commit(StepRecord(name=f"s{i}", key=key(i), status=Status.PASSED), store.dump(i))
    (pack_file,) = (tmp_path / "steps" / ".packs").glob("*.pack")
    size = pack_file.stat().st_size
    os.truncate(pack_file, size - 7)
    fresh = Store(tmp_path)
    assert [fresh.valid_record(f"s{i}", key(i)) is not None for i in range(10)] == [True] * 9 + [
        False
    ]


# -- writers killed with SIGKILL ----------------------------------------------------------------
def value(w: int, i: int) -> bytes:
    size = 3000 if i % 17 == 0 else 40 + (i * 7919 + w) % 300  # some above the blob threshold
    return hashlib.sha256(f"{w}.{i}".encode()).digest() * (size // 32)


def writer(folder: str, w: int, pipe: int) -> None:
    store = Store(folder, layout="packed", fsync=w % 2 == 1)
    store.backend.large = 2000  # small, so that large results are killed mid-way too
    for i in range(1_000_000):
        name = f"w{w}_{i}"
        if i % 23 == 5:
            store.commit(StepRecord(name=name, key=key(i), status=Status.FAILED, error_message="x"))
        else:
            store.commit(
                StepRecord(name=name, key=key(i), status=Status.PASSED), store.dump(value(w, i))
            )
        if i % 50 == 49:
            store.flush(snapshot=True)  # killed while writing snapshots too
        os.write(pipe, b"%d\n" % i)


def check(folder: Path, committed: dict[int, set[int]]) -> int:
    """Every committed entry is there and right; nothing wrong is ever trusted."""
    store = Store(folder)
    seen = 0
    for name, k in store.entries():
        w, i = (int(x) for x in name[1:].split("_"))
        got = store.backend.read_verified(name, k)
        if got is None:
            continue
        record, data = got
        if record.status == Status.PASSED:
            assert data is not None, name
            assert cloudpickle.loads(data) == value(w, i), name
        seen += 1
    for w, done in committed.items():
        for i in done:
            name = f"w{w}_{i}"
            record = store.valid_record(name, key(i))
            assert record is not None, (name, "committed but lost")
            if record.status == Status.PASSED:
                assert store.load_result(name, key(i)) == value(w, i)
    return seen


def test_writers_killed_at_random_points_lose_nothing_committed(tmp_path):
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(13)
    folder = tmp_path / "p"
    Store(folder, layout="packed").create()
    committed: dict[int, set[int]] = {}
    deadline = time.monotonic() + 15
    rounds = 0
    while rounds < 8 or (time.monotonic() < deadline and rounds < 40):
        procs = []
        for slot in range(4):
            w = rounds * 4 + slot
            read, write = os.pipe()
            proc = ctx.Process(target=writer, args=(str(folder), w, write), daemon=True)
            proc.start()
            os.close(write)
            procs.append((w, proc, read))
        reader = Store(folder)  # reads while they append: only verified entries
        time.sleep(rng.uniform(0.02, 0.25))
        reader.entries()
        for _, proc, _ in procs:
            time.sleep(rng.uniform(0, 0.01))
            os.kill(proc.pid, signal.SIGKILL)
        for w, proc, read in procs:
            proc.join()
            with os.fdopen(read, "rb") as lines:
                committed[w] = {int(line) for line in lines.read().split()}
        check(folder, committed)
        rounds += 1
    total = sum(len(v) for v in committed.values())
    assert rounds >= 8 and total > 100
    assert check(folder, committed) >= total
    compacted = Store(folder)
    compacted.compact()
    assert check(folder, committed) >= total


def test_a_reader_never_sees_a_torn_or_wrong_entry_while_writers_append(tmp_path):
    ctx = multiprocessing.get_context("fork")
    folder = tmp_path / "p"
    Store(folder, layout="packed").create()
    procs = []
    for w in range(4):
        read, write = os.pipe()
        proc = ctx.Process(target=writer, args=(str(folder), w, write), daemon=True)
        proc.start()
        os.close(write)
        procs.append((proc, read))
    reader = Store(folder)
    reads = 0
    try:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            for name, k in reader.entries()[-50:]:
                w, i = (int(x) for x in name[1:].split("_"))
                got = reader.backend.read_verified(name, k)
                if got is not None and got[0].status == Status.PASSED:
                    assert got[1] is not None and cloudpickle.loads(got[1]) == value(w, i)
                    reads += 1
    finally:
        for proc, read in procs:
            os.kill(proc.pid, signal.SIGKILL)
            proc.join()
            os.close(read)
    assert reads > 50
