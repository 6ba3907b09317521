"""Readers during a run: results, records, ``ezpipe status`` and ``show`` are read while a
4-rank run rewrites every result round after round; no reader ever sees a torn or wrong
value, and the run never fails because of them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BIN, ROOT, SCRIPTS


def churn_and_read(tmp_path: Path, rounds: int, readers: int) -> list[str]:
    folder, stop = tmp_path / "p", tmp_path / "stop"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    writer_cmd = [str(BIN / "mpiexec"), "-n", "4", sys.executable, str(SCRIPTS / "churn.py")]
    writer = subprocess.Popen(
        [*writer_cmd, str(folder), str(rounds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=ROOT,
        env=env,
    )
    reading = [
        subprocess.Popen(
            [sys.executable, str(SCRIPTS / "reader.py"), str(folder), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            cwd=ROOT,
            env=env,
        )
        for _ in range(readers)
    ]
    try:
        out, err = writer.communicate(timeout=300)
        stop.touch()
        said = [reader.communicate(timeout=300)[0] for reader in reading]
    finally:
        stop.touch()
        for proc in (writer, *reading):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert writer.returncode == 0, err
    assert out.count("ROUND True") == rounds, out + err
    for reader, text in zip(reading, said, strict=True):
        assert reader.returncode == 0, text
        assert "READER OK" in text, text
        loads = int(re.search(r"loads=(\d+)", text).group(1))  # type: ignore[union-attr]
        assert loads >= 3, text  # it read while the run wrote, not only after it
    return said


def test_a_reader_during_a_run(tmp_path: Path) -> None:
    churn_and_read(tmp_path, rounds=5, readers=1)


@pytest.mark.chaos_full
def test_two_readers_during_many_rounds(tmp_path: Path) -> None:
    churn_and_read(tmp_path, rounds=25, readers=2)
