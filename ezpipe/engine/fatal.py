"""An uncaught exception on one rank ends the whole MPI job, with its error shown once.

Without this, a rank that raises (a definition error on that rank only, a typo
after ``execute()``) leaves: the others wait for it in their next collective
forever. :func:`install` replaces the default ``sys.excepthook`` of a process
that is one of several ranks (a launcher announced more than one task, or the
MPI world has more): the hook prints the error prefixed with the rank, then
calls ``MPI_Abort``, which every launcher (``mpiexec``, ``srun``, ``ezpipe run``)
turns into the end of every rank. Only uncaught exceptions reach a hook, so
pytest, notebooks and code that catches its errors are unaffected, and a
process that already has its own hook keeps it.

Printed once: when every rank raises the same error (a bad definition, which
every rank agrees on), rank 0 prints and aborts at once, and the others wait
:data:`GRACE` seconds before printing, by which time rank 0's abort has ended
them. Ctrl-C is reported as one line by rank 0 and ends the job with status 130.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Mapping
from types import TracebackType

from ..errors import EXIT_CTRL_C, LockedError, StoreError
from ..options import env

GRACE = 1.0  # seconds a rank other than 0 waits before printing: rank 0 may be ending the job
FORWARD = 0.3  # seconds between printing and aborting: the launcher forwards what was printed
RANK_VARS = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID")
SIZE_VARS = ("PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS")
INTERRUPTED = "ezpipe: interrupted (Ctrl-C): stopped; run the same command again to resume\n"


def _mpi() -> object | None:
    """mpi4py's MPI module when this process is inside an MPI world, else None."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None:
        return None
    try:
        if mpi.Is_initialized() and not mpi.Is_finalized():  # type: ignore[attr-defined]
            return mpi
    except Exception:
        return None
    return None


def _from_environment(names: tuple[str, ...], environ: Mapping[str, str]) -> int | None:
    for name in names:
        value = environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None


def rank_and_size(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """This process's rank and the job's size: from MPI when joined, else the launcher's
    (only the launcher's when ``environ`` is given)."""
    mpi = _mpi() if environ is None else None
    environ = os.environ if environ is None else environ
    if mpi is not None:
        world = mpi.COMM_WORLD  # type: ignore[attr-defined]
        return world.Get_rank(), world.Get_size()
    return (
        _from_environment(RANK_VARS, environ) or 0,
        _from_environment(SIZE_VARS, environ) or 1,
    )


def launched(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is one of several tasks of a launcher (and MPI is not off)."""
    try:
        if env("EZPIPE_MPI", environ) is False:
            return False
    except ValueError:  # a malformed value: the first execute() says so
        return False
    return rank_and_size(environ)[1] > 1


def install() -> None:
    """Make an uncaught exception end the whole job (a no-op under another hook)."""
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = hook


def describe(
    kind: type[BaseException], value: BaseException, trace: TracebackType | None, rank: int
) -> str:
    """What a failing rank prints: one line for a folder that cannot be used, else the
    traceback under a line that names the rank."""
    if isinstance(value, (LockedError, StoreError)):
        return f"ezpipe: error on rank {rank}: {value}\n"
    text = "".join(traceback.format_exception(kind, value, trace))
    return f"ezpipe: rank {rank} failed, ending the job:\n{text}"


def hook(kind: type[BaseException], value: BaseException, trace: TracebackType | None) -> None:
    """``sys.excepthook`` of a rank: print the error (once per job), then end every rank."""
    rank, size = rank_and_size()
    if size <= 1:
        sys.__excepthook__(kind, value, trace)
        return
    if issubclass(kind, KeyboardInterrupt):  # every rank got the signal: leave quietly
        if rank == 0:
            _write(INTERRUPTED)
        end(EXIT_CTRL_C)
        return
    if rank != 0:
        time.sleep(GRACE)
    try:
        text = describe(kind, value, trace, rank)
    except Exception:
        text = f"ezpipe: rank {rank} failed with {kind.__name__}, ending the job\n"
    _write(text)
    time.sleep(FORWARD)  # an abort at once can kill the launcher's relay before it has read it
    end(1)


def _write(text: str) -> None:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        sys.stderr.write(text)
        sys.stderr.flush()


def end(code: int) -> None:
    """End this rank and, through MPI_Abort, the job (exiting would leave the rest waiting
    under ``srun``, which does not end a job when one task exits)."""
    mpi = _mpi()
    if mpi is None and code != EXIT_CTRL_C:
        try:  # a rank that failed before joining: join, so that abort reaches the others
            from mpi4py import MPI

            mpi = MPI
        except Exception:
            mpi = None
    if mpi is not None and code != EXIT_CTRL_C:
        mpi.COMM_WORLD.Abort(code)  # type: ignore[attr-defined]
    os._exit(code)
