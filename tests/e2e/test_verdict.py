"""One verdict on every surface, for the six kinds of run a user makes.

Surfaces: the headline the run prints, ``pipeline.summary`` and the verdict in
``run.json``, the Slurm job entry, and the exit codes of ``ezpipe run``,
``ezpipe summary`` and ``ezpipe status``. Each scenario pins the same answer on
all of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_command

SCRIPT = """
import os, signal, sys
from ezpipe import Pipeline

folder, fail = sys.argv[1], sys.argv[2]
pipeline = Pipeline(folder, "verdict", progress=False)


@pipeline.step(name="part_{k}")
def part(k):
    if fail == "fail" and k == 1:
        raise ValueError("part 1 fails")
    if fail == "stop" and k == 2:
        os.kill(os.getpid(), signal.SIGUSR1)
    return k


@pipeline.step
def total(values):
    return sum(values)


total([part(k) for k in range(3)])
pipeline.execute()
"""


def run(tmp_path: Path, folder: Path, how: str, *options: str) -> tuple[int, str]:
    script = tmp_path / "verdict.py"
    script.write_text(SCRIPT)
    env = {"SLURM_JOB_ID": "4242", "EZPIPE_SLURM_SCRIPT": "job.sbatch"}  # a job's entry too
    done = run_command(
        [*EZPIPE, "run", str(script), *options, "--", str(folder), how], env=env, timeout=120
    )
    return done.returncode, done.stdout


EZPIPE = [__import__("sys").executable, "-m", "ezpipe"]


def cli(*argv: str) -> tuple[int, str]:
    done = run_command([*EZPIPE, *argv], timeout=60)
    return done.returncode, done.stdout


def surfaces(folder: Path) -> dict[str, object]:
    run_json = json.loads((folder / "run.json").read_text())
    jobs = json.loads((folder / "slurm_jobs.json").read_text())["jobs"]
    summary_code, summary_out = cli("summary", str(folder))
    status_code, status_out = cli("status", str(folder))
    return {
        "file": (folder / "pipeline.summary").read_text().split(" @ ")[0],
        "run.json": run_json["verdict"]["word"],
        "job": jobs[-1]["outcome"],
        "summary": (summary_code, summary_out.split(" @ ")[0]),
        "status": (
            status_code,
            [x for x in status_out.splitlines() if " @ " in x][-1].split(" @ ")[0],
        ),
    }


def expect(word: str, code: int) -> dict[str, object]:
    return {
        "file": f"Pipeline {word}",
        "run.json": word,
        "job": word.lower(),
        "summary": (code, f"Pipeline {word}"),
        "status": (code, f"Pipeline {word}"),
    }


def test_a_full_run(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    code, out = run(tmp_path, folder, "ok")
    assert code == 0 and "Pipeline Completed @" in out
    assert surfaces(folder) == expect("Completed", 0)


def test_a_run_with_failures(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    code, out = run(tmp_path, folder, "fail")
    assert code == 1 and "Pipeline Failed @" in out
    assert surfaces(folder) == expect("Failed", 1)


def test_run_only_on_a_complete_folder(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    assert run(tmp_path, folder, "ok")[0] == 0
    code, out = run(tmp_path, folder, "ok", "--run-only", "part_0")
    assert code == 0 and "Pipeline Completed @" in out and "(4 steps: 4 pass, 4 from cache)" in out
    assert surfaces(folder) == expect("Completed", 0)
    rows = json.loads((folder / "pipeline.summary.json").read_text())
    assert all(r["rank"] == 0 and r["host"] and r["cached"] for r in rows)  # who computed it


def test_run_only_on_a_new_folder(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    code, out = run(tmp_path, folder, "ok", "--run-only", "part_0")
    assert code == 0 and "Pipeline Incomplete @" in out and "3 not run" in out
    assert surfaces(folder) == expect("Incomplete", 0)


def test_an_interrupted_run(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    code, _ = run(tmp_path, folder, "stop")
    assert code == 3  # the script ended with 75 (resubmit me): ezpipe run reports it
    assert surfaces(folder) == expect("Interrupted", 1)


@pytest.mark.parametrize("first", ["none", "ok"])
def test_a_dry_run_changes_no_surface(tmp_path: Path, first: str) -> None:
    folder = tmp_path / "f"
    if first == "ok":
        assert run(tmp_path, folder, "ok")[0] == 0
        before = surfaces(folder)
    code, out = run(tmp_path, folder, "fail", "--dry-run")
    assert code == 0 and out.startswith(f"Dry run @ {folder}")
    assert (folder / "pipeline.dryrun").exists()
    if first == "ok":
        assert surfaces(folder) == before == expect("Completed", 0)
    else:
        assert not (folder / "run.json").exists() and not (folder / "pipeline.summary").exists()
