"""The step sandbox: run one step on this rank and return its :class:`StepOutcome`.

Everything a step does (any exception, ``SystemExit`` and ``os._exit``
included, an unpicklable result, a failed write) becomes that step's failure;
only Ctrl-C escapes, and leaves no record. A full disk or quota is ezpipe's
failure, not the step's: nothing is recorded and this rank starts no more
steps. The cache check, the inputs, the call with its output captured, the
result and the record all happen here, and what the step's log path and start
time are travels as values, never as hidden state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import time
import traceback
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, NoReturn

import cloudpickle

from .. import outputs
from ..errors import is_storage_full
from ..events import Observer
from ..graph import step_manifest
from ..paths import OutputPath
from ..plan import Plan, reusable
from ..records import Mode, Status, StepOutcome, StepRecord
from ..steps import Step, substitute
from ..store import Store
from . import capture, deadline, preempt
from .resources import Usage, efficiency

log = logging.getLogger(__name__)

HOST = socket.gethostname()
INTERRUPTED = "interrupted: the job was told to stop (time limit); a rerun computes it"


class StepExit(BaseException):
    """A step called ``os._exit``: made a failure of that step instead of a silent exit."""


@contextlib.contextmanager
def _os_exit_as_exception() -> Iterator[None]:
    """Turn ``os._exit`` called by a step in this process into :class:`StepExit`.

    Otherwise ``os._exit(0)`` on rank 0 ends the job with exit status 0 and no
    message. Forked children (multiprocessing) still exit for real.
    """
    real_exit, owner = os._exit, os.getpid()

    def guarded(code: int) -> NoReturn:
        if os.getpid() != owner:
            real_exit(code)
        raise StepExit(f"the step called os._exit({code})")

    os._exit = guarded
    try:
        yield
    finally:
        os._exit = real_exit


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose message cannot be shown>"


class StepExecutor:
    """Runs steps on this rank: cache check, inputs, call, result, record."""

    def __init__(self, plan: Plan, store: Store, observer: Observer, rank: int) -> None:
        self.plan = plan
        self.store = store
        self.observer = observer
        self.rank = rank
        self._inputs: OrderedDict[str, bytes] = OrderedDict()  # small LRU of input bytes
        self.storage_error: str | None = None  # set when the folder's disk is full
        self._manifests: dict[int, dict[str, Any]] = {}  # taken before a step runs

    def before_running(self, step: Step) -> None:
        """Take the step's manifest now: the readable forms of its arguments as they are
        before the step runs (a step may change an input object in place)."""
        self._manifests[step.index] = step_manifest(step)

    def _record(
        self, step: Step, status: Status, log_path: str | None = None, **fields: Any
    ) -> StepRecord:
        return StepRecord(
            name=step.name,
            key=step.key,
            status=status,
            function=step.function_name,
            phase=step.phase,
            rank=self.rank,
            host=HOST,
            pid=os.getpid(),
            log_path=log_path,
            manifest=self._manifests.pop(step.index, None) or step_manifest(step),
            **fields,
        )

    def run(self, index: int) -> StepOutcome:
        """One step's outcome; whatever goes wrong becomes that step's failure.

        Lines the observer holds for rank 0 (a live bar there) travel with it.
        """
        if self.storage_error is not None:
            return self._not_started()
        try:
            outcome = self._run(index)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a cache folder that cannot be read, say
            step = self.plan.steps[index]
            outcome = self._fail(step, time.time(), exc, None, "ezpipe could not run it: ")
        lines = self.observer.relay()
        return dataclasses.replace(outcome, lines=lines) if lines else outcome

    def _run(self, index: int) -> StepOutcome:
        step = self.plan.steps[index]
        cached = reusable(self.plan, self.store, index)
        if cached is not None:
            failed = cached.status != Status.PASSED
            self.observer.step_reused(step.name, step.phase, self.rank, failed=failed)
            return cached.outcome(reused=True)
        if self.plan.modes[index] == Mode.READ_ONLY and not self.plan.forced[index]:
            self.observer.step_started(step.name, step.phase, self.rank)
            message = "no cached result and the cache mode is 'read-only'"
            self.observer.step_failed(step.name, self.rank, message)
            record = self._record(
                step, Status.FAILED, error_type="ResultNotAvailableError", error_message=message
            )
            return record.outcome()
        return self._compute(step)

    def _compute(self, step: Step) -> StepOutcome:
        start = time.time()
        if preempt.requested():
            return self._interrupted(step, start)
        self.observer.step_started(step.name, step.phase, self.rank)
        self.before_running(step)
        try:
            args = substitute(step.args, self._load_input)
            kwargs = substitute(step.kwargs, self._load_input)
        except Exception as exc:
            return self._fail(step, start, exc, None, "could not load an input: ")
        attempt = None
        wanted = outputs.wants(step)
        if any(wanted):  # the step's own output folder (see ezpipe.outputs)
            try:
                attempt = outputs.Attempt(self.store, step.name, step.key)
                kwargs = {**kwargs, **attempt.arguments(wanted)}
            except Exception as exc:
                return self._fail(step, start, exc, None, "could not prepare its output folder: ")
        output = capture.StepOutput(
            self.store.log_path(step.name, step.key), step.name, tee=self.plan.tee_output
        )
        usage = Usage()
        try:
            with (
                capture.capturing(output),
                _os_exit_as_exception(),
                preempt.step_running(),
                deadline.enforced(step.definition.resources.timeout),
            ):
                value = step.func(*args, **kwargs)
        except preempt.StepInterrupted:
            if attempt is not None:
                attempt.keep_for_resume()
            return self._interrupted(step, start)
        except KeyboardInterrupt:
            raise  # the user stopped the run: no record, so a rerun computes the step
        except BaseException as exc:  # SystemExit too: a step never ends the run
            if attempt is not None:
                attempt.discard()
            if exc.__traceback__ is not None and exc.__traceback__.tb_next is not None:
                exc = exc.with_traceback(exc.__traceback__.tb_next)  # start at the user's code
            return self._fail(step, start, exc, output.written_path)
        del args, kwargs
        end = time.time()
        used = usage.stop()
        try:
            files = None if attempt is None else attempt.commit()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            prefix = "could not keep the step's output folder: "
            return self._fail(step, start, exc, output.written_path, prefix)
        record = self._record(
            step,
            Status.PASSED,
            output.written_path,
            start=start,
            end=end,
            duration=end - start,
            cpu_time=used.cpu_time,
            peak_memory=used.peak_memory,
            cpu_efficiency=efficiency(used.cpu_time, used.wall, 1),
            output_files=files,
        )
        try:  # one commit: the record names its result's checksum (one append when packed)
            record = self.store.commit(record, self.store.dump(value))
        except KeyboardInterrupt:
            raise
        except OSError as exc:
            if is_storage_full(exc):
                return self._unstored(step, start, exc, "result")
            prefix = f"could not store the result (type {type(value).__qualname__}): "
            return self._fail(step, start, exc, output.written_path, prefix)
        except BaseException as exc:
            prefix = f"could not store the result (type {type(value).__qualname__}): "
            return self._fail(step, start, exc, output.written_path, prefix)
        self.observer.step_passed(step.name, self.rank)
        return record.outcome()

    def _fail(
        self,
        step: Step,
        start: float,
        exc: BaseException,
        log_path: str | None,
        prefix: str = "",
    ) -> StepOutcome:
        end = time.time()
        message = f"{prefix}{type(exc).__name__}: {_safe_str(exc)}"
        try:
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        except Exception:  # an exception whose __str__ itself raises
            trace = message
        record = self._record(
            step,
            Status.FAILED,
            log_path,
            start=start,
            end=end,
            duration=end - start,
            error_type=type(exc).__qualname__,
            error_message=message,
            traceback=trace,
        )
        try:
            self.store.commit(record)
        except Exception as write_error:
            log.error("could not write the failure record of %r: %s", step.name, write_error)
            if is_storage_full(write_error):  # the failure stands; the run starts nothing more
                self.storage_error = self._full_message(write_error, "failure record", step)
                self.observer.step_failed(step.name, self.rank, message)
                return dataclasses.replace(record.outcome(), storage_error=self.storage_error)
        self.observer.step_failed(step.name, self.rank, message)
        return record.outcome()

    # -- a full disk: not the step's failure ---------------------------------------------------
    def _full_message(self, exc: OSError, what: str, step: Step) -> str:
        store = self.store
        path = store.result_path if what == "result" else store.record_path
        where = exc.filename or path(step.name, step.key)
        return (
            f"the file system is full or over quota ({exc.strerror}): could not store the "
            f"{what} of step {step.name!r} at {where}"
        )

    def _unstored(self, step: Step, start: float, exc: OSError, what: str) -> StepOutcome:
        """The result or record could not be stored for lack of space: nothing is recorded
        (an old record is removed), so the same command computes the step again later."""
        with contextlib.suppress(OSError):
            self.store.clear(step.name, step.key)  # an older record of it must not be reused
        self.storage_error = self._full_message(exc, what, step)
        message = f"not stored, left for a rerun: {self.storage_error}"
        self.observer.step_failed(step.name, self.rank, message)
        return self._unrecorded(start, message, storage_error=self.storage_error)

    def _not_started(self) -> StepOutcome:
        """After a storage failure this rank starts no more steps (the rest of its batch)."""
        return StepOutcome(
            status=Status.NOT_RUN,
            rank=self.rank,
            host=HOST,
            error=f"not started: {self.storage_error}",
            storage_error=self.storage_error,
        )

    def _interrupted(self, step: Step, start: float) -> StepOutcome:
        """A step cut short by a stop signal: reported, but no record, so a rerun computes it."""
        self.observer.step_interrupted(step.name, self.rank)
        return self._unrecorded(start, INTERRUPTED, interrupted=True)

    def _unrecorded(self, start: float, error: str, **flags: Any) -> StepOutcome:
        """The outcome of a step that ran but leaves no record (a rerun computes it)."""
        end = time.time()
        return StepOutcome(
            status=Status.NOT_RUN,
            rank=self.rank,
            host=HOST,
            start=start,
            end=end,
            duration=end - start,
            error=error,
            **flags,
        )

    def _load_input(self, upstream: Step | OutputPath) -> Any:
        """A fresh copy of an upstream result: steps may change their inputs freely.

        The verified bytes are kept (a small LRU), never the objects, so one step's
        mutation can never reach another step. A path into an upstream output folder
        becomes the real path; a result kept as files (numpy) is opened from there.
        """
        if isinstance(upstream, OutputPath):
            return outputs.resolve_path(self.store, upstream)
        data = self._inputs.get(upstream.key)
        if data is None:
            data = self.store.passed_bytes(upstream.name, upstream.key)
            self._inputs[upstream.key] = data
            if len(self._inputs) > 16:
                self._inputs.popitem(last=False)
        else:
            self._inputs.move_to_end(upstream.key)
        value = cloudpickle.loads(data)
        if hasattr(value, "__ezpipe_load__"):
            value = outputs.resolve_result(
                value, self.store.output_dir(upstream.name, upstream.key)
            )
        return value
