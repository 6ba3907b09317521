"""Kill runs mid-way, corrupt files by hand, run twice at once: nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import BIN, ROOT, SCRIPTS, run_script

from ezpipe.records import Status
from ezpipe.store import Store


def passed_records(folder: Path) -> set[str]:
    """Names of the steps with a passed record, read as ``ezpipe status`` would (a reader
    while the run appends)."""
    store = Store(folder)
    found = store.read_records(store.entries())
    return {r.name for r in found if r is not None and r.status == Status.PASSED}


def executions(counts: Path) -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in counts.iterdir()}


@pytest.mark.parametrize("ranks", [1, 4])
def test_killed_run_resumes_without_recomputing_finished_steps(tmp_path, ranks):
    folder, counts = tmp_path / "p", tmp_path / "counts"
    counts.mkdir()
    cmd = [sys.executable, str(SCRIPTS / "chain.py"), str(folder), str(counts), "--sleep", "0.3"]
    if ranks > 1:
        cmd = [str(BIN / "mpiexec"), "-n", str(ranks), *cmd]
    proc = subprocess.Popen(
        cmd, start_new_session=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while len(passed_records(folder)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = passed_records(folder)
    assert 3 <= len(finished) < 17, finished  # killed mid-way
    done = run_script(SCRIPTS / "chain.py", str(folder), str(counts), ranks=ranks)
    assert done.returncode == 0, done.stderr
    assert "RESULT 56" in done.stdout
    ran = executions(counts)
    assert all(ran[name] == 1 for name in finished), (finished, ran)
    assert all(n <= 2 for n in ran.values())  # at most the killed attempt and one more
    assert len(ran) == 17


@pytest.mark.parametrize("layout", ["folder", "packed"])
def test_corrupt_files_are_recomputed_with_a_warning(tmp_path, layout, monkeypatch):
    monkeypatch.setenv("EZPIPE_STORE_LAYOUT", layout)
    folder, counts = tmp_path / "p", tmp_path / "counts"
    counts.mkdir()
    assert run_script(SCRIPTS / "chain.py", str(folder), str(counts)).returncode == 0
    if layout == "folder":
        result = next(folder.glob("steps/scale3/*/result.pkl"))
        result.write_bytes(result.read_bytes()[:-3])  # truncated
        record = next(folder.glob("steps/load5/*/record.json"))
        record.write_text(record.read_text()[:40])  # torn JSON
        warnings = [
            f"{result} does not match its checksum",
            f"ignoring unreadable step record {record}",
        ]
    else:
        store = Store(folder)
        assert store.layout == "packed"
        index = store.backend.index if store.entries() else None
        pack_name, frame3 = next(v for (n, _), v in index.entries.items() if n == "scale3")
        _, frame5 = next(v for (n, _), v in index.entries.items() if n == "load5")
        pack = folder / "steps" / ".packs" / pack_name
        data = bytearray(pack.read_bytes())
        data[frame3.offset + frame3.size - 2] ^= 0xFF  # a byte of the result
        data[frame5.offset + frame5.body + 20] ^= 0xFF  # a byte of the record
        pack.write_bytes(bytes(data))
        warnings = [
            f"the entry of scale3/{frame3.key[:16]} at offset {frame3.offset}",
            f"the entry of load5/{frame5.key[:16]} at offset {frame5.offset}",
        ]
    done = run_script(SCRIPTS / "chain.py", str(folder), str(counts))
    assert done.returncode == 0 and "RESULT 56" in done.stdout
    for warning in warnings:
        assert warning in done.stderr
    ran = executions(counts)
    assert {name for name, n in ran.items() if n == 2} == {"scale3", "load5"}


def test_two_runs_at_once_do_not_corrupt_the_folder(tmp_path):
    folder, counts = tmp_path / "p", tmp_path / "counts"
    counts.mkdir()
    args = [sys.executable, str(SCRIPTS / "chain.py"), str(folder), str(counts), "--hold", "1"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(0.5)
    second = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, start_new_session=True)
    outs = [p.communicate(timeout=120)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0]
    assert all("RESULT 56" in out for out in outs)
    assert all(n == 1 for n in executions(counts).values())  # the second waited, then reused


def test_a_locked_folder_gives_a_clear_error(tmp_path):
    folder, counts = tmp_path / "p", tmp_path / "counts"
    counts.mkdir()
    args = [sys.executable, str(SCRIPTS / "chain.py"), str(folder), str(counts), "--hold", "20"]
    holder = subprocess.Popen(args, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (folder / ".ezpipe.lock").exists() or not (folder / ".ezpipe.lock").read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        code = (
            "import sys; from ezpipe import Pipeline; p = Pipeline(sys.argv[1]);"
            "p.step(lambda: 1)(); p.execute()"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0
        assert f"another run is using {folder}: pid {holder.pid}" in done.stderr
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
