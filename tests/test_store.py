from __future__ import annotations

import logging
import threading

import pytest

from ezpipe.records import Status, StepRecord
from ezpipe.store import Store, write_atomic


def passed_record(store: Store, name: str, key: str, value) -> StepRecord:
    path, digest, size = store.write_result(name, key, value)
    record = StepRecord(
        name=name,
        key=key,
        status=Status.PASSED,
        checksum=digest,
        result_path=str(path),
        result_bytes=size,
    )
    store.write_record(record)
    return record


def test_result_round_trip(tmp_path):
    store = Store(tmp_path)
    record = passed_record(store, "a", "f" * 64, {"x": [1, 2]})
    assert store.valid_record("a", "f" * 64) == record
    assert store.load_result("a", "f" * 64) == {"x": [1, 2]}
    assert store.result_path("a", "f" * 64).parent.name == "f" * 16


def test_corrupt_result_is_treated_as_missing(tmp_path, caplog):
    store = Store(tmp_path)
    passed_record(store, "a", "0" * 64, list(range(100)))
    path = store.result_path("a", "0" * 64)
    path.write_bytes(path.read_bytes()[:-5])  # truncated
    with caplog.at_level(logging.WARNING, logger="ezpipe"):
        assert store.valid_record("a", "0" * 64) is None
    assert str(path) in caplog.text


def test_unreadable_record_is_treated_as_missing(tmp_path, caplog):
    store = Store(tmp_path)
    passed_record(store, "a", "1" * 64, 1)
    store.record_path("a", "1" * 64).write_text('{"name": "a", "sta')
    with caplog.at_level(logging.WARNING, logger="ezpipe"):
        assert store.read_record("a", "1" * 64) is None
    assert "unreadable step record" in caplog.text


def test_unpicklable_result_touches_no_disk(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(TypeError):
        store.write_result("a", "2" * 64, threading.Lock())
    assert not store.step_dir("a", "2" * 64).exists()


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


def test_clear_removes_one_key_or_every_key(tmp_path):
    store = Store(tmp_path)
    passed_record(store, "a", "3" * 64, 1)
    passed_record(store, "a", "4" * 64, 2)
    assert store.clear("a", "3" * 64)
    assert store.read_record("a", "3" * 64) is None
    assert store.read_record("a", "4" * 64) is not None
    assert store.clear("a")
    assert not store.clear("a")
