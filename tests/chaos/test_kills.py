"""SIGKILL at random points at 4 ranks, then resume: every value right, nothing that had
finished computed again, nothing torn. Also a single rank killed alone: the job ends."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import BIN, ROOT, SCRIPTS, run_script

N = 24  # chain.py --n 24: 24 loads, 24 scales and a total
RESULT = f"RESULT {sum(2 * i for i in range(N))}"


def chain(folder: Path, counts: Path, ranks: int = 4) -> list[str]:
    cmd = [sys.executable, str(SCRIPTS / "chain.py"), str(folder), str(counts)]
    return [str(BIN / "mpiexec"), "-n", str(ranks), *cmd, "--n", str(N), "--sleep", "0.1"]


def passed(folder: Path) -> set[str]:
    """Steps whose record says passed; every such record parses and its result exists."""
    names = set()
    for record in folder.glob("steps/*/*/record.json"):
        data = json.loads(record.read_text())  # never torn, even right after a kill
        if data["status"] == 0:
            assert (record.parent / "result.pkl").stat().st_size == data["result_bytes"]
            names.add(record.parent.parent.name)
    return names


def counts_of(counts: Path) -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in counts.iterdir()}


def rank_pid(folder: Path, rank: int) -> int:
    """The pid of the process that is MPI rank ``rank`` of the run on ``folder``."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if str(folder).encode() in cmdline and f"PMI_RANK={rank}".encode() in environ:
            return int(proc.name)
    raise AssertionError(f"no rank {rank} running on {folder}")


def kill_at_random(folder: Path, counts: Path, delay: float) -> None:
    proc = subprocess.Popen(
        chain(folder, counts),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def kills_then_resume(tmp_path: Path, kills: int, seed: int) -> None:
    folder, counts = tmp_path / "p", tmp_path / "counts"
    counts.mkdir()
    rng = random.Random(seed)
    for number in range(kills):
        before = passed(folder) if folder.exists() else set()
        ran_before = counts_of(counts)
        kill_at_random(folder, counts, rng.uniform(0.5, 5.0))
        ran = counts_of(counts)
        again = [name for name in before if ran.get(name) != ran_before.get(name)]
        assert not again, f"kill {number} (seed {seed}): finished steps ran again: {again}"
    finished = passed(folder)
    ran_before = counts_of(counts)
    done = run_script(SCRIPTS / "chain.py", str(folder), str(counts), "--n", str(N), ranks=4)
    assert done.returncode == 0, done.stderr
    assert RESULT in done.stdout
    ran = counts_of(counts)
    assert all(ran[name] == ran_before[name] for name in finished)
    assert set(ran) == {f"load{i}" for i in range(N)} | {f"scale{i}" for i in range(N)} | {"total"}
    assert passed(folder) == set(ran)


def test_random_kills_then_resume(tmp_path: Path) -> None:
    kills_then_resume(tmp_path, kills=2, seed=1)


@pytest.mark.chaos_full
@pytest.mark.parametrize("seed", range(4))
def test_many_random_kills_then_resume(tmp_path: Path, seed: int) -> None:
    kills_then_resume(tmp_path, kills=6, seed=100 + seed)


@pytest.mark.chaos_full
@pytest.mark.parametrize("victim", [0, 1, 3])
def test_one_rank_killed_alone_ends_the_job(tmp_path: Path, victim: int) -> None:
    folder, counts = tmp_path / "p", tmp_path / "counts"
    counts.mkdir()
    proc = subprocess.Popen(
        chain(folder, counts),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(counts.iterdir()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        victim_pid = rank_pid(folder, victim)
        killed = time.monotonic()
        os.kill(victim_pid, signal.SIGKILL)
        proc.wait(timeout=30)
        took = time.monotonic() - killed
        assert took < 5, took
        assert proc.returncode != 0
        print(f"rank {victim} killed alone: the job ended {took:.2f} s later")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    done = run_script(SCRIPTS / "chain.py", str(folder), str(counts), "--n", str(N), ranks=4)
    assert done.returncode == 0 and RESULT in done.stdout, done.stderr
