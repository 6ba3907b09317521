from __future__ import annotations

import pytest

from ezpipe import Pipeline, Status, StepFailedError

CALLS: list[str] = []
TRANSIENT: list[str] = []  # a global: not part of any key


def build(folder, b_mode=None, bad_mode=None):
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step
    def a(x):
        CALLS.append("a")
        if TRANSIENT:
            raise RuntimeError(TRANSIENT[0])
        return x + 1

    @pipeline.step(mode=b_mode)
    def b(x):
        CALLS.append("b")
        return x * 2

    @pipeline.step(mode=bad_mode)
    def bad(x):
        CALLS.append("bad")
        raise ZeroDivisionError("no way")

    first = a(1)
    second = b(first)
    third = b(second)
    other = a(10)
    broken = bad(other)
    return pipeline, first, second, third, other, broken


def test_lookup_reports_status_result_and_paths(folder):
    pipeline, _, second, _, _, broken = build(folder)
    handle = pipeline.lookup("b")
    assert not handle.cached() and handle.status == Status.NOT_RUN
    pipeline.execute()
    handle = second.lookup()
    assert handle.cached() and handle.status == Status.PASSED
    assert handle.result() == 4
    assert handle.paths.result.is_file() and handle.paths.record.is_file()
    assert handle.paths.folder == folder / "steps" / "b" / second.key[:16]
    failed = pipeline.lookup(broken)
    assert failed.status == Status.FAILED and not failed.cached()
    assert "ZeroDivisionError: no way" in failed.traceback
    with pytest.raises(StepFailedError, match="no way") as info:
        failed.result()
    assert info.value.error_type == "ZeroDivisionError"


def test_clear_cache_removes_the_entry_and_its_downstream(folder):
    pipeline, first, second, third, other, broken = build(folder)
    pipeline.execute()
    assert second.lookup().clear_cache() == ["b", "b.1"]
    assert first.lookup().cached() and other.lookup().cached()
    assert not second.lookup().cached() and not third.lookup().cached()
    assert other.lookup().clear_cache(downstream=False) == ["a.1"]
    assert broken.lookup().status == Status.FAILED
    rerun, *_ = build(folder)
    frame = rerun.execute().set_index("name")
    assert frame.loc[["b", "b.1", "a.1"], "cached"].tolist() == [False, False, False]
    assert frame.loc["a", "cached"]


def test_per_step_modes(folder):
    build(folder)[0].execute()
    CALLS.clear()
    build(folder, b_mode="force", bad_mode="retry")[0].execute()
    assert sorted(CALLS) == ["b", "b", "bad"]  # b and its dependent b.1; bad retried
    CALLS.clear()
    build(folder)[0].execute()
    assert CALLS == []


def test_a_skip_keeps_the_earlier_result_of_the_same_definition(folder):
    build(folder)[0].execute()
    pipeline, first, second, *_ = build(folder)
    TRANSIENT.append("file system hiccup")
    try:
        pipeline.execute(mode="force")  # same keys, but this attempt of a fails
    finally:
        TRANSIENT.clear()
    assert first.get_status() == 1 and second.get_status() == 2
    assert second.lookup().cached() and second.lookup().result() == 4
    assert first.lookup().status == 1  # a's own latest outcome is the failure
