"""Each step's stdout/stderr goes to its own log, tee'd with a prefix; exempt threads pass."""

from __future__ import annotations

import io
import sys
import threading
from pathlib import Path

from ezpipe.engine import capture


def test_output_goes_to_the_log_and_to_the_stream_with_a_prefix(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    output = capture.StepOutput(tmp_path / "s" / "output.log", "s", stdout=out, stderr=err)
    with capture.capturing(output):
        print("hello")
        print("part", end="")
        print(" two")
        print("oops", file=sys.stderr)
        sys.stdout.write("no newline at the end")
    assert output.written_path == str(tmp_path / "s" / "output.log")
    text = Path(output.written_path).read_text()
    assert text == "hello\npart two\noops\nno newline at the end"
    assert out.getvalue() == "[s] hello\n[s] part two\n[s] no newline at the end\n"
    assert err.getvalue() == "[s] oops\n"


def test_a_silent_step_creates_no_file(tmp_path: Path) -> None:
    output = capture.StepOutput(tmp_path / "quiet" / "output.log", "quiet")
    with capture.capturing(output):
        pass
    assert output.written_path is None
    assert not (tmp_path / "quiet").exists()


def test_without_tee_the_stream_sees_nothing(tmp_path: Path) -> None:
    out = io.StringIO()
    output = capture.StepOutput(tmp_path / "log", "s", tee=False, stdout=out, stderr=out)
    with capture.capturing(output):
        print("only in the file")
    assert out.getvalue() == ""
    assert (tmp_path / "log").read_text() == "only in the file\n"


def test_exempt_threads_write_to_the_real_stream(tmp_path: Path) -> None:
    real = io.StringIO()
    saved = sys.stdout
    sys.stdout = real
    try:
        output = capture.StepOutput(tmp_path / "log", "s", tee=False)
        with capture.capturing(output):

            def coordinator() -> None:
                print("coordinator line")

            def helper() -> None:
                print("helper started by the step")

            for name, target in (("ezpipe-coordinator", coordinator), ("worker-helper", helper)):
                thread = threading.Thread(target=target, name=name)
                thread.start()
                thread.join()
            print("step line")
    finally:
        sys.stdout = saved
    assert real.getvalue() == "coordinator line\n"
    assert (tmp_path / "log").read_text() == "helper started by the step\nstep line\n"


def test_routing_is_restored_and_reentrant() -> None:
    before_out, before_err = sys.stdout, sys.stderr
    with capture.routing():
        assert isinstance(sys.stdout, capture.Router)
        inner = sys.stdout
        with capture.routing():
            assert sys.stdout is inner
        assert sys.stdout is inner
        assert sys.stdout.encoding == before_out.encoding  # attributes pass through
    assert sys.stdout is before_out and sys.stderr is before_err


def test_an_unwritable_log_does_not_break_the_step(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = io.StringIO()
    output = capture.StepOutput(blocker / "sub" / "log", "s", stdout=out, stderr=out)
    with capture.capturing(output):
        print("still shown")
    assert output.written_path is None
    assert out.getvalue() == "[s] still shown\n"
