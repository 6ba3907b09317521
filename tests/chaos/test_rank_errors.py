"""Whatever one rank raises, and wherever, the job ends within seconds, error shown once.

One script (``tests/scripts/rank_fails.py``) goes wrong on one rank: while
defining steps (a name that collides on that rank only), while freezing (a
cycle on that rank only: every rank must raise the same error), between
collectives after a run, or on every rank alike. It runs at 2, 3, 4 and 8 ranks
with the failing rank 0, 1 and the last, under every launcher we have here.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import BIN, SCRIPTS, run_command

END_WITHIN = 5.0  # seconds from the failure to the end of the whole job
EXPECTED = {
    "define": "DuplicateStepNameError: two steps are named 'work1'",
    "freeze": "could not freeze the pipeline (CycleError: the pipeline's dependencies form a cycle",
    "after": "RuntimeError: boom on rank",
    "everyone": "CycleError: the pipeline's dependencies form a cycle",
}
FAST = [(2, 1, "freeze", "mpiexec"), (4, 3, "define", "mpiexec"), (3, 0, "after", "mpi4py")]
FULL = [
    (2, 0, "define", "mpiexec"),
    (2, 1, "after", "ezpipe-run"),
    (3, 1, "define", "mpi4py"),
    (3, 2, "freeze", "ezpipe-run"),
    (4, 0, "freeze", "mpiexec"),
    (4, 1, "after", "mpiexec"),
    (4, 0, "everyone", "mpiexec"),
    (8, 0, "after", "ezpipe-run"),
    (8, 1, "freeze", "mpi4py"),
    (8, 7, "define", "mpiexec"),
]


def command(ranks: int, launch: str, args: list[str]) -> list[str]:
    script = str(SCRIPTS / "rank_fails.py")
    if launch == "ezpipe-run":
        return [str(BIN / "ezpipe"), "run", script, "-n", str(ranks), "--", *args]
    python = [str(BIN / "python"), *(["-m", "mpi4py"] if launch == "mpi4py" else [])]
    return [str(BIN / "mpiexec"), "-n", str(ranks), *python, script, *args]


def check(tmp_path: Path, ranks: int, bad: int, where: str, launch: str) -> None:
    stamp = tmp_path / "stamp"
    args = [str(tmp_path / "p"), where, str(bad), str(stamp)]
    done = run_command(command(ranks, launch, args), timeout=120)
    ended = time.time()
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "UNREACHABLE" not in output
    assert output.count(EXPECTED[where]) == 1, output  # shown once, not once per rank
    if where == "freeze":
        assert f"rank {bad} could not freeze" in output
    if where in ("define", "after"):
        assert f"ezpipe: rank {bad} failed, ending the job" in output
    took = ended - float(stamp.read_text())
    assert took < END_WITHIN, f"the job took {took:.1f} s to end after rank {bad} failed"
    print(f"{launch} -n {ranks}, rank {bad} fails at {where}: the job ended {took:.2f} s later")


@pytest.mark.parametrize(("ranks", "bad", "where", "launch"), FAST)
def test_one_rank_fails_alone(tmp_path: Path, ranks: int, bad: int, where: str, launch: str):
    check(tmp_path, ranks, bad, where, launch)


@pytest.mark.chaos_full
@pytest.mark.parametrize(("ranks", "bad", "where", "launch"), FULL)
def test_one_rank_fails_alone_everywhere(
    tmp_path: Path, ranks: int, bad: int, where: str, launch: str
):
    check(tmp_path, ranks, bad, where, launch)
