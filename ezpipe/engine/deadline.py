"""Deadlines: ``timeout=`` on a step, and the last resort when ranks cannot be freed.

A step's deadline is enforced three ways, from gentle to final:

1. **In Python**, a ``SIGALRM`` timer (``signal.setitimer``) raises
   :class:`StepTimeout` in the step's main thread; a signal handler runs only
   between bytecodes, so a blocking C call delays it until the call returns.
2. **In a multi-rank step's collectives**, the ``comm`` ezpipe hands the step
   polls its nonblocking operations against the deadline and the cancel flag
   (:mod:`ezpipe.engine.subcomm`), so the other ranks leave when one raises.
3. **When ranks still cannot be freed** (a call stuck in C, a library using the
   raw communicator), the step's rank 0 waits :data:`GRACE` seconds for the
   others and records the step as failed, naming who raised and who did not
   return; the coordinator then ends the job (exit status
   :data:`ezpipe.errors.EXIT_STUCK`) after writing the records and the summary.
   If even the interpreter is stuck, ``faulthandler.dump_traceback_later``
   (a C thread that needs no interpreter lock) prints every thread's stack and
   ends the process :data:`LAST_RESORT` seconds after the deadline, and the
   launcher ends the job. A rerun resumes from the records on disk.

The default grace period is 30 s (``EZPIPE_GRACE`` overrides it): long enough
for a rank to leave a collective and for a loaded file system to take the
records, short next to the steps that need several ranks.
"""

from __future__ import annotations

import contextlib
import faulthandler
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType

from ..options import env
from .subcomm import StepTimeout

GRACE = 30.0  # seconds the ranks of a failed multi-rank step get to return
LAST_RESORT = 3  # x GRACE after the deadline: the process ends itself


def grace() -> float:
    value = env("EZPIPE_GRACE")
    return GRACE if value is None else float(value)


class _Alarm:
    armed = False  # the main thread is inside a step with a deadline
    seconds = 0.0


_alarm = _Alarm()


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    if _alarm.armed:
        _alarm.armed = False
        raise StepTimeout(f"the step ran past its timeout of {_alarm.seconds:g} s")


@contextlib.contextmanager
def enforced(seconds: float | None) -> Iterator[float | None]:
    """Run the body under a deadline of ``seconds``; yields the monotonic deadline.

    Only the main thread can take signals: elsewhere (and without a timeout) the
    body runs unbounded, except for the collectives polling the yielded deadline.
    """
    if seconds is None:
        yield None
        return
    deadline = time.monotonic() + seconds
    if threading.current_thread() is not threading.main_thread():
        yield deadline
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    _alarm.seconds, _alarm.armed = seconds, True
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds + LAST_RESORT * grace(), exit=True, file=sys.stderr)
    try:
        yield deadline
    finally:
        _alarm.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)


def who_did_not_return(failed: dict[int, str], missing: list[int], wait: float) -> str:
    """``rank 2 raised ValueError; ranks 0, 1, 3 did not return within 30 s``."""
    parts = [f"rank {rank} raised {what}" for rank, what in sorted(failed.items())]
    if missing:
        noun = "rank" if len(missing) == 1 else "ranks"
        parts.append(
            f"{noun} {', '.join(map(str, sorted(missing)))} did not return within {wait:g} s"
        )
    return "; ".join(parts)
