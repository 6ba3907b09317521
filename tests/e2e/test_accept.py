"""Accepting a fix: re-run only the failed points of a sweep, keep every other result."""

from __future__ import annotations

import sys
from pathlib import Path

from helpers import run_command

from ezpipe.store import Store

SCRIPT = """
import os, sys
from ezpipe import Pipeline

pipeline = Pipeline(sys.argv[1], "sweep", progress=False)


def counted(name):
    with open(os.path.join(sys.argv[2], name), "a") as handle:
        handle.write("x")


@pipeline.step(name="point_{k}")
def point(k):
    counted(f"point_{k}")
    if k % 5 == 3{guard}:
        raise ValueError(f"k={k} diverges")
    return k * k


@pipeline.step
def total(values):
    counted("total")
    return sum(values)


total([point(k) for k in range(20)])
pipeline.execute()
"""
EZPIPE = [sys.executable, "-m", "ezpipe", "run"]


def counts(folder: Path) -> dict[str, int]:
    return {p.name: len(p.read_text()) for p in folder.iterdir()}


def test_fixing_the_failed_points_recomputes_only_them(tmp_path: Path) -> None:
    script, folder, seen = tmp_path / "sweep.py", tmp_path / "f", tmp_path / "counts"
    seen.mkdir()
    script.write_text(SCRIPT.replace("{guard}", ""))
    first = run_command([*EZPIPE, str(script), "--", str(folder), str(seen)])
    assert first.returncode == 1 and "4 fail" in first.stdout  # k = 3, 8, 13, 18
    script.write_text(SCRIPT.replace("{guard}", " and False"))  # the fix: point's code changed
    before = counts(seen)
    fixed = run_command(
        [*EZPIPE, str(script), "--accept", "point", "--mode", "retry", "--", str(folder), str(seen)]
    )
    assert fixed.returncode == 0, fixed.stdout[-2000:] + fixed.stderr[-2000:]
    after = counts(seen)
    recomputed = sorted(name for name in after if after[name] != before.get(name, 0))
    assert recomputed == ["point_13", "point_18", "point_3", "point_8", "total"]
    adopted = [r for r in Store(folder).records_of("point_1") if r.adopted_from]
    assert len(adopted) == 1 and adopted[0].accepted == ["point"]
    assert "Pipeline Completed @" in fixed.stdout


def test_without_accept_a_code_change_recomputes_every_point(tmp_path: Path) -> None:
    script, folder, seen = tmp_path / "sweep.py", tmp_path / "f", tmp_path / "counts"
    seen.mkdir()
    script.write_text(SCRIPT.replace("{guard}", ""))
    run_command([*EZPIPE, str(script), "--", str(folder), str(seen)])
    script.write_text(SCRIPT.replace("{guard}", " and False"))
    plan = run_command([*EZPIPE, str(script), "--dry-run", "--", str(folder), str(seen)])
    assert "source of point changed" in plan.stdout
    assert "21 run" in plan.stdout.splitlines()[0]
