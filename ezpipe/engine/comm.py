"""The transport: mpi4py when the job has several ranks, an in-process stand-in otherwise.

Nothing here knows about steps. Blocking waits poll with a growing back-off
instead of sitting in a blocking MPI receive, because MPICH's blocking receive
spins a core, and HPC jobs (and our 2-core CI) often run more ranks than cores.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from ..errors import LaunchError
from ..options import env
from . import fatal

log = logging.getLogger(__name__)
T = TypeVar("T")

ANY_SOURCE = -1
# Environment variables through which launchers announce the number of tasks.
LAUNCHER_SIZE_VARS = (
    "SLURM_STEP_NUM_TASKS",
    "PMI_SIZE",
    "PMIX_SIZE",
    "OMPI_COMM_WORLD_SIZE",
    "MPI_LOCALNRANKS",
)


class Comm(Protocol):
    """What the runner needs from a transport."""

    rank: int
    size: int
    threaded: bool  # may one extra thread make MPI calls while the main thread runs steps?

    def bcast(self, obj: T, root: int = 0) -> T: ...
    def allgather(self, obj: T) -> list[T]: ...
    def send(self, obj: Any, dest: int, tag: int) -> None: ...
    def poll(self, tag: int) -> tuple[Any, int] | None: ...
    def recv(self, source: int, tag: int) -> Any: ...
    def abort(self, message: str, code: int = 1) -> None: ...
    def create_group(self, ranks: Sequence[int]) -> Comm: ...
    def split(self, color: int, key: int = 0) -> Comm: ...
    def free(self) -> None: ...


class Backoff:
    """Poll fast while messages flow, then sleep longer and longer between polls.

    During the first ``patience`` seconds of a wait the sleep grows only to ``fine``:
    a reply from the coordinator usually takes well under a millisecond, and a 1-2 ms
    sleep there cost a 50 ms step about 4% (W3 in docs/benchmarks.md). Past that the
    sleep grows to ``ceiling``, so a long wait costs a few percent at most and an idle
    rank wakes rarely.
    """

    def __init__(
        self,
        ceiling: float = 0.001,
        spins: int = 50,
        fine: float = 0.00025,
        patience: float = 0.05,
    ) -> None:
        self.ceiling = ceiling
        self.spins = spins
        self.fine = min(fine, ceiling)
        self.patience = patience
        self.reset()

    def reset(self) -> None:
        self._misses = 0
        self._delay = 0.00002
        self._since: float | None = None

    def wait(self) -> None:
        self._misses += 1
        if self._misses <= self.spins:
            time.sleep(0)
            return
        now = time.monotonic()
        if self._since is None:
            self._since = now
        cap = self.fine if now - self._since < self.patience else self.ceiling
        time.sleep(self._delay)
        self._delay = min(self._delay * 2, cap)


class LocalComm:
    """A world of one rank: the embedded default when there is no MPI."""

    rank = 0
    size = 1
    threaded = True

    def bcast(self, obj: T, root: int = 0) -> T:
        return obj

    def allgather(self, obj: T) -> list[T]:
        return [obj]

    def send(self, obj: Any, dest: int, tag: int) -> None:
        raise RuntimeError("a one-rank world has nobody to send to")

    def poll(self, tag: int) -> tuple[Any, int] | None:
        return None

    def recv(self, source: int, tag: int) -> Any:
        raise RuntimeError("a one-rank world has nobody to receive from")

    def abort(self, message: str, code: int = 1) -> None:
        sys.stderr.write(f"ezpipe: fatal: {message}\n")
        sys.stderr.flush()
        os._exit(code)

    def create_group(self, ranks: Sequence[int]) -> LocalComm:
        if list(ranks) != [0]:
            raise ValueError(f"a one-rank world has no ranks {list(ranks)}")
        return self

    def split(self, color: int, key: int = 0) -> LocalComm:
        return self

    def free(self) -> None:
        """Nothing to release."""


class MPIComm:
    """mpi4py's COMM_WORLD (or a given communicator), pickled messages."""

    def __init__(self, comm: Any = None) -> None:
        from mpi4py import MPI

        self._MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.threaded = MPI.Query_thread() >= MPI.THREAD_SERIALIZED
        self.multiple = MPI.Query_thread() >= MPI.THREAD_MULTIPLE  # two threads calling MPI

    def bcast(self, obj: T, root: int = 0) -> T:
        self._gather_politely()
        return self.comm.bcast(obj, root=root)  # type: ignore[no-any-return]

    def allgather(self, obj: T) -> list[T]:
        self._gather_politely()
        return self.comm.allgather(obj)  # type: ignore[no-any-return]

    def _gather_politely(self) -> None:
        """Wait for every rank with back-off before a collective.

        MPICH's blocking collectives spin: ranks that finished their work early
        would take the cores that rank 0 needs for its last steps and the summary
        (on 2 cores at 4 ranks, the summary took twice as long). A non-blocking
        barrier polled with back-off lets them sleep; the collective that follows
        then finds everyone there.
        """
        request = self.comm.Ibarrier()
        backoff = Backoff(ceiling=0.002)
        while not request.Test():
            backoff.wait()

    def send(self, obj: Any, dest: int, tag: int) -> None:
        self.comm.send(obj, dest=dest, tag=tag)

    def poll(self, tag: int) -> tuple[Any, int] | None:
        status = self._MPI.Status()
        if not self.comm.iprobe(source=self._MPI.ANY_SOURCE, tag=tag, status=status):
            return None
        source = status.Get_source()
        return self.comm.recv(source=source, tag=tag), source

    def recv(self, source: int, tag: int) -> Any:
        backoff = Backoff(ceiling=0.002)
        while not self.comm.iprobe(source=source, tag=tag):
            backoff.wait()
        return self.comm.recv(source=source, tag=tag)

    def abort(self, message: str, code: int = 1) -> None:
        sys.stderr.write(f"ezpipe: fatal on MPI rank {self.rank}: {message}\n")
        sys.stderr.flush()
        time.sleep(fatal.FORWARD)  # let the launcher relay the message before the abort
        self.comm.Abort(code)

    def create_group(self, ranks: Sequence[int]) -> MPIComm:
        """A communicator of ``ranks``, made by those ranks only (``MPI_Comm_create_group``):
        the others go on with their own work. Free it after use: MPICH runs out of
        communicators after about 2,000."""
        group = self.comm.Get_group().Incl(list(ranks))
        try:
            return MPIComm(self.comm.Create_group(group))
        finally:
            group.Free()

    def split(self, color: int, key: int = 0) -> MPIComm:
        return MPIComm(self.comm.Split(color, key))

    def free(self) -> None:
        if self.comm != self._MPI.COMM_WORLD:
            self.comm.Free()


def launcher_size(
    environ: Mapping[str, str] = os.environ,
) -> tuple[int, str] | None:
    """The task count a launcher announced, and the variable that said so."""
    for var in LAUNCHER_SIZE_VARS:
        value = environ.get(var, "")
        if value.isdigit() and int(value) > 1:
            return int(value), var
    return None


def check_launch(
    size: int, environ: Mapping[str, str] = os.environ, *, mpi4py_missing: bool = False
) -> None:
    """Refuse a launch whose ranks each believe they are alone, before anything is written.

    That happens with plain ``srun -n 4`` (no ``--mpi=pmi2``) or with an
    ``mpiexec`` of another MPI than mpi4py's: every task would run the whole
    pipeline on the same folder at once. Measured on Slurm 22.05: ``srun``
    sets ``SLURM_STEP_NUM_TASKS`` in every task, with or without ``--mpi``
    (only ``--mpi=pmi2`` adds ``PMI_SIZE``); a batch script itself sees only
    ``SLURM_NTASKS``, so a plain ``python pipeline.py`` there is a serial run,
    not refused.
    """
    announced = launcher_size(environ)
    if announced is None or size != 1 or env("EZPIPE_ALLOW_SINGLETONS", environ):
        return
    n, var = announced
    what = f"the launcher started {n} tasks ({var}={n})"
    if mpi4py_missing:
        fix = (
            "mpi4py is not installed in this Python, so the tasks cannot form one MPI world: "
            "`pip install mpi4py mpich` (or `pip install 'ezpipe[mpi]'`)"
        )
    elif var == "SLURM_STEP_NUM_TASKS":
        fix = (
            "srun did not connect them: launch with `srun --mpi=pmi2 -n N python pipeline.py` "
            "(or `export SLURM_MPI_TYPE=pmi2`) for mpi4py on the pip 'mpich' wheel, "
            "`--mpi=pmix` for an Open MPI build; `ezpipe slurm pipeline.py -n N` writes a job "
            "script that does this"
        )
    else:
        fix = (
            "this mpiexec is not from mpi4py's MPI library: use the `mpiexec` installed beside "
            "this Python (`python -c 'import mpi4py; print(mpi4py.get_config())'` names the "
            "library), or `srun --mpi=pmi2` inside Slurm"
        )
    raise LaunchError(
        f"{what} but each sees an MPI world of 1 rank, so each would run the whole pipeline "
        f"on its own, on the same folder; nothing was run or written. {fix}. "
        "(To really run independent copies, set EZPIPE_ALLOW_SINGLETONS=1.)"
    )


def mpi_disabled() -> bool:
    return env("EZPIPE_MPI") is False


def world() -> Comm:
    """The job's communicator: MPI when importable and size > 1, else in-process."""
    if mpi_disabled():
        return LocalComm()
    try:
        comm = MPIComm()
    except ImportError:
        check_launch(1, mpi4py_missing=True)
        return LocalComm()
    check_launch(comm.size)
    if comm.size == 1:
        return LocalComm()
    fatal.install()  # an uncaught error on one rank ends the job instead of leaving it waiting
    if not comm.threaded:
        log.warning("MPI provides no thread support: rank 0 will coordinate without computing")
    return comm


def ok_to_send(obj: Any) -> bool:
    """Whether ``obj`` survives pickling (an exception may not)."""
    try:
        pickle.dumps(obj)
    except Exception:
        return False
    return True


def root_call(comm: Comm, fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0 only; its result, or its exception, reaches every rank."""
    outcome: tuple[bool, Any] = (True, None)
    if comm.rank == 0:
        try:
            outcome = (True, fn())
        except Exception as exc:  # every rank re-raises it below
            outcome = (False, exc)
    if comm.rank == 0 and not ok_to_send(outcome):
        outcome = (False, RuntimeError(f"on rank 0: {outcome[1]!r}"))  # not picklable as is
    ok, value = comm.bcast(outcome)
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
