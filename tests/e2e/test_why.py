"""Re-runs users can explain: what a dry run and `ezpipe why` say after each kind of edit."""

from __future__ import annotations

import sys
from pathlib import Path

from helpers import run_command

SCRIPT = """
import sys
from ezpipe import Pipeline

SCALE = {scale}
pipeline = Pipeline(sys.argv[1], "why", progress=False)


def helper(x):
    return x + {offset}


@pipeline.step
def load(n):
    return list(range(n))


@pipeline.step(version="{version}")
def mc_volume(data, n_samples):
    # {comment}
    total = sum(data) * SCALE
    return helper(total) / n_samples


mc_volume(load({n}), n_samples={samples})
pipeline.execute()
"""
BASE = {"scale": 1.0, "offset": 1, "version": "1", "comment": "c", "n": 10, "samples": 1000}
EZPIPE = [sys.executable, "-m", "ezpipe"]


def write(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "study.py"
    path.write_text(SCRIPT.format(**{**BASE, **changes}))
    return path


def dry_run(script: Path, folder: Path) -> str:
    done = run_command([*EZPIPE, "run", str(script), "--dry-run", "--", str(folder)])
    assert done.returncode == 0, done.stderr
    return done.stdout


def why(folder: Path, step: str) -> str:
    done = run_command([*EZPIPE, "why", str(folder), step])
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_each_edit_is_named_in_the_dry_run_and_by_ezpipe_why(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    script = write(tmp_path)
    assert run_command([*EZPIPE, "run", str(script), "--", str(folder)]).returncode == 0

    write(tmp_path, comment="a comment changed, nothing else")
    plan = dry_run(script, folder)
    assert "2 cached" in plan.splitlines()[0]  # a comment recomputes nothing
    assert "no earlier definition" in why(folder, "mc_volume")

    cases = {
        "samples": (2000, "argument n_samples: 1000 -> 2000"),
        "scale": (10.0, "global SCALE: 1.0 -> 10.0"),
        "version": ("2", "version 1 -> 2"),
        "offset": (5, "helper helper changed"),
    }
    for field, (value, reason) in cases.items():
        write(tmp_path, **{field: value})
        plan = dry_run(script, folder)
        line = next(x for x in plan.splitlines() if x.startswith("mc_volume"))
        assert reason in line, (field, line)
        assert next(x for x in plan.splitlines() if x.startswith("load ")).split()[2] == "cached"
        assert run_command([*EZPIPE, "run", str(script), "--", str(folder)]).returncode == 0
        assert reason in why(folder, "mc_volume")  # why that run computed it again
        write(tmp_path)  # back to the first definition: reused, nothing recomputed
        assert "2 cached" in dry_run(script, folder).splitlines()[0]

    write(tmp_path, n=20)
    plan = dry_run(script, folder)
    assert "argument n: 10 -> 20" in next(x for x in plan.splitlines() if x.startswith("load "))
    assert run_command([*EZPIPE, "run", str(script), "--", str(folder)]).returncode == 0
    assert "upstream load changed" in why(folder, "mc_volume")


def test_why_of_an_unknown_step_suggests_names(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    run_command([*EZPIPE, "run", str(write(tmp_path)), "--", str(folder)])
    done = run_command([*EZPIPE, "why", str(folder), "mc_volum"])
    assert done.returncode == 3 and "did you mean mc_volume" in done.stderr
