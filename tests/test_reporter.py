import io

from ezpipe.reporter import Reporter


def lines(action) -> list[str]:
    stream = io.StringIO()
    action(Reporter(3, stream=stream))
    return stream.getvalue().splitlines()


def test_lines_follow_the_reference_format():
    assert lines(lambda r: r.executing("alpha", 0)) == [
        "[MPI process 03] [Running component of phase 00] [Executing Pickle Step Object 'alpha']"
    ]
    assert lines(lambda r: r.passed("alpha")) == ["  ╰─> [PASS] 'alpha'"]
    assert lines(lambda r: r.failed("b", "ValueError: x")) == ["  ╰─> [FAIL] 'b': ValueError: x"]
    assert lines(lambda r: r.skipped("c", "b")) == [
        "  ╰─> [SKIP] 'c' (upstream step 'b' did not pass)"
    ]
    assert "[CACHED] 'alpha'" in lines(lambda r: r.cached("alpha", 1))[0]


def test_a_disabled_reporter_prints_nothing():
    stream = io.StringIO()
    reporter = Reporter(0, enabled=False, stream=stream)
    reporter.executing("a", 0)
    reporter.passed("a")
    assert stream.getvalue() == ""
