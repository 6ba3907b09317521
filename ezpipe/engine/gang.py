"""Running a placed step on its ranks: the "gang" message, the group, the reports.

The coordinator sends every member of a k-rank step the same :class:`Task`
(the step, its member ranks with the step's rank 0 first, a token, and the
cores and GPUs reserved for each member). The members build the group
(``MPI_Comm_create_group``, only those ranks call it), run the function with
``comm=`` a :class:`~ezpipe.engine.subcomm.StepComm`, free the group, and each
sends its :class:`MemberReport` to the step's rank 0 over the world. Rank 0
waits :func:`~ezpipe.engine.deadline.grace` seconds for them past its own end,
writes the result (its own return value) and one record listing every rank and
host, and reports the step's outcome to the coordinator; the others report
too, so the coordinator knows they are free.

A 1-rank step with ``threads=``, ``gpus=`` or ``memory=`` travels as a Task of
one member, so it gets its cores and devices the same way.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..plan import reusable
from ..records import Mode, Status, StepOutcome
from ..steps import Step, substitute
from . import capture, deadline, preempt, resources
from .comm import Backoff, Comm
from .placement import Node
from .sandbox import HOST, StepExecutor, _os_exit_as_exception, _safe_str
from .subcomm import TAG_MEMBER, Cancel, SelfComm, StepCancelled, StepComm, StepTimeout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    """A placed step for its members: what the coordinator sends each of them."""

    index: int
    members: tuple[int, ...]  # world ranks; members[0] is the step's rank 0
    token: int
    cores: tuple[tuple[int, ...], ...] = ()  # per member, reserved core ids
    gpus: tuple[tuple[int, ...], ...] = ()  # per member, device ids of its node

    @property
    def leader(self) -> int:
        return self.members[0]


@dataclass
class MemberReport:
    """What one member of a step tells the step's rank 0 when it is done with it."""

    rank: int
    host: str
    ok: bool
    error_type: str | None = None
    error: str | None = None
    traceback: str | None = None
    cancelled: bool = False  # left because another rank failed
    cpu_time: float = 0.0
    peak_memory: int | None = None
    wall: float = 0.0
    log_path: str | None = None
    value: Any = field(default=None, repr=False)  # rank 0's own return value only


def _raw_world(comm: Comm) -> Any:
    return getattr(comm, "comm", None)  # mpi4py's communicator under MPIComm


class GangExecutor:
    """Runs :class:`Task` messages on this rank, beside the plain :class:`StepExecutor`."""

    def __init__(self, executor: StepExecutor, world: Comm, nodes: Sequence[Node] = ()) -> None:
        self.executor = executor
        self.world = world
        self.raw = _raw_world(world)
        self.rank = world.rank
        self.node, self.local_rank = 0, 0
        for n, node in enumerate(nodes):
            if self.rank in node.ranks:
                self.node, self.local_rank = n, node.ranks.index(self.rank)

    def run(self, task: Task) -> StepOutcome:
        step = self.executor.plan.steps[task.index]
        try:
            cached = reusable(self.executor.plan, self.executor.store, task.index)
        except Exception:
            cached = None
        if cached is not None:
            if self.rank == task.leader:
                failed = cached.status != Status.PASSED
                self.executor.observer.step_reused(step.name, step.phase, self.rank, failed=failed)
            return cached.outcome(reused=True)
        plan = self.executor.plan
        if plan.modes[task.index] == Mode.READ_ONLY and not plan.forced[task.index]:
            return self.executor.run(task.index)  # the plain path records the refusal
        if preempt.requested() and not step.definition.resources.gang:
            # (a gang runs anyway: its members may not all have heard the stop signal yet,
            # and one missing from the group's creation would leave the others waiting)
            return self.executor._interrupted(step, time.time())
        report = self._member(step, task)
        if self.rank != task.leader:
            self._send(task, report)
            status = Status.PASSED if report.ok else Status.FAILED
            return StepOutcome(status=status, rank=self.rank, host=HOST, error=report.error)
        return self._conclude(step, task, report)

    # -- every member -------------------------------------------------------------------------
    def _member(self, step: Step, task: Task) -> MemberReport:
        me = task.members.index(self.rank)
        res = step.definition.resources
        start = time.time()
        if self.rank == task.leader:
            self.executor.observer.step_started(step.name, step.phase, self.rank)
            self.executor.before_running(step)
        path = self.executor.store.log_path(step.name, step.key)
        if me:
            path = path.with_name(f"{path.stem}.rank{me}{path.suffix}")
        output = capture.StepOutput(path, step.name, tee=self.executor.plan.tee_output)
        usage = resources.Usage()
        group: Any = None
        report: MemberReport | None = None
        try:
            with deadline.enforced(res.timeout) as due:
                cancel = Cancel(self.raw, task.token, due)
                try:
                    if res.gang:  # first: every member must reach this collective, whatever fails
                        group = self._group(task)
                    args = substitute(step.args, self.executor._load_input)
                    kwargs = substitute(step.kwargs, self.executor._load_input)
                    if res.gang:
                        kwargs["comm"] = (
                            SelfComm()
                            if group is None
                            else StepComm(group, cancel, self.node, self.local_rank)
                        )
                    cores = task.cores[me] if task.cores else ()
                    gpus = task.gpus[me] if task.gpus else ()
                    with (
                        capture.capturing(output),
                        _os_exit_as_exception(),
                        preempt.step_running(),
                        resources.applied(res.threads, gpus, cores),
                    ):
                        value = step.func(*args, **kwargs)
                    if self.rank != task.leader:
                        value = None  # the result is rank 0's: the others' never travel
                    report = MemberReport(self.rank, HOST, True, value=value)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    report = self._failed(exc, isinstance(exc, StepCancelled))
                    if not report.cancelled:
                        cancel.tell(task.members, self.rank, f"rank {me} raised {report.error}")
                finally:
                    if group is not None:
                        group.Free()
        except StepTimeout as late:  # the alarm came as ezpipe wrapped up after the step
            if report is None:
                report = self._failed(late, False)
        used = usage.stop()
        report.cpu_time, report.peak_memory = used.cpu_time, used.peak_memory
        report.wall, report.log_path = time.time() - start, output.written_path
        return report

    def _group(self, task: Task) -> Any:
        """The step's communicator over its members (None: a world without MPI)."""
        if self.raw is None:
            if len(task.members) > 1:
                raise RuntimeError("a multi-rank step needs an MPI world")
            return None
        world_group = self.raw.Get_group()
        group = world_group.Incl(list(task.members))
        try:
            return self.raw.Create_group(group, tag=task.token % 32768)
        finally:
            group.Free()
            world_group.Free()

    @staticmethod
    def _failed(exc: BaseException, cancelled: bool) -> MemberReport:
        if exc.__traceback__ is not None and exc.__traceback__.tb_next is not None:
            exc = exc.with_traceback(exc.__traceback__.tb_next)
        try:
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        except Exception:
            trace = None
        message = f"{type(exc).__name__}: {_safe_str(exc)}"
        return MemberReport(-1, HOST, False, type(exc).__qualname__, message, trace, cancelled)

    def _send(self, task: Task, report: MemberReport) -> None:
        report.rank = self.rank
        if self.raw is None:
            return
        request = self.raw.isend((task.token, report), dest=task.leader, tag=TAG_MEMBER)
        backoff, until = Backoff(ceiling=0.002), time.monotonic() + deadline.grace()
        while not request.Test() and time.monotonic() < until:
            backoff.wait()

    # -- the step's rank 0 --------------------------------------------------------------------
    def _collect(self, task: Task) -> tuple[dict[int, MemberReport], float]:
        """The other members' reports, waiting at most the grace period."""
        got: dict[int, MemberReport] = {}
        wait = deadline.grace()
        until = time.monotonic() + wait
        backoff = Backoff(ceiling=0.005)
        others = [r for r in task.members if r != self.rank]
        while len(got) < len(others) and time.monotonic() < until:
            found = False
            for rank in others:
                if rank not in got and self.raw.iprobe(source=rank, tag=TAG_MEMBER):
                    token, report = self.raw.recv(source=rank, tag=TAG_MEMBER)
                    if token == task.token:  # else a late report of an abandoned step
                        got[rank] = report
                    found = True
            if not found:
                backoff.wait()
        return got, wait

    def _conclude(self, step: Step, task: Task, mine: MemberReport) -> StepOutcome:
        mine.rank = self.rank
        reports = {self.rank: mine}
        wait = 0.0
        if len(task.members) > 1:
            others, wait = self._collect(task)
            reports.update(others)
        missing = [task.members.index(r) for r in task.members if r not in reports]
        ordered = [reports[r] for r in task.members if r in reports]
        res = step.definition.resources
        fields: dict[str, Any] = {
            "ranks": list(task.members),
            "hosts": [r.host for r in ordered],
            "threads": res.threads,
            "gpus": [g for ids in task.gpus for g in ids] or None,
            "cpu_time": sum(r.cpu_time for r in ordered),
            "peak_memory": sum(r.peak_memory or 0 for r in ordered) or None,
        }
        wall = max(r.wall for r in ordered)
        fields["cpu_efficiency"] = resources.efficiency(
            fields["cpu_time"], wall, res.threads * len(task.members)
        )
        logs = [r.log_path for r in ordered if r.log_path]
        if any(r.error_type == preempt.StepInterrupted.__qualname__ for r in ordered):
            return self.executor._interrupted(step, time.time() - wall)  # no record: rerun it
        failed = {task.members.index(r.rank): r for r in ordered if not r.ok}
        if failed or missing:
            return self._failure(step, task, failed, missing, wait, fields, logs, wall)
        return self._passed(step, mine, fields, logs, wall)

    def _failure(
        self,
        step: Step,
        task: Task,
        failed: dict[int, MemberReport],
        missing: list[int],
        wait: float,
        fields: dict[str, Any],
        logs: list[str],
        wall: float,
    ) -> StepOutcome:
        """One failure record: who raised (that rank's traceback), who did not return."""
        raised = {i: r for i, r in failed.items() if not r.cancelled}
        first = next(iter(raised.values()), None) or next(iter(failed.values()), None)
        names = {i: r.error_type or "an error" for i, r in raised.items()}
        reason = deadline.who_did_not_return(names, missing, wait)
        if first is not None and first.error:
            detail = first.error.partition(": ")[2] if raised else first.error
            reason = f"{reason}: {detail}" if reason else first.error
        end = time.time()
        record = self.executor._record(
            step,
            Status.FAILED,
            logs[0] if logs else None,
            start=end - wall,
            end=end,
            duration=wall,
            error_type=first.error_type if first else "StepStuck",
            error_message=reason,
            traceback=first.traceback if first else reason,
            **fields,
        )
        try:
            self.executor.store.write_record(record)
        except Exception as exc:
            log.error("could not write the failure record of %r: %s", step.name, exc)
        self.executor.observer.step_failed(step.name, self.rank, reason)
        outcome = record.outcome()
        if missing:
            outcome = replace(outcome, stuck=tuple(task.members[i] for i in missing))
        return outcome

    def _passed(
        self, step: Step, mine: MemberReport, fields: dict[str, Any], logs: list[str], wall: float
    ) -> StepOutcome:
        execu = self.executor
        end = time.time()
        try:
            path, digest, size = execu.store.write_result(step.name, step.key, mine.value)
            record = execu._record(
                step,
                Status.PASSED,
                logs[0] if logs else None,
                start=end - wall,
                end=end,
                duration=wall,
                checksum=digest,
                result_path=str(path),
                result_bytes=size,
                **fields,
            )
            execu.store.write_record(record)
        except Exception as exc:
            return execu._fail(step, end - wall, exc, None, "could not store the result: ")
        execu.observer.step_passed(step.name, self.rank)
        return record.outcome()
