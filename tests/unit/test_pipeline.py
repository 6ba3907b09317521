"""End-to-end behaviour of Pipeline in one process (the no-MPI default)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from ezpipe import (
    Pipeline,
    PlaceHolder,
    ResultNotAvailableError,
    SchemaConflictError,
    Status,
    StoreError,
)


def reference(folder, echo=True):
    pipeline = Pipeline(folder, "my_pipeline", echo=echo)
    calls: list[str] = []

    @pipeline.step
    def alpha(x):
        calls.append("alpha")
        return x**2

    @pipeline.step
    def beta(x):
        calls.append("beta")
        return x**3

    step_alpha, step_beta = alpha(3), beta(2)

    @pipeline.step(depends_on=[step_alpha, step_beta])
    def gamma(a, b):
        calls.append("gamma")
        return a / b

    gamma(PlaceHolder(step_alpha), PlaceHolder(step_beta))
    return pipeline, calls


def test_reference_example_output_and_result(folder, capsys):
    pipeline, calls = reference(folder)
    pipeline.initialize_schema()
    frame = pipeline.execute()
    out = capsys.readouterr().out
    assert pipeline.get_result("gamma") == 1.125
    assert calls == ["alpha", "beta", "gamma"]
    assert (
        "[MPI process 00] [Running component of phase 00] "
        "[Executing Pickle Step Object 'alpha']" in out
    )
    assert "  ╰─> [PASS] 'gamma'" in out
    assert list(frame["status"]) == [0, 0, 0]
    assert list(frame["phase"]) == [0, 0, 1]
    summary = (folder / "pipeline.summary").read_text()
    assert summary.startswith(f"Pipeline Completed @ {folder}")
    rows = json.loads((folder / "pipeline.summary.json").read_text())
    assert [r["name"] for r in rows] == ["alpha", "beta", "gamma"]
    assert Path(rows[2]["result"]).is_file()  # result.pkl, or the pack holding it


def test_rerun_reuses_every_result(folder, capsys):
    first, _ = reference(folder)
    first.execute()
    second, calls = reference(folder)
    frame = second.execute()
    assert calls == []
    assert frame["cached"].all()
    assert "[CACHED] 'gamma'" in capsys.readouterr().out
    assert second.get_result("gamma") == 1.125


def test_results_are_readable_from_a_later_process_definition(folder):
    first, _ = reference(folder, echo=False)
    first.execute()
    later, calls = reference(folder, echo=False)
    assert later.get_result("gamma") == 1.125
    assert later["alpha"].get_status() == Status.PASSED
    assert calls == []


def failing(folder, echo=False):
    pipeline = Pipeline(folder, "failing", echo=echo)
    ran: list[str] = []

    @pipeline.step
    def src(i):
        ran.append(f"src{i}")
        return i

    @pipeline.step
    def bad(x):
        ran.append("bad")
        raise RuntimeError("exploded")

    @pipeline.step
    def child(x):
        ran.append("child")
        return x

    @pipeline.step
    def leave(x):
        ran.append("leave")
        raise SystemExit(4)

    @pipeline.step
    def lock(x):
        ran.append("lock")
        return threading.Lock()

    a, b = src(1), src(2)
    broken = bad(a)
    skipped = child(child(broken))
    left = child(leave(a))
    locked = child({"k": [lock(b)]})
    unrelated = child(child(b))
    return (
        pipeline,
        ran,
        {
            "broken": broken,
            "skipped": skipped,
            "left": left,
            "locked": locked,
            "unrelated": unrelated,
        },
    )


def test_failures_skip_only_dependents(folder, capsys):
    pipeline, ran, s = failing(folder, echo=True)
    frame = pipeline.execute().set_index("name")
    out = capsys.readouterr().out
    assert s["broken"].get_status() == 1
    assert s["skipped"].get_status() == 2
    assert s["left"].get_status() == 2 and pipeline["leave"].get_status() == 1
    assert s["locked"].get_status() == 2 and pipeline["lock"].get_status() == 1
    assert s["unrelated"].get_status() == 0
    assert pipeline.get_result(s["unrelated"]) == 2
    assert "child" in ran and ran.count("child") == 2  # only the unrelated branch ran
    assert "[FAIL] 'bad': RuntimeError: exploded" in out
    assert "[SKIP] 'child.1' (upstream step 'bad' did not pass)" in out
    assert "SystemExit: 4" in frame.loc["leave", "error"]
    assert "could not store the result" in frame.loc["lock", "error"]
    assert (folder / "pipeline.summary").read_text().startswith("Pipeline Failed @")
    record = pipeline.record("bad")
    assert record.error_type == "RuntimeError"
    assert 'raise RuntimeError("exploded")' in record.traceback


def test_get_result_explains_why_there_is_none(folder):
    pipeline, _, s = failing(folder)
    with pytest.raises(ResultNotAvailableError, match="has not been run"):
        pipeline.get_result(s["broken"])
    pipeline.execute()
    with pytest.raises(ResultNotAvailableError, match="failed on rank 0: RuntimeError: exploded"):
        pipeline.get_result(s["broken"])
    with pytest.raises(ResultNotAvailableError, match="skipped because upstream step 'bad'"):
        pipeline.get_result(s["skipped"])
    with pytest.raises(ResultNotAvailableError, match="no step 'nope'"):
        pipeline.get_result("nope")
    with pytest.raises(LookupError):  # also a builtin LookupError
        pipeline.get_result("nope")


def test_recorded_failures_are_not_rerun_unless_retried(folder):
    pipeline, _, _ = failing(folder)
    pipeline.execute()
    again, ran_again, s = failing(folder)
    again.execute()
    assert ran_again == []
    assert s["broken"].get_status() == 1
    retry, ran_retry, s = failing(folder)
    retry.execute(mode="retry")
    assert sorted(ran_retry) == ["bad", "leave", "lock"]


def test_write_errors_become_step_failures(folder, monkeypatch):
    pipeline, _ = reference(folder, echo=False)

    real = pipeline.store.commit

    def broken(record, result=None):  # a full disk is not a step failure: tests/chaos/
        if result is not None:
            raise OSError(5, "Input/output error")
        return real(record, result)

    monkeypatch.setattr(pipeline.store, "commit", broken)
    frame = pipeline.execute().set_index("name")
    assert list(frame["status"]) == [1, 1, 2]
    assert "Input/output error" in frame.loc["alpha", "error"]


def test_strict_refuses_a_changed_schema(folder):
    pipeline, _ = reference(folder, echo=False)
    pipeline.execute()
    changed = Pipeline(folder, "my_pipeline", strict=True, echo=False)
    changed.step(lambda x: x)(1)
    with pytest.raises(SchemaConflictError, match="different schema"):
        changed.execute()
    same, _ = reference(folder, echo=False)
    same.strict = True
    same.execute()  # the unchanged pipeline still runs


@pytest.mark.parametrize("policy", ["static", "phase", "dag"])
def test_every_policy_runs_everything_once(folder, policy):
    pipeline, ran, _ = failing(folder)
    frame = pipeline.execute(policy=policy)
    assert sorted(ran) == sorted(["src1", "src2", "bad", "leave", "lock", "child", "child"])
    assert frame["status"].tolist().count(0) == 4


def test_unknown_options_are_refused(folder):
    with pytest.raises(ValueError, match="policy"):
        Pipeline(folder, policy="fastest")
    with pytest.raises(ValueError, match="cache mode"):
        Pipeline(folder, mode="sometimes")


def test_an_unusable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    pipeline, _ = reference(blocker / "sub", echo=False)
    with pytest.raises(StoreError, match="cannot create the pipeline folder"):
        pipeline.execute()


def test_steps_get_their_own_copy_of_an_input(folder):
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step
    def base():
        return [1, 2, 3]

    @pipeline.step
    def grow(xs, k):
        xs.append(k)
        return xs

    shared = base()
    grown = [grow(shared, k) for k in range(3)]
    pipeline.execute()
    assert [pipeline.get_result(s) for s in grown] == [[1, 2, 3, k] for k in range(3)]


def test_a_keyboard_interrupt_stops_the_run_and_leaves_no_record(folder):
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step
    def stop():
        raise KeyboardInterrupt

    step = stop()
    with pytest.raises(KeyboardInterrupt):
        pipeline.execute()
    assert pipeline.record(step) is None  # a rerun computes it; no cached "failure"


def test_an_exception_that_cannot_be_printed_is_still_a_step_failure(folder):
    pipeline = Pipeline(folder, echo=False)

    class Nasty(Exception):
        def __str__(self):
            raise RuntimeError("no str for you")

    @pipeline.step
    def bad():
        raise Nasty

    @pipeline.step
    def good():
        return 1

    bad(), good()
    frame = pipeline.execute().set_index("name")
    assert frame["status"].to_dict() == {"bad": 1, "good": 0}
    assert "Nasty" in frame.loc["bad", "error"]


def test_an_unreadable_cached_result_is_recomputed(folder, monkeypatch):
    monkeypatch.setenv("EZPIPE_STORE_LAYOUT", "folder")  # a result file of its own
    first, _ = reference(folder, echo=False)
    first.execute()
    result = first.lookup("alpha").paths.result
    result.unlink()
    result.mkdir()  # unreadable as a file
    second, _ = reference(folder, echo=False)
    frame = second.execute().set_index("name")
    assert frame.loc["alpha", "status"] == 1  # cannot overwrite a folder: a clear failure
    assert "could not store the result" in frame.loc["alpha", "error"]
    assert frame.loc["beta", "cached"] and frame.loc["gamma", "status"] == 2


def test_a_bad_policy_is_refused_by_execute(folder):
    pipeline, _ = reference(folder, echo=False)
    with pytest.raises(ValueError, match="policy"):
        pipeline.execute(policy="fastest")
