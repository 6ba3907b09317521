"""The console at each level, and the lines that travel to rank 0 while it shows a bar."""

from __future__ import annotations

import io
import threading

import pytest

from ezpipe import Pipeline
from ezpipe.errors import DefinitionError
from ezpipe.observe.console import Console
from ezpipe.observe.terminal import LineStream, Relay, Screen
from ezpipe.options import ENV, RunOptions, steering_environment
from ezpipe.records import Status, StepOutcome


def lines(action) -> list[str]:
    stream = io.StringIO()
    action(Console(3, stream=stream))
    return stream.getvalue().splitlines()


def test_lines_follow_the_reference_format():
    assert lines(lambda c: c.step_started("alpha", 0, 3)) == [
        "[MPI process 03] [Running component of phase 00] [Executing Pickle Step Object 'alpha']"
    ]
    assert lines(lambda c: c.step_passed("alpha", 3)) == ["  ╰─> [PASS] 'alpha'"]
    assert lines(lambda c: c.step_failed("b", 3, "ValueError: x")) == [
        "  ╰─> [FAIL] 'b': ValueError: x"
    ]
    assert lines(lambda c: c.step_skipped(2, "c", "b")) == [
        "  ╰─> [SKIP] 'c' (upstream step 'b' did not pass)"
    ]
    reused = lines(lambda c: c.step_reused("alpha", 1, 3, failed=False))[0]
    assert reused.startswith("[MPI process 03] [Running component of phase 01] [CACHED] 'alpha'")
    assert "cached failure" in lines(lambda c: c.step_reused("b", 1, 3, failed=True))[0]


def test_the_line_names_the_rank_that_ran_the_step():
    assert lines(lambda c: c.step_started("a", 2, 7))[0].startswith("[MPI process 07]")


def test_a_disabled_console_prints_nothing():
    stream = io.StringIO()
    console = Console(0, enabled=False, stream=stream)
    console.step_started("a", 0, 0)
    console.step_passed("a", 0)
    console.text("summary")
    assert stream.getvalue() == ""


# -- levels -------------------------------------------------------------------------------------
FAILED = StepOutcome(status=Status.FAILED, rank=2, error="Traceback...\nValueError: k=2 bad")
PASSED = StepOutcome(status=Status.PASSED, rank=1, host="node7", duration=0.25)


def run_events(console: Console) -> None:
    """The events of a 3-step run on rank 0: a pass, a failure, a skip it causes."""
    console.step_started("a", 0, 0)
    console.step_passed("a", 0)
    console.steps_assigned([1], 2)
    console.step_started("b", 0, 2)
    console.step_failed("b", 2, "ValueError: k=2 bad")
    console.step_settled(0, PASSED, [])
    console.step_skipped(2, "c", "b")
    console.step_settled(1, FAILED, [2])


def level_lines(level: str, **kwargs) -> list[str]:
    stream = io.StringIO()
    run_events(Console(0, stream=stream, level=level, names=["a", "b", "c"], **kwargs))
    return stream.getvalue().splitlines()


def test_normal_is_the_reference_lines_and_nothing_else():
    assert level_lines("normal") == [
        "[MPI process 00] [Running component of phase 00] [Executing Pickle Step Object 'a']",
        "  ╰─> [PASS] 'a'",
        "[MPI process 02] [Running component of phase 00] [Executing Pickle Step Object 'b']",
        "  ╰─> [FAIL] 'b': ValueError: k=2 bad",
        "  ╰─> [SKIP] 'c' (upstream step 'b' did not pass)",
    ]


def test_quiet_prints_only_each_failure_once_with_its_rank():
    assert level_lines("quiet") == ["[FAIL] 'b' on rank 2: ValueError: k=2 bad"]


def test_quiet_does_not_repeat_a_cached_failure():
    stream = io.StringIO()
    console = Console(0, stream=stream, level="quiet", names=["b"])
    console.step_settled(0, StepOutcome(status=Status.FAILED, cached=True, error="E: x"), [])
    assert stream.getvalue() == ""


def test_verbose_adds_rank_0s_view_to_the_reference_lines():
    lines = level_lines("verbose")
    assert [line for line in lines if not line.startswith("[ezpipe]")] == level_lines("normal")
    assert "[ezpipe] rank 02 <- 'b'" in lines
    assert "[ezpipe] PASS 'a' on rank 1 (node7) in 0.250 s; 1 settled" in lines
    assert any(
        line.startswith("[ezpipe] FAIL 'b' on rank 2") and "1 skipped because of it" in line
        for line in lines
    )


def test_routed_lines_come_with_the_outcome_and_skips_after_them():
    stream = io.StringIO()
    console = Console(0, stream=stream, names=["a", "b"], routed=True)
    console.step_skipped(1, "b", "a")  # rank 0 learns the skip before it settles the failure
    relayed = StepOutcome(status=Status.FAILED, rank=3, lines=("[MPI process 03] x", "  fail"))
    console.step_settled(0, relayed, [1])
    assert stream.getvalue().splitlines() == [
        "[MPI process 03] x",
        "  fail",
        "  ╰─> [SKIP] 'b' (upstream step 'a' did not pass)",
    ]


def test_unknown_level_is_refused_everywhere():
    with pytest.raises(ValueError, match="unknown console level"):
        Console(0, level="loud")
    with pytest.raises(DefinitionError, match="unknown console level"):
        RunOptions(console="loud")
    with pytest.raises(DefinitionError, match="EZPIPE_CONSOLE"):
        RunOptions().with_environment({"EZPIPE_CONSOLE": "loud"})


def test_the_environment_variable_is_declared_and_wins():
    assert "EZPIPE_CONSOLE" in ENV
    options = RunOptions(console="verbose").with_environment({"EZPIPE_CONSOLE": "QUIET"})
    assert options.console == "quiet"
    assert RunOptions(console="verbose").with_environment({}).console == "verbose"
    assert steering_environment(console="quiet") == {"EZPIPE_CONSOLE": "quiet"}


def sweep(folder, **options) -> Pipeline:
    pipeline = Pipeline(folder, "levels", progress=False, **options)

    @pipeline.step(name="work_{k}")
    def work(k):
        print(f"work {k} prints")
        if k == 1:
            raise ValueError(f"k={k} is not allowed")
        return k

    @pipeline.step
    def total(values):
        return sum(values)

    total([work(k) for k in range(3)])
    return pipeline


def test_each_level_from_pipeline_and_execute(folder, capsys):
    sweep(folder / "q", console="quiet").execute()
    quiet = capsys.readouterr().out
    assert "[Executing Pickle Step Object" not in quiet and "[work_0] work 0 prints" not in quiet
    assert "[FAIL] 'work_1' on rank 0: ValueError: k=1 is not allowed" in quiet
    assert "FAIL  1 step" in quiet and "SLOWEST" not in quiet

    sweep(folder / "n").execute()
    normal = capsys.readouterr().out
    assert (
        "[MPI process 00] [Running component of phase 00] [Executing Pickle Step Object" in normal
    )
    assert "[work_0] work 0 prints" in normal and "SLOWEST" in normal
    assert "[ezpipe]" not in normal

    sweep(folder / "v", console="quiet").execute(console="verbose")
    verbose = capsys.readouterr().out
    assert "[ezpipe] FAIL 'work_1' on rank 0" in verbose
    assert "name" in verbose and "word" in verbose  # the whole table too


def test_the_environment_overrides_the_script(folder, capsys, monkeypatch):
    monkeypatch.setenv("EZPIPE_CONSOLE", "quiet")
    sweep(folder, console="verbose").execute(console="verbose")
    out = capsys.readouterr().out
    assert "[ezpipe]" not in out and "[FAIL] 'work_1' on rank 0" in out


# -- one terminal, one writer -------------------------------------------------------------------
class FakeBar:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def clear(self) -> None:
        self.stream.write("<clear>")

    def refresh(self) -> None:
        self.stream.write("<bar>")


def test_screen_writes_whole_lines_between_clearing_and_redrawing_the_bar():
    stream = io.StringIO()
    screen = Screen(stream)
    screen.bar = FakeBar(stream)
    out = LineStream(screen.write, stream)
    out.write("half a ")
    assert stream.getvalue() == ""  # a partial line waits for its end
    out.write("line\nnext")
    out.close_line()
    assert stream.getvalue() == "<clear>half a line\n<bar><clear>next\n<bar>"
    assert not out.isatty()


def test_relay_hands_a_steps_lines_over_once_and_caps_them():
    relay = Relay(limit=3)
    stream = LineStream(relay.sink, io.StringIO())
    for i in range(5):
        stream.write(f"line {i}\n")
    assert relay.relay() == (
        "... 2 lines not shown (see the step's log)",
        "line 2",
        "line 3",
        "line 4",
    )
    assert relay.relay() == ()


def test_line_stream_keeps_lines_whole_across_threads():
    got: list[str] = []
    stream = LineStream(got.append, io.StringIO())

    def write(tag: str) -> None:
        for _ in range(200):
            stream.write(f"{tag}{tag}{tag}\n")

    threads = [threading.Thread(target=write, args=(t,)) for t in "xyz"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = "".join(got).splitlines()
    assert len(lines) == 600 and set(lines) == {"xxx", "yyy", "zzz"}
