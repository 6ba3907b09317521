"""The Store facade, in both layouts: commits, reads, clears, layout detection, migration."""

from __future__ import annotations

import hashlib
import logging
import os
import threading

import pytest

from ezpipe.errors import ResultNotAvailableError
from ezpipe.records import Status, StepRecord
from ezpipe.store import Store, write_atomic

LAYOUTS = ["packed", "folder"]


def key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(params=LAYOUTS)
def store(request, tmp_path) -> Store:
    store = Store(tmp_path / "p", layout=request.param)
    store.create()
    return store


def passed_record(store: Store, name: str, k: str, value) -> StepRecord:
    """The engine's two-call path (write_result, then write_record)."""
    path, digest, size = store.write_result(name, k, value)
    record = StepRecord(
        name=name,
        key=k,
        status=Status.PASSED,
        checksum=digest,
        result_path=str(path),
        result_bytes=size,
    )
    store.write_record(record)
    return record


def commit(store: Store, name: str, k: str, value) -> StepRecord:
    return store.commit(StepRecord(name=name, key=k, status=Status.PASSED), store.dump(value))


def reopened(store: Store) -> Store:
    """What another process (another rank, ezpipe status) sees."""
    return Store(store.root)


@pytest.mark.parametrize("write", [passed_record, commit])
def test_result_round_trip(store, write):
    record = write(store, "a", key("a"), {"x": [1, 2]})
    for reader in (store, reopened(store)):
        assert reader.layout == store.layout
        found = reader.valid_record("a", key("a"))
        assert (
            found is not None
            and found.checksum == hashlib.sha256(store.dump({"x": [1, 2]})).hexdigest()
        )
        assert found.status == Status.PASSED and found.result_bytes == record.result_bytes
        assert reader.load_result("a", key("a")) == {"x": [1, 2]}
        assert reader.result_path("a", key("a")).is_file()
    assert store.step_dir("a", key("a")).name == key("a")[:16]


def test_a_commit_names_its_results_checksum(store):
    data = store.dump(41)
    stored = store.commit(StepRecord(name="a", key=key("a"), status=Status.PASSED), data)
    assert stored.checksum == hashlib.sha256(data).hexdigest() and stored.result_bytes == len(data)
    bad = StepRecord(name="b", key=key("b"), status=Status.PASSED, checksum="0" * 64)
    with pytest.raises(ValueError, match="checksum"):
        store.commit(bad, data)
    assert reopened(store).read_record("b", key("b")) is None


def test_failed_and_skipped_records_have_no_result(store):
    store.commit(StepRecord(name="f", key=key("f"), status=Status.FAILED, error_message="boom"))
    store.commit(StepRecord(name="s", key=key("s"), status=Status.SKIPPED, skipped_because="f"))
    other = reopened(store)
    assert other.valid_record("f", key("f")).error_message == "boom"
    assert other.valid_record("s", key("s")) is None  # a skip is never reused
    assert other.has_record("s", key("s")) and not other.has_record("x", key("x"))
    with pytest.raises(ResultNotAvailableError, match="failed on rank None: boom"):
        other.passed_bytes("f", key("f"))
    with pytest.raises(ResultNotAvailableError, match="skipped because upstream step 'f'"):
        other.passed_bytes("s", key("s"))
    with pytest.raises(ResultNotAvailableError, match="it has not been run"):
        other.passed_bytes("x", key("x"))


def corrupt_result(store: Store, name: str, k: str) -> None:
    path = store.result_path(name, k)
    data = bytearray(path.read_bytes())
    if store.layout == "folder":
        path.write_bytes(bytes(data[:-5]))  # truncated
        return
    value = store.dump(list(range(100)))
    at = bytes(data).rindex(value) + 10
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_result_is_treated_as_missing(store, caplog):
    commit(store, "a", key("a"), list(range(100)))
    corrupt_result(store, "a", key("a"))
    with caplog.at_level(logging.WARNING, logger="ezpipe"):
        assert reopened(store).valid_record("a", key("a")) is None
    assert "does not match its checksum" in caplog.text or "corrupt or torn frame" in caplog.text
    with pytest.raises(ResultNotAvailableError):
        reopened(store).load_result("a", key("a"))


def test_unpicklable_result_touches_no_disk(store):
    before = sorted(p.relative_to(store.root) for p in store.root.rglob("*"))
    with pytest.raises(TypeError):
        store.write_result("a", key("a"), threading.Lock())
    with pytest.raises(TypeError):
        store.dump(threading.Lock())
    assert not store.step_dir("a", key("a")).exists()
    assert sorted(p.relative_to(store.root) for p in store.root.rglob("*")) == before


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "file"
    write_atomic(target, b"old")

    class Boom:
        def __bytes__(self):
            raise RuntimeError

    with pytest.raises(TypeError):
        write_atomic(target, Boom())  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_clear_removes_one_key_or_every_key(store):
    commit(store, "a", key("3"), 1)
    commit(store, "a", key("4"), 2)
    log = store.log_path("a", key("3"))
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("hi\n")
    assert store.clear("a", key("3"))
    assert not log.exists()
    for reader in (store, reopened(store)):
        assert reader.read_record("a", key("3")) is None
        assert reader.read_record("a", key("4")) is not None
    assert store.clear("a")
    assert not store.clear("a")
    assert reopened(store).records_of("a") == [] and reopened(store).entries() == []
    commit(store, "a", key("3"), 5)  # after a clear, a new commit counts again
    assert reopened(store).load_result("a", key("3")) == 5


def test_a_commit_after_a_clear_counts_even_with_a_clock_behind(tmp_path, monkeypatch):
    store = Store(tmp_path, layout="packed")
    commit(store, "a", key("a"), 1)
    store.clear("a")
    later = Store(tmp_path, layout="packed")
    monkeypatch.setattr("ezpipe.store.packed.time.time_ns", lambda: 1)  # a node whose clock lags
    commit(later, "a", key("a"), 2)
    assert Store(tmp_path).load_result("a", key("a")) == 2


def test_records_of_a_name_newest_first_and_every_entry(store):
    for i in range(3):
        commit(store, "a", key(f"a{i}"), i)
    commit(store, "b", key("b"), 9)
    commit(store, "a", key("a0"), 10)  # rewritten: now the newest
    if store.layout == "folder":  # the folder layout orders by file times
        os.utime(store.record_path("a", key("a0")), (2e9, 2e9))
    other = reopened(store)
    assert [r.key for r in other.records_of("a")] == [key("a0"), key("a2"), key("a1")]
    assert other.written_at("b", key("b")) <= other.written_at("a", key("a0"))
    assert other.written_at("c", key("c")) is None
    assert sorted(other.entries()) == sorted(
        [("a", key("a0")), ("a", key("a1")), ("a", key("a2")), ("b", key("b"))]
    )
    got = other.read_records([("b", key("b")), ("c", key("c")), ("a", key("a1"))])
    assert [r and r.name for r in got] == ["b", None, "a"]
    assert other.names() == {"a", "b"}  # what a dry run asks once, instead of per step
    other.clear("b")
    assert "a" in reopened(store).names()
    assert Store(store.root.parent / "new").names() == set()  # no folder: nothing stored


def test_statuses_follow_clears_and_rewrites_without_reading_records(store):
    commit(store, "a", key("a"), 1)
    store.commit(StepRecord(name="b", key=key("b"), status=Status.FAILED), None)
    commit(store, "c", key("c"), 3)
    store.clear("c", key("c"))
    store.commit(StepRecord(name="a", key=key("a"), status=Status.SKIPPED), None)  # rewritten
    idents = [("a", key("a")), ("b", key("b")), ("c", key("c")), ("d", key("d"))]
    expected = [Status.SKIPPED, Status.FAILED, None, None]
    assert store.statuses(idents) == expected
    assert reopened(store).statuses(idents) == expected


def test_a_few_records_of_a_large_pack_are_read_alone_and_still_verified(tmp_path, caplog):
    store = Store(tmp_path / "p", layout="packed")
    for i in range(400):
        commit(store, f"s{i}", key(f"s{i}"), "x" * 200)
    store.flush(snapshot=True)  # the index lists s7: the damage is found when it is read
    pack_file = next((tmp_path / "p" / "steps" / ".packs").glob("*.pack"))
    data = bytearray(pack_file.read_bytes())
    at = data.index(b'"name":"s7"')  # inside s7's record
    data[at + 3] ^= 0xFF
    pack_file.write_bytes(bytes(data))
    reader = reopened(store)
    with caplog.at_level(logging.WARNING):
        got = reader.read_records([("s3", key("s3")), ("s7", key("s7")), ("s390", key("s390"))])
    assert [r and r.name for r in got] == ["s3", None, "s390"]
    assert reader.load_result("s390", key("s390")) == "x" * 200
    assert "does not verify" in caplog.text


def test_a_reader_sees_what_another_process_commits(store):
    reader = reopened(store)
    assert reader.read_record("a", key("a")) is None
    commit(store, "a", key("a"), 3)  # while the reader is open
    assert reader.read_record("a", key("a")) is not None
    assert reader.load_result("a", key("a")) == 3


def test_a_reader_never_trusts_a_stale_entry(store):
    store.commit(StepRecord(name="u", key=key("u"), status=Status.FAILED, error_message="x"))
    reader = reopened(store)
    assert reader.read_record("u", key("u")).status == Status.FAILED  # now in its index
    commit(store, "u", key("u"), 8)  # retried by another rank: passed
    assert reader.load_result("u", key("u")) == 8  # not "failed on rank None"
    assert reader.valid_record("u", key("u")).status == Status.PASSED
    store.clear("u")
    assert reader.read_record("u", key("u")) is None
    assert not reader.valid_record("u", key("u"))


def test_layout_detection(tmp_path, monkeypatch):
    monkeypatch.delenv("EZPIPE_STORE_LAYOUT", raising=False)
    assert Store(tmp_path / "new").layout == "packed"  # the default
    old = Store(tmp_path / "old", layout="folder")
    commit(old, "a", key("a"), 1)
    assert (old.root / "steps" / "a" / key("a")[:16] / "record.json").is_file()
    found = Store(tmp_path / "old")
    assert found.layout == "folder" and found.load_result("a", key("a")) == 1  # read as it is
    packed = Store(tmp_path / "packed")
    packed.create()
    log = packed.log_path("a", key("a"))
    log.parent.mkdir(parents=True)  # a step's log folder does not make it per-step
    assert Store(tmp_path / "packed").layout == "packed"
    monkeypatch.setenv("EZPIPE_STORE_LAYOUT", "folder")
    assert Store(tmp_path / "other").layout == "folder"
    assert Store(tmp_path / "packed").layout == "packed"  # what is on disk wins
    with pytest.raises(ValueError, match="unknown store layout"):
        Store(tmp_path, layout="zip")


def test_packed_files_do_not_grow_with_steps(tmp_path):
    store = Store(tmp_path, layout="packed")
    store.create()
    for i in range(500):
        commit(store, f"s{i}", key(str(i)), i)
    store.commit(
        StepRecord(name="big", key=key("big"), status=Status.PASSED),
        store.dump(os.urandom(3 << 20)),
    )
    store.flush(snapshot=True)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 3, files  # one pack, the index, one large result
    assert Store(tmp_path).load_result("s499", key("499")) == 499
    assert len(Store(tmp_path).load_result("big", key("big"))) == 3 << 20


def test_large_results_are_files_of_their_own(tmp_path, caplog):
    store = Store(tmp_path, layout="packed")
    data = os.urandom(2 << 20)
    store.commit(StepRecord(name="big", key=key("big"), status=Status.PASSED), store.dump(data))
    blob = store.result_path("big", key("big"))
    assert blob.suffix == ".blob" and blob.stat().st_size > 2 << 20
    assert Store(tmp_path).load_result("big", key("big")) == data
    raw = bytearray(blob.read_bytes())
    raw[1000] ^= 1
    blob.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="ezpipe"):
        assert Store(tmp_path).valid_record("big", key("big")) is None
    assert "does not match its checksum" in caplog.text
    assert store.clear("big") and not blob.exists()  # its space back at once


def test_fsync_is_grouped_over_many_commits(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    store = Store(tmp_path, fsync=True, layout="packed")
    for i in range(600):
        commit(store, f"s{i}", key(str(i)), i)
    assert 1 <= len(calls) <= 4  # groups of 256 (or a second apart), not one per step
    store.flush()
    synced = len(calls)
    assert synced >= 3
    assert Store(tmp_path).load_result("s599", key("599")) == 599


@pytest.mark.parametrize("source", LAYOUTS)
def test_migrate_both_ways(tmp_path, source):
    store = Store(tmp_path, layout=source)
    for i in range(5):
        commit(store, "a", key(f"a{i}"), i)
        os.utime(
            store.record_path("a", key(f"a{i}")), (1e9 + i, 1e9 + i)
        ) if source == "folder" else None
    store.commit(StepRecord(name="f", key=key("f"), status=Status.FAILED, error_message="x"))
    log = store.log_path("a", key("a1"))
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("kept\n")
    target = "folder" if source == "packed" else "packed"
    fresh = Store(tmp_path)
    assert fresh.migrate(to=target) == 6
    assert fresh.migrate(to=target) == 0
    after = Store(tmp_path)
    assert after.layout == target
    assert [after.load_result("a", key(f"a{i}")) for i in range(5)] == list(range(5))
    assert after.valid_record("f", key("f")).error_message == "x"
    assert log.read_text() == "kept\n"
    if target == "packed":
        assert [r.key for r in after.records_of("a")] == [key(f"a{i}") for i in reversed(range(5))]
        assert not list(tmp_path.rglob("record.json")) and not list(tmp_path.rglob("result.pkl"))
    else:
        assert not (tmp_path / "steps" / ".packs").exists()


def test_compaction_drops_dead_entries_and_a_reader_keeps_reading(tmp_path):
    store = Store(tmp_path, layout="packed")
    for i in range(50):
        commit(store, f"s{i}", key(str(i)), i)
    for i in range(10):
        commit(store, f"s{i}", key(str(i)), i + 100)  # superseded
    for i in range(40, 50):
        store.clear(f"s{i}")
    store.commit(
        StepRecord(name="big", key=key("big"), status=Status.PASSED),
        store.dump(os.urandom(2 << 20)),
    )
    store.commit(
        StepRecord(name="big", key=key("big"), status=Status.PASSED),
        store.dump(os.urandom(2 << 20)),
    )
    store.close()
    commit(Store(tmp_path), "late", key("late"), 7)  # a second pack (another run)
    reader = Store(tmp_path)
    assert reader.load_result("s5", key("5")) == 105  # the reader has the old packs open
    packs = tmp_path / "steps" / ".packs"
    assert len(list(packs.glob("*.pack"))) == 2 and len(list(packs.glob("*.blob"))) == 2
    stats = Store(tmp_path).compact()
    assert stats["entries"] == 42 and stats["packs_removed"] == 2
    assert stats["bytes_after"] < stats["bytes_before"]
    assert len(list(packs.glob("*.pack"))) == 1 and len(list(packs.glob("*.blob"))) == 1
    for who in (reader, Store(tmp_path)):
        assert [who.load_result(f"s{i}", key(str(i))) for i in (0, 9, 10, 39)] == [100, 109, 10, 39]
        assert who.read_record("s45", key("45")) is None
        assert who.load_result("late", key("late")) == 7
        assert len(who.load_result("big", key("big"))) == 2 << 20
    late_reader = Store(tmp_path)
    late_reader.backend._ensure()
    Store(tmp_path).compact()  # compacted again under a reader that had never opened a pack
    assert late_reader.load_result("s1", key("1")) == 101
