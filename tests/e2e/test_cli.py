"""The `ezpipe` command: every sub-command, its options and its exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _observe import FAILED, N_STEPS, PASSED, SKIPPED, build, run_cli, write_script

from ezpipe.cli import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_STEPS_FAILED, EXIT_USAGE
from ezpipe.store import Store

BROKEN = {"now": False}
COMMANDS = ["run", "status", "show", "summary", "clean", "graph", "timeline", "report"]


@pytest.fixture
def folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    built = build(tmp_path)
    capsys.readouterr()
    return built


def test_help_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("--help") == EXIT_OK
    text = capsys.readouterr().out
    assert "exit codes" in text
    for command in COMMANDS:
        assert command in text
        assert run_cli(command, "--help") == EXIT_OK
        assert f"usage: ezpipe {command}" in capsys.readouterr().out


def test_usage_errors_have_their_own_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli() == EXIT_USAGE
    assert run_cli("frobnicate") == EXIT_USAGE
    assert run_cli("summary", str(tmp_path), "--format", "xml") == EXIT_USAGE
    assert run_cli("status", str(tmp_path), "--", "x") == EXIT_USAGE  # argparse: unrecognized
    assert run_cli("run", str(tmp_path / "missing.py")) == EXIT_USAGE
    script = write_script(tmp_path)
    assert run_cli("run", str(script), "-n", "0") == EXIT_USAGE
    capsys.readouterr()


def test_missing_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("status", "summary", "graph", "timeline", "clean"):
        assert run_cli(command, str(tmp_path / "nope")) == EXIT_ERROR, command
    assert run_cli("show", str(tmp_path / "nope"), "x") == EXIT_ERROR
    assert "no such folder" in capsys.readouterr().err


def test_run_in_process_reports_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = build(tmp_path)
    out, err = capsys.readouterr()
    assert "[FAIL] 'work_2'" in out and "[work_1] work 1 says hi" in out
    assert "steps failed or were skipped" in err and "ezpipe status" in err
    assert (folder / "run.json").exists()


def test_run_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write_script(tmp_path)
    folder = str(tmp_path / "f")
    assert run_cli("run", str(script), "--run-only", "work_[013]", folder) == EXIT_OK  # no --
    assert run_cli("run", str(script), "--dry-run", "--", folder) == EXIT_OK
    assert "Dry run @" in capsys.readouterr().out
    assert run_cli("run", str(script), "--", folder) == EXIT_STEPS_FAILED
    crash = tmp_path / "crash.py"
    crash.write_text("raise RuntimeError('broken script')\n")
    assert run_cli("run", str(crash)) == EXIT_ERROR
    assert "broken script" in capsys.readouterr().err
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert run_cli("run", str(empty)) == EXIT_ERROR
    assert "ran no pipeline" in capsys.readouterr().err
    assert run_cli("run", str(script), "--from-step", "wrok_1", "--", folder) == EXIT_ERROR
    assert "did you mean ['work_1'" in capsys.readouterr().err


def test_run_with_options_changes_what_runs(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = folder.parent / "observed_pipeline.py"
    assert run_cli("run", str(script), "--from-step", "work_1", "--", str(folder)) == 1
    out = capsys.readouterr().out
    assert "[Executing Pickle Step Object 'work_1']" in out
    assert "[Executing Pickle Step Object 'work_0']" not in out
    assert (
        run_cli("run", str(script), "--mode", "retry", "--max-concurrent", "1", "--", str(folder))
        == 1
    )
    out = capsys.readouterr().out
    assert "[Executing Pickle Step Object 'work_2']" in out
    assert "[Executing Pickle Step Object 'work_1']" not in out
    run = json.loads((folder / "run.json").read_text())
    assert run["options"]["max_concurrent"] == 1 and run["options"]["mode"] == "retry"
    assert run_cli("run", str(script), "--no-tee", "--mode", "retry", "--", str(folder)) == 1
    out = capsys.readouterr().out
    assert "[Executing Pickle Step Object 'work_2']" in out and "[work_2]" not in out
    log = next((folder / "steps" / "work_2").glob("*/output.log")).read_text()
    assert log == "work 2 says hi\nwork 2 warns\n"


def test_status(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("status", str(folder)) == EXIT_STEPS_FAILED
    out = capsys.readouterr().out
    assert "latest run finished" in out and "1 ranks" in out
    assert f"{N_STEPS} steps: 7 pass, 1 fail, 2 skip" in out
    lines = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert all(name in lines for name in PASSED + FAILED + SKIPPED)
    assert "FAIL" in lines["work_2"] and "k=2 is not allowed" in lines["work_2"]
    assert "SKIP" in lines["total"] and "upstream 'work_2'" in lines["total"]
    assert f"ezpipe show {folder} work_2" in out

    # --failed: FAIL and SKIP, as `clean --failed` (what a retry recomputes); -s fail: FAIL only
    assert run_cli("status", str(folder), "--failed", "--json") == EXIT_STEPS_FAILED
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == FAILED + SKIPPED
    assert run_cli("status", str(folder), "-s", "fail", "--json") == EXIT_STEPS_FAILED
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == FAILED
    assert rows[0]["rank"] == 0 and rows[0]["cached"] is False and rows[0]["duration"] > 0
    assert run_cli("status", str(folder), "-s", "skip", "--json") == EXIT_STEPS_FAILED
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == SKIPPED
    assert run_cli("status", str(folder), "--phase", "0", "--json") == EXIT_STEPS_FAILED
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["source"]


def test_status_shows_cache_hits_after_a_rerun(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = folder.parent / "observed_pipeline.py"
    run_cli("run", str(script), "--", str(folder))
    capsys.readouterr()
    run_cli("status", str(folder), "--json")
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["work_1"]["cached"] is True and rows["work_2"]["cached"] is True
    assert rows["total"]["cached"] is False


def test_status_of_a_run_in_progress_or_crashed(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = json.loads((folder / "run.json").read_text())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (folder / "run.json").write_text(json.dumps({**run, "end": None, "pid": child.pid}))
        Store(folder).clear("total")  # as if not run yet
        assert run_cli("status", str(folder)) == EXIT_STEPS_FAILED
        out = capsys.readouterr().out
        assert "latest run running" in out and "pending" in out
        assert "NOT RUN" in next(line for line in out.splitlines() if line.startswith("total"))
    finally:
        child.kill()
        child.wait()
    assert run_cli("status", str(folder)) == EXIT_STEPS_FAILED
    assert "latest run crashed" in capsys.readouterr().out


def test_show(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("show", str(folder), "work_2") == EXIT_STEPS_FAILED
    out = capsys.readouterr().out
    assert "status      FAIL" in out and "rank        0 on" in out
    assert "error       ValueError: k=2 is not allowed" in out
    assert "Traceback (most recent call last)" in out and "raise ValueError" in out
    assert "work 2 says hi\nwork 2 warns" in out
    assert run_cli("show", str(folder), "work_1") == EXIT_OK
    out = capsys.readouterr().out
    assert "status      PASS" in out and "result      /" in out and "Traceback" not in out
    assert run_cli("show", str(folder), "post_0") == EXIT_OK
    assert "(the step printed nothing)" in capsys.readouterr().out
    assert run_cli("show", str(folder), "total") == EXIT_STEPS_FAILED
    out = capsys.readouterr().out
    assert "SKIP" in out and f"ezpipe show {folder} work_2" in out
    assert run_cli("show", str(folder), "work_2", "--tail", "1") == EXIT_STEPS_FAILED
    out = capsys.readouterr().out
    assert "1 earlier lines" in out and "work 2 warns" in out
    assert run_cli("show", str(folder), "work_2", "--json") == EXIT_STEPS_FAILED
    assert json.loads(capsys.readouterr().out)["error_type"] == "ValueError"
    assert run_cli("show", str(folder), "work") == EXIT_ERROR
    assert "did you mean 'work_3', 'work_2'" in capsys.readouterr().err
    assert run_cli("show", str(folder), "wrok_2") == EXIT_ERROR  # a typo
    assert "no step 'wrok_2'" in (err := capsys.readouterr().err) and "'work_2'" in err


def test_summary_formats(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("summary", str(folder)) == EXIT_STEPS_FAILED
    assert "Pipeline Failed" in capsys.readouterr().out
    assert run_cli("summary", str(folder), "--format", "csv") == EXIT_STEPS_FAILED
    csv = capsys.readouterr().out.splitlines()
    assert csv[0].startswith("name,function,args") and len(csv) == N_STEPS + 1
    assert run_cli("summary", str(folder), "-f", "json") == EXIT_STEPS_FAILED
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == N_STEPS and {r["status"] for r in rows} == {0, 1, 2}
    assert run_cli("summary", str(folder), "-f", "markdown") == EXIT_STEPS_FAILED
    md = capsys.readouterr().out.splitlines()
    assert md[0].startswith("| name | function |") and md[1].startswith("|---|")
    assert len(md) == N_STEPS + 2


def test_a_run_only_run_that_did_what_it_was_asked_exits_zero_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write_script(tmp_path)
    folder = tmp_path / "ok"
    assert run_cli("run", str(script), "--run-only", "work_1", "--", str(folder)) == EXIT_OK
    capsys.readouterr()
    # the selected steps passed: every surface says so; the headline says the rest is missing
    assert run_cli("status", str(folder)) == EXIT_OK
    assert "Pipeline Incomplete @" in capsys.readouterr().out
    assert run_cli("summary", str(folder)) == EXIT_OK
    assert capsys.readouterr().out.startswith(f"Pipeline Incomplete @ {folder}")
    assert run_cli("show", str(folder), "work_1") == EXIT_OK


def test_clean(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("clean", str(folder), "work_1") == EXIT_CANCELLED  # stdin is not a terminal
    assert (folder / "steps" / "work_1").exists()
    assert "pass --yes" in capsys.readouterr().err
    assert run_cli("clean", str(folder), "no_such_step", "--yes") == EXIT_ERROR

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert run_cli("clean", str(folder), "work_1") == EXIT_CANCELLED
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert run_cli("clean", str(folder), "work_1", "--downstream") == EXIT_OK
    out = capsys.readouterr().out
    assert "deleted the results of 3 steps" in out
    assert "deleted pipeline.summary (the last run's summary described them)" in out
    assert not (folder / "pipeline.summary").exists()
    for name in ("work_1", "post_1", "total"):
        assert not (folder / "steps" / name).exists()
    assert (folder / "steps" / "work_0").exists()

    assert run_cli("clean", str(folder), "--failed", "--yes") == EXIT_OK
    assert not (folder / "steps" / "work_2").exists() and not (folder / "steps" / "post_2").exists()
    capsys.readouterr()
    run_cli("status", str(folder), "--json")
    statuses = {r["name"]: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert statuses["work_1"] == "NOT RUN" and statuses["work_0"] == "PASS"

    assert run_cli("clean", str(folder), "--yes") == EXIT_OK
    assert not (folder / "steps").exists() and not (folder / "run.json").exists()
    assert (folder / "pipeline.schema").exists()


def test_run_on_four_ranks_then_inspect(tmp_path: Path) -> None:
    """The whole story at 4 ranks: `ezpipe run -n 4`, then the folder commands."""
    script = write_script(tmp_path)
    folder = tmp_path / "f4"
    env = {**os.environ, "EZPIPE_PROGRESS": "lines", "EZPIPE_PROGRESS_INTERVAL": "0.05"}
    command = [sys.executable, "-m", "ezpipe", "run", str(script), "-n", "4", "--", str(folder)]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    assert process.returncode == EXIT_STEPS_FAILED, err
    assert "[FAIL] 'work_2'" in out
    assert "ezpipe progress observed: " in err
    assert f"{N_STEPS}/{N_STEPS} steps done (100%)" in err
    status = subprocess.run(
        [sys.executable, "-m", "ezpipe", "status", str(folder), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == EXIT_STEPS_FAILED
    rows = {r["name"]: r for r in json.loads(status.stdout)}
    assert {r["status"] for r in rows.values()} == {"PASS", "FAIL", "SKIP"}
    ranks = {r["rank"] for r in rows.values() if r["rank"] is not None}
    assert ranks <= {0, 1, 2, 3} and len(ranks) >= 2
    run = json.loads((folder / "run.json").read_text())
    assert run["ranks"] == 4 and run["end"] is not None


def test_a_skip_over_an_earlier_pass_shows_as_skip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ezpipe import Pipeline

    folder = tmp_path / "p"
    broken = BROKEN  # a global, not a closure variable: not part of the key
    broken["now"] = False

    def define() -> Pipeline:
        pipeline = Pipeline(folder, echo=False, progress=False)

        @pipeline.step
        def upstream():
            if BROKEN["now"]:
                raise OSError("disk gone")
            return 1

        @pipeline.step
        def downstream(x):
            return x + 1

        downstream(upstream())
        return pipeline

    define().execute()
    broken["now"] = True
    define().execute(mode="force")
    assert run_cli("status", str(folder), "--json") == EXIT_STEPS_FAILED
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["upstream"]["status"] == "FAIL"
    assert rows["downstream"]["status"] == "SKIP"
    assert rows["downstream"]["error"] == "upstream 'upstream' did not pass"
    assert run_cli("show", str(folder), "downstream") == EXIT_OK  # its stored result is valid
    out = capsys.readouterr().out
    assert "latest run  SKIP: upstream 'upstream' did not pass" in out


def test_status_of_a_large_folder_is_a_digest_and_all_lists_every_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ezpipe import Pipeline
    from ezpipe.cli.status_cmd import LISTED

    folder = tmp_path / "big"
    pipeline = Pipeline(folder, echo=False, progress=False)

    @pipeline.step(name="p{i}")
    def point(i):
        if i == 7:
            raise ValueError("seven is out of range")
        return i

    points = [point(i) for i in range(LISTED + 200)]
    pipeline.step(name="total")(sum)(points[:10])  # skipped: p7 failed
    pipeline.execute()

    assert run_cli("status", str(folder)) == EXIT_STEPS_FAILED
    out = capsys.readouterr().out.splitlines()
    assert len(out) < 20  # not 1,201 lines
    phases = {line.split()[0]: line.split()[1:] for line in out[2:4]}
    assert out[1].split() == ["phase", "steps", "PASS", "FAIL", "SKIP", "NOT", "RUN"]
    assert phases == {"0": ["1,200", "1,199", "1", "0", "0"], "1": ["1", "0", "0", "1", "0"]}
    failure = next(line for line in out if line.startswith("  p7  (rank 0)"))
    assert "ValueError: seven is out of range" in failure
    assert "SKIP  1 step, because upstream steps did not pass" in out
    assert any(line.startswith("  p7 (1): total") for line in out)
    assert out[-1].startswith("1,201 steps: --all lists every one")

    # What did not pass comes from run.json; a run.json without the list (an older
    # ezpipe) sends status to the summary, with the same answer.
    run = json.loads((folder / "run.json").read_text())
    assert run["not_passed"] == {"p7": [1, None, False], "total": [2, "p7", False]}
    summary = folder / "pipeline.summary.json"
    kept = summary.read_bytes()
    wrong = [{"name": "p5", "status": 1, "error": "read from the summary"}]
    summary.write_text(json.dumps(wrong))  # unread: its time is all that is asked
    os.utime(summary, (run["end"] + 1, run["end"] + 1))
    assert run_cli("status", str(folder)) == EXIT_STEPS_FAILED
    assert capsys.readouterr().out.splitlines() == out
    del run["not_passed"]
    (folder / "run.json").write_text(json.dumps(run))
    summary.write_bytes(kept)
    os.utime(summary, (run["end"] + 1, run["end"] + 1))
    assert run_cli("status", str(folder)) == EXIT_STEPS_FAILED
    assert capsys.readouterr().out.splitlines() == out

    assert run_cli("status", str(folder), "--all") == EXIT_STEPS_FAILED
    listed = [line.split() for line in capsys.readouterr().out.splitlines()]
    rows = {cells[0]: cells for cells in listed if cells and cells[0].startswith(("p", "total"))}
    assert len(rows) == LISTED + 201 and rows["p5"][2:4] == ["PASS", "0"]
    assert rows["p7"][2] == "FAIL" and rows["total"][2] == "SKIP"
    assert run_cli("status", str(folder), "--failed", "--json") == EXIT_STEPS_FAILED
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["p7", "total"]


def test_clean_refuses_while_a_run_holds_the_folder(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hold = (
        "import sys, time; from pathlib import Path; from ezpipe.lock import FolderLock;"
        "FolderLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert run_cli("clean", str(folder), "--yes") == EXIT_ERROR
        assert f"pid {holder.pid}" in capsys.readouterr().err
        assert (folder / "steps" / "work_1").exists()
    finally:
        holder.kill()
        holder.wait()


# -- issue 14: levels, the summary, show's tail, moved folders, a fast command -----------------
def test_run_levels_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write_script(tmp_path)
    assert run_cli("run", str(script), "-q", "--", str(tmp_path / "q")) == EXIT_STEPS_FAILED
    out = capsys.readouterr().out
    assert "[Executing Pickle Step Object" not in out and "[work_0]" not in out
    assert "[FAIL] 'work_2' on rank 0: ValueError: k=2 is not allowed" in out
    assert run_cli("run", str(script), "-v", "--", str(tmp_path / "v")) == EXIT_STEPS_FAILED
    out = capsys.readouterr().out
    assert "[MPI process 00] [Running component of phase 00]" in out
    assert "[ezpipe] FAIL 'work_2' on rank 0" in out
    assert run_cli("run", str(script), "-q", "-v", "--", str(tmp_path / "x")) == EXIT_USAGE
    capsys.readouterr()


def test_the_end_of_run_summary_and_the_file(folder: Path) -> None:
    text = (folder / "pipeline.summary").read_text()
    lines = text.splitlines()
    assert lines[0].startswith(f"Pipeline Failed @ {folder}  (10 steps: 7 pass, 1 fail, 2 skip)")
    header = lines[1].split()
    assert header[:4] == ["name", "phase", "status", "word"] and len(lines) == N_STEPS + 2
    by_name = {line.split()[0]: line.split() for line in lines[2:]}
    assert by_name["work_2"][2:4] == ["1", "FAIL"] and by_name["total"][2:4] == ["2", "SKIP"]
    assert all(len(line) <= 100 for line in lines[1:]) and "NaN" not in text  # 1: the path


def test_summary_text_starts_with_what_matters(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("summary", str(folder)) == EXIT_STEPS_FAILED
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Pipeline Failed @")
    assert lines[2] == "FAIL  1 step"
    assert lines[3].split() == [
        "work_2",
        "(rank",
        "0)",
        "ValueError:",
        "k=2",
        "is",
        "not",
        "allowed",
    ]
    assert lines[4].strip() == f"ezpipe show {folder} work_2"
    assert "  work_2 (2): post_2, total" in lines
    assert "SLOWEST" in lines


def noisy_folder(tmp_path: Path) -> Path:
    script = tmp_path / "noisy.py"
    script.write_text(
        "import sys\nfrom ezpipe import Pipeline\n"
        "pipeline = Pipeline(sys.argv[1], 'noisy', echo=False)\n"
        "@pipeline.step\ndef chatty():\n"
        "    for i in range(2000):\n        print(f'line {i}')\n"
        "    raise RuntimeError('after 2000 lines')\n"
        "chatty()\npipeline.execute()\n"
    )
    folder = tmp_path / "noisy"
    assert run_cli("run", str(script), "--no-tee", "--", str(folder)) == EXIT_STEPS_FAILED
    return folder


def test_show_keeps_the_traceback_in_view(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = noisy_folder(tmp_path)
    capsys.readouterr()
    assert run_cli("show", str(folder), "chatty") == EXIT_STEPS_FAILED
    lines = capsys.readouterr().out.splitlines()
    assert "... 1950 earlier lines not shown (--all shows every line)" in lines
    assert "line 1949" not in lines and "line 1950" in lines and "line 1999" in lines
    assert len(lines) < 90
    assert lines[-1] == "RuntimeError: after 2000 lines"  # the traceback ends the output
    assert run_cli("show", str(folder), "chatty", "--all") == EXIT_STEPS_FAILED
    lines = capsys.readouterr().out.splitlines()
    assert "line 0" in lines and "line 1999" in lines and len(lines) > 2000


def test_paths_follow_a_moved_folder(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    moved = folder.parent / "moved"
    folder.rename(moved)
    assert run_cli("show", str(moved), "work_2") == EXIT_STEPS_FAILED
    out = capsys.readouterr().out
    assert "work 2 says hi" in out and f"({moved}/steps/work_2/" in out
    assert str(folder) + "/" not in out
    assert run_cli("show", str(moved), "work_1") == EXIT_OK
    result = next(line for line in capsys.readouterr().out.splitlines() if "result " in line)
    assert f"{moved}/steps/" in result  # the pack (or result file) under the moved folder


def test_report_command(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r" / "report.html"
    assert run_cli("report", str(folder), "-o", str(out)) == EXIT_OK
    assert f"wrote {out} ({N_STEPS} steps)" in capsys.readouterr().out
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "ValueError: k=2 is not allowed" in page and 'id="steps"' in page


HEAVY = ("pandas", "networkx", "joblib", "matplotlib", "cloudpickle", "mpi4py", "yaml")


def loaded(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return set(done.stdout.split()) & set(HEAVY)


def test_the_command_imports_only_what_it_needs(folder: Path) -> None:
    assert loaded("import ezpipe") == set()
    assert loaded("import ezpipe.engine.preempt as p; assert p.requested() is False") == set()
    helped = "from ezpipe.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass"
    assert loaded(helped) == set()
    status = f"from ezpipe.cli import main; main(['status', {str(folder)!r}])"
    assert loaded(status) <= {"cloudpickle"}  # the store's pickler, not pandas nor networkx
    summary = f"from ezpipe.cli import main; main(['summary', {str(folder)!r}])"
    assert loaded(summary) == set()
    assert loaded("from ezpipe import Pipeline, as_pickle_step") >= {"pandas", "networkx"}


def test_every_exported_name_is_importable() -> None:
    import ezpipe

    for name in ezpipe.__all__:
        assert getattr(ezpipe, name) is not None, name
    assert set(ezpipe.__all__) <= set(dir(ezpipe))
    with pytest.raises(AttributeError):
        ezpipe.no_such_name  # noqa: B018


def test_make_demo_uses_a_folder_of_the_clone() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        ["make", "-n", "demo"], cwd=root, capture_output=True, text=True, check=False
    )
    assert f"examples/demo.py {root}/.demo" in done.stdout, done.stdout
