"""Step records, captured logs, run.json and the run controls, on one rank in-process."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

from ezpipe import Pipeline, Status
from ezpipe.records import RunRecord, StepRecord
from ezpipe.store import Store


def _make(folder: Path, calls: list[str], **options: object) -> Pipeline:
    pipeline = Pipeline(folder, "observed", echo=False, progress=False, **options)

    @pipeline.step
    def source(n):
        calls.append("source")
        print(f"source {n}")
        return list(range(n))

    @pipeline.step(name="work_{k}")
    def work(xs, k):
        calls.append(f"work_{k}")
        print(f"work {k} to stderr", file=sys.stderr)
        if k == 2:
            raise ValueError(f"k={k} is not allowed")
        return sum(xs) * k

    @pipeline.step
    def total(values):
        calls.append("total")
        return sum(values)

    src = source(4)
    total([work(src, k) for k in range(4)])
    return pipeline


def _record(folder: Path, name: str) -> StepRecord:
    (record,) = Store(folder).records_of(name)
    return record


def test_records_are_complete_and_logs_captured(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    pipeline = _make(folder, [])
    pipeline.execute()
    ok, bad, skipped = (
        _record(folder, "work_1"),
        _record(folder, "work_2"),
        _record(folder, "total"),
    )
    for rec in (ok, bad):
        assert rec.rank == 0 and rec.host == socket.gethostname() and rec.pid == os.getpid()
        assert rec.start is not None and rec.end is not None and rec.end >= rec.start
        assert rec.duration == pytest.approx(rec.end - rec.start)
        assert rec.cached is False and len(rec.key) == 64
    assert ok.status == Status.PASSED and ok.error_type is None
    assert bad.status == Status.FAILED and bad.error_type == "ValueError"
    assert bad.error_message == "ValueError: k=2 is not allowed"
    assert "Traceback (most recent call last)" in bad.traceback
    assert "runner.py" not in bad.traceback  # starts at the user's code
    assert 'raise ValueError(f"k={k} is not allowed")' in bad.traceback
    assert skipped.status == Status.SKIPPED and skipped.skipped_because == "work_2"
    assert Path(bad.log_path).read_text() == "work 2 to stderr\n"
    assert Path(_record(folder, "source").log_path).read_text() == "source 4\n"
    assert Path(bad.log_path).parent == pipeline.store.step_dir("work_2", bad.key)


def test_output_is_tee_d_with_the_step_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _make(tmp_path / "p", []).execute()
    captured = capsys.readouterr()
    assert "[source] source 4\n" in captured.out
    assert "[work_2] work 2 to stderr\n" in captured.err
    _make(tmp_path / "q", [], tee_output=False).execute()
    captured = capsys.readouterr()
    assert "[source]" not in captured.out and "[work_2]" not in captured.err


def test_run_record_beside_the_schema(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    _make(folder, []).execute(max_concurrent=2)
    run = RunRecord.model_validate_json((folder / "run.json").read_text())
    assert (folder / "pipeline.schema").exists()
    assert run.pipeline == "observed" and run.folder == str(folder)
    assert run.end is not None and run.end >= run.start and run.duration is not None
    assert run.ranks == 1 and run.hosts == [socket.gethostname()] and run.pid == os.getpid()
    assert run.python_version == ".".join(map(str, sys.version_info[:3]))
    assert run.ezpipe_version and run.command == sys.argv
    assert run.options["max_concurrent"] == 2
    assert run.counts == {"pass": 4, "fail": 1, "skip": 1}


def test_dry_run_runs_and_writes_nothing_but_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "p"
    calls: list[str] = []
    pipeline = _make(folder, calls)
    pipeline.echo = True
    frame = pipeline.execute(dry_run=True)
    assert calls == []
    assert sorted(p.name for p in folder.iterdir()) == ["pipeline.dryrun"]
    assert set(frame["action"]) == {"run"}
    assert "Dry run @" in capsys.readouterr().out
    pipeline.echo = False
    pipeline.execute()
    calls.clear()
    again = _make(folder, calls).execute(dry_run=True).set_index("name")
    assert calls == []
    assert again.loc["work_1", "action"] == "cached"
    assert again.loc["work_2", "action"] == "cached failure"
    assert again.loc["total", "action"] == "skip"
    retry = _make(folder, calls, mode="retry").execute(dry_run=True).set_index("name")
    assert retry.loc["work_2", "action"] == "run"
    assert retry.loc["work_2", "reason"] == "failed last time"
    report = (folder / "pipeline.dryrun").read_text()
    assert "work_2" in report and "failed last time" in report


def test_a_large_dry_run_prints_its_groups_and_the_report_has_every_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def sweep(scale: int, echo: bool = True) -> Pipeline:
        pipeline = Pipeline(tmp_path / "sweep", echo=echo, progress=False)
        point = pipeline.step(name="p{i}")(lambda i, scale: i * scale)
        for i in range(120):
            point(i, scale if i < 80 else 1)  # the last 40 never change
        return pipeline

    sweep(1, echo=False).execute()
    sweep(2).execute(dry_run=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("nothing was run (120 steps: 80 run, 40 cached)")
    assert len(out) < 10  # grouped, not 120 lines
    groups = {tuple(line.split()[:2]): line for line in out}
    assert "argument scale: 1 -> 2" in groups["80", "run"]
    assert "(p80, p81, p82, ...)" in groups["40", "cached"]
    assert out[-1] == f"Every step, one line each: {tmp_path / 'sweep' / 'pipeline.dryrun'}"
    report = (tmp_path / "sweep" / "pipeline.dryrun").read_text().splitlines()
    assert len(report) == 122 and report[0] == out[0]
    assert sum("argument scale: 1 -> 2" in line for line in report) == 80


def test_run_only_runs_matches_and_dependencies(tmp_path: Path) -> None:
    calls: list[str] = []
    frame = _make(tmp_path / "p", calls).execute(run_only=["work_1"]).set_index("name")
    assert sorted(calls) == ["source", "work_1"]
    assert frame.loc["work_1", "status"] == Status.PASSED
    assert frame.loc["work_3", "status"] == Status.NOT_RUN


def test_from_step_recomputes_that_step_and_downstream(tmp_path: Path) -> None:
    calls: list[str] = []
    folder = tmp_path / "p"
    _make(folder, calls).execute()
    calls.clear()
    _make(folder, calls).execute(from_step="work_1")
    assert sorted(calls) == ["work_1"]  # total is downstream but skipped: work_2 failed
    calls.clear()
    _make(folder, calls).execute(from_step=["source"])
    assert sorted(calls) == ["source", "work_0", "work_1", "work_2", "work_3"]


def test_environment_from_ezpipe_run_overrides_execute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setenv("EZPIPE_RUN_ONLY", json.dumps(["work_3"]))
    _make(tmp_path / "p", calls).execute()
    assert sorted(calls) == ["source", "work_3"]
