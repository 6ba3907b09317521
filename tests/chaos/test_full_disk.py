"""A full disk (a real, tiny tmpfs) or quota: ezpipe's storage failure is never a step's.

What could not be stored is not recorded, so once there is space the same
command computes it; no step starts after the failure; the error names the
path; the lock is released, and the next execute() in the same process works.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import random
from pathlib import Path

import pytest
from conftest import TinyDisk
from helpers import SCRIPTS, run_script

from ezpipe import Pipeline, StorageFullError
from ezpipe.lock import FolderLock

N, KB = 12, 40  # 480 KiB of results for a 256 KiB disk


def blobs(folder: Path, ran: list[str]) -> tuple[Pipeline, object]:
    pipeline = Pipeline(folder, "blobs", echo=False, progress=False)

    @pipeline.step(name="blob{i}")
    def blob(i):
        ran.append(f"blob{i}")
        return random.Random(i).randbytes(KB * 1024)

    @pipeline.step
    def digest(parts):
        ran.append("digest")
        return hashlib.sha256(b"".join(parts)).hexdigest()

    return pipeline, digest([blob(i) for i in range(N)])


def expected_digest() -> str:
    return hashlib.sha256(
        b"".join(random.Random(i).randbytes(KB * 1024) for i in range(N))
    ).hexdigest()


def statuses(folder: Path) -> dict[str, int]:
    return {
        p.parent.parent.name: json.loads(p.read_text())["status"]
        for p in folder.glob("steps/*/*/record.json")
    }


def lock_is_free(folder: Path) -> bool:
    """Nobody holds the folder's flock (this process included: flocks of two open files
    conflict within one process too)."""
    path = FolderLock(folder).path
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_disk_that_fills_during_the_run(tiny_disk: TinyDisk) -> None:
    folder, ran = tiny_disk.path / "p", []
    pipeline, result = blobs(folder, ran)
    with pytest.raises(StorageFullError) as info:
        pipeline.execute()
    message = str(info.value)
    assert "No space left on device" in message and str(folder) in message
    assert "run the same command again" in message
    first = statuses(folder)
    assert 1 not in first.values(), first  # nothing recorded as the steps' failure
    passed = sorted(name for name, status in first.items() if status == 0)
    assert 0 < len(passed) < N
    assert len(ran) == len(passed) + 1  # after the failure no step started
    assert lock_is_free(folder)
    with pytest.raises(StorageFullError):  # still full: the same error, not a LockedError
        pipeline.execute()
    tiny_disk.resize(4096)
    frame = pipeline.execute()  # the same process, the same pipeline: it works now
    assert frame["status"].tolist() == [0] * (N + 1)
    assert pipeline.get_result(result) == expected_digest()
    assert all(ran.count(name) == 1 for name in passed)  # kept, never recomputed
    assert all(ran.count(f"blob{i}") <= 3 for i in range(N))
    assert lock_is_free(folder)


def test_a_disk_full_before_the_run(tiny_disk: TinyDisk) -> None:
    folder, ran = tiny_disk.path / "p", []
    filler = tiny_disk.fill()
    pipeline, result = blobs(folder, ran)
    for _ in range(2):  # the second attempt must not find a leaked lock
        with pytest.raises(StorageFullError) as info:
            pipeline.execute()
        message = str(info.value)
        assert str(folder) in message and "No space left on device" in message, message
        assert "pid None" not in message
        assert lock_is_free(folder)
    assert ran == []
    filler.unlink()
    tiny_disk.resize(4096)
    pipeline.execute()
    assert pipeline.get_result(result) == expected_digest()
    assert sorted(ran) == sorted([f"blob{i}" for i in range(N)] + ["digest"])


def test_initialize_schema_alone_does_not_keep_the_lock(tmp_path: Path) -> None:
    pipeline, _ = blobs(tmp_path / "p", [])
    pipeline.initialize_schema()
    assert lock_is_free(tmp_path / "p")
    pipeline.initialize_schema(keep_lock=True)  # what a script that holds the folder asks for
    assert not lock_is_free(tmp_path / "p")
    pipeline.release()


def test_a_full_quota_is_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ran = tmp_path / "p", []
    pipeline, result = blobs(folder, ran)
    real = pipeline.store.commit
    calls = []

    def over_quota(record, result=None):  # type: ignore[no-untyped-def]
        if result is None:
            return real(record, result)
        calls.append(record.name)
        if len(calls) > 3:
            path = pipeline.store.result_path(record.name, record.key)
            raise OSError(errno.EDQUOT, "Disk quota exceeded", str(path))
        return real(record, result)

    monkeypatch.setattr(pipeline.store, "commit", over_quota)
    with pytest.raises(StorageFullError, match="Disk quota exceeded") as info:
        pipeline.execute()
    assert f"{folder}/steps/blob3/" in str(info.value)
    assert sorted(statuses(folder).values()) == [0, 0, 0]
    monkeypatch.setattr(pipeline.store, "commit", real)
    pipeline.execute()
    assert pipeline.get_result(result) == expected_digest()
    assert [ran.count(f"blob{i}") for i in range(N)] == [1, 1, 1, 2] + [1] * (N - 4)


@pytest.mark.parametrize("ranks", [4])
def test_a_full_disk_at_four_ranks(tiny_disk: TinyDisk, tmp_path: Path, ranks: int) -> None:
    folder, counts = tiny_disk.path / "p", tmp_path / "counts"
    counts.mkdir()
    args = (str(folder), str(counts), str(N), str(KB))
    done = run_script(SCRIPTS / "blobs.py", *args, ranks=ranks, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert output.count("full or over quota") == 1, output  # printed once, by one rank
    assert str(folder) in output and "Traceback" not in output
    first = statuses(folder)
    assert 1 not in first.values(), first
    passed = {name for name, status in first.items() if status == 0}
    started = {p.name: len(p.read_text().split()) for p in counts.iterdir()}
    assert sum(started.values()) - len(passed) <= ranks  # at most one more per rank
    tiny_disk.resize(4096)
    again = run_script(SCRIPTS / "blobs.py", *args, ranks=ranks, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"RESULT {expected_digest()}" in again.stdout
    ran = {p.name: len(p.read_text().split()) for p in counts.iterdir()}
    assert all(ran[name] == 1 for name in passed)
    assert len(ran) == N
