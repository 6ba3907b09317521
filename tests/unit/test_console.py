import io

from ezpipe.observe.console import Console


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
