"""The live terminal, as a user sees it: ``ezpipe run -n 4`` under tmux, and in a file.

On a terminal the bar must stay on the last line while every rank's lines scroll
above it (they travel through rank 0, see :mod:`ezpipe.observe.terminal`); in a
file (a Slurm output) there is no bar, only plain periodic lines.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from helpers import BIN, run_command

SCRIPT = """
import sys, time
from ezpipe import Pipeline

pipeline = Pipeline(sys.argv[1], "sweep")


@pipeline.step(name="mc_volume_{i}")
def mc_volume(i):
    print(f"sample {i} starts")
    time.sleep(0.25)
    if i % 9 == 4:
        raise ValueError(f"sample {i} diverged")
    return i


@pipeline.step
def total(xs):
    return sum(xs)


total([mc_volume(i) for i in range(40)])
pipeline.execute()
"""
BAR = re.compile(r"sweep:\s+\d+%\|.*\| \d+/41 \[")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def tmux_available() -> None:
    if shutil.which("tmux") is None:  # install it rather than skip: this check matters
        subprocess.run(["apt-get", "install", "-y", "tmux"], capture_output=True, check=False)
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed for this test: apt-get install -y tmux")


def test_the_bar_stays_on_the_last_line_under_tmux(tmp_path: Path, tmux_available: None) -> None:
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT)
    folder = tmp_path / "folder"
    session = f"ezpipe-test-{uuid.uuid4().hex[:8]}"
    command = f"{BIN / 'ezpipe'} run {script} -n 4 -- {folder}; echo EXIT=$?; sleep 120"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    screens: list[list[str]] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            shown = tmux("capture-pane", "-p", "-t", session).splitlines()
            lines = [line.rstrip() for line in shown if line.strip()]
            if any(line.startswith("EXIT=") for line in lines):
                break
            if not any(line.startswith("Pipeline ") for line in lines):  # still running
                screens.append(lines)
            time.sleep(0.2)
        history = tmux("capture-pane", "-p", "-t", session, "-S", "-2000")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    with_bar = [s for s in screens if any(BAR.search(line) for line in s)]
    assert len(with_bar) >= 3, f"no live bar seen in {len(screens)} screens:\n{screens[-1:]}"
    for screen in with_bar:
        assert BAR.search(screen[-1]), "the bar is not the last line:\n" + "\n".join(screen)
        assert sum(1 for line in screen if BAR.search(line)) == 1, "\n".join(screen)
    lines = history.splitlines()
    for line in lines:  # nothing ever written onto the bar's line
        if BAR.search(line):
            assert line.lstrip().startswith("sweep:"), line
    for rank in range(4):  # every rank's lines reached the terminal, whole
        assert any(line.startswith(f"[MPI process {rank:02d}] [Running") for line in lines), rank
    assert "  ╰─> [FAIL] 'mc_volume_13': ValueError: sample 13 diverged" in lines
    assert "EXIT=1" in lines
    assert any(line.startswith("FAIL  4 steps") for line in lines)


def test_in_a_file_there_is_no_bar_but_plain_lines(tmp_path: Path) -> None:
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT)
    done = run_command(
        [str(BIN / "ezpipe"), "run", str(script), "-n", "4", "-q", "--", str(tmp_path / "f")],
        env={"EZPIPE_PROGRESS_INTERVAL": "0.5"},
    )
    assert done.returncode == 1
    assert "\r" not in done.stdout + done.stderr
    progress = [line for line in done.stderr.splitlines() if line.startswith("ezpipe progress")]
    assert progress and "steps done" in progress[-1]
    out = done.stdout.splitlines()
    assert "[FAIL] 'mc_volume_4' on rank" in done.stdout
    assert not any("[Executing Pickle Step Object" in line for line in out)  # quiet
    assert not any(line.startswith("[mc_volume_") for line in out)  # steps' output: logs only
