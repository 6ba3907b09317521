"""Submission and waiting, with a stand-in sbatch / scontrol that answers like Slurm."""

from __future__ import annotations

import subprocess

import pytest

from ezpipe.errors import SlurmError
from ezpipe.slurm import read_chain, submit, wait


class FakeSlurm:
    """Answers sbatch and scontrol like Slurm does, from a table of job states."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states
        self.calls: list[list[str]] = []

    def __call__(self, cmd, **kwargs):
        self.calls.append(cmd)
        if cmd[0] == "sbatch":
            return subprocess.CompletedProcess(cmd, 0, "123;cluster\n", "")
        state = self.states.get(cmd[-1])
        if state is None:
            return subprocess.CompletedProcess(cmd, 1, "", "Invalid job id specified")
        out = f"JobId={cmd[-1]} JobName=x JobState={state} Reason=None ExitCode=0:0\n"
        return subprocess.CompletedProcess(cmd, 0, out, "")


def test_submit_returns_the_job_id(tmp_path):
    assert submit(tmp_path / "x.sbatch", run=FakeSlurm({})) == "123"


def test_wait_follows_resubmissions(tmp_path):
    chain = tmp_path / "x.sbatch.jobs"
    chain.write_text("5 75 6\n6 0 -\n")
    assert read_chain(chain) == {"5": (75, "6"), "6": (0, None)}
    said: list[str] = []
    assert wait("5", chain, poll=0.01, run=FakeSlurm({}), echo=said.append) == 0
    assert said == [
        "ezpipe slurm: job 5 stopped at its time limit; resubmitted as 6",
        "ezpipe slurm: job 6 ended with exit status 0",
    ]


def test_wait_on_a_job_that_vanished_without_reporting(tmp_path):
    fake = FakeSlurm({"7": "CANCELLED"})
    assert wait("7", tmp_path / "none.jobs", poll=0.01, run=fake, echo=lambda s: None) == 1
    with pytest.raises(SlurmError, match="still RUNNING"):
        wait("8", tmp_path / "none.jobs", poll=0.01, timeout=0.05, run=FakeSlurm({"8": "RUNNING"}))
