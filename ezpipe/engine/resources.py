"""A step's own resources on its rank: thread limits, CPU affinity, GPUs, and what it used.

:func:`applied` sets, for the duration of one step, what its ``threads=`` and
``gpus=`` asked for: BLAS/OpenMP pools limited with threadpoolctl (which works
after numpy is loaded, unlike ``OMP_NUM_THREADS``), the usual variables set for
child processes, the rank's CPU affinity widened to the cores reserved for the
step, and ``CUDA_VISIBLE_DEVICES`` for children. In the step's own process CUDA
reads that variable once, so :func:`gpu_ids` returns the device ids for the
step to select itself.

:class:`Usage` measures a step's CPU time (this process's, threads included)
and this step's own peak memory: the lifetime peak (``VmHWM``) is reset through
``/proc/self/clear_refs`` before the step, so a small step after a big one does
not inherit its peak.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
_gpus: tuple[int, ...] = ()


def gpu_ids() -> tuple[int, ...]:
    """The devices assigned to the running step, as this process numbers them; () when it
    asked for none.

    Select them yourself (``torch.device(f"cuda:{ids[0]}")``): CUDA in this process
    read ``CUDA_VISIBLE_DEVICES`` before the step began, so when the job's variable
    was ``"4,5"`` and the step got device 5, this returns (1,); child processes get
    ``CUDA_VISIBLE_DEVICES=5``.
    """
    return _gpus


def _in_process(ids: Sequence[int]) -> tuple[int, ...]:
    """Node device ids as this process's CUDA numbers them (positions in its variable)."""
    visible = [p.strip() for p in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    if all(str(i) in visible for i in ids):
        return tuple(visible.index(str(i)) for i in ids)
    return tuple(ids)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextlib.contextmanager
def _affinity(cores: Sequence[int]) -> Iterator[None]:
    """Widen this rank's CPU affinity to ``cores`` for the step (within what the
    job's cgroup allows); restored afterwards."""
    if not cores or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, set(cores))
    except OSError:  # cores outside the job's cpuset: keep what we have
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, before)


@contextlib.contextmanager
def applied(threads: int, gpus: Sequence[int] = (), cores: Sequence[int] = ()) -> Iterator[None]:
    """Run the body with the step's thread limit, cores and devices."""
    global _gpus
    values = {name: str(threads) for name in THREAD_VARIABLES}
    if gpus:
        values["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
    previous, _gpus = _gpus, _in_process(gpus)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_environment(values))
        stack.enter_context(_affinity(cores))
        if threads > 1:  # inspecting the loaded libraries costs about a millisecond
            try:
                from threadpoolctl import threadpool_limits
            except ImportError:  # pragma: no cover - a dependency; the variables still apply
                pass
            else:
                stack.enter_context(threadpool_limits(limits=threads))
        try:
            yield
        finally:
            _gpus = previous


# -- what a step used ---------------------------------------------------------------------------
class _Proc:
    """This process's ``clear_refs`` and ``status`` files, kept open: opening them for
    every step cost about 100 us, keeping them about 12 us. Reopened after a fork (a
    descriptor of ``/proc/self`` names the process that opened it)."""

    def __init__(self) -> None:
        self.pid = -1
        self.clear: int | None = None
        self.status: int | None = None

    def _fds(self) -> tuple[int | None, int | None]:
        if self.pid != os.getpid():
            self.pid = os.getpid()
            self.clear = _open("/proc/self/clear_refs", os.O_WRONLY)
            self.status = _open("/proc/self/status", os.O_RDONLY)
        return self.clear, self.status

    def reset(self) -> bool:
        clear, _ = self._fds()
        if clear is None:
            return False
        try:
            os.write(clear, b"5")
        except OSError:
            return False
        return True

    def peak(self) -> int | None:
        _, status = self._fds()
        if status is not None:
            try:
                text = os.pread(status, 8192, 0)
                at = text.index(b"VmHWM:")
                return int(text[at + 6 : text.index(b"kB", at)]) * 1024
            except (OSError, ValueError):
                pass
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _open(path: str, flags: int) -> int | None:
    try:
        return os.open(path, flags | os.O_CLOEXEC)
    except OSError:
        return None


_proc = _Proc()


def _peak_bytes() -> int | None:
    """This process's peak resident memory since the last reset (``VmHWM``)."""
    return _proc.peak()


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current resident size ("5" to ``clear_refs``); False if
    the kernel does not allow it (then the peak is the process's lifetime one)."""
    return _proc.reset()


@dataclass(frozen=True)
class Used:
    """What one step used on one rank."""

    cpu_time: float
    peak_memory: int | None
    wall: float


class Usage:
    """Started before a step, stopped after: its CPU time, peak memory and wall time."""

    def __init__(self) -> None:
        reset_peak()
        self._cpu = time.process_time()
        self._wall = time.monotonic()

    def stop(self) -> Used:
        return Used(
            cpu_time=time.process_time() - self._cpu,
            peak_memory=_peak_bytes(),
            wall=time.monotonic() - self._wall,
        )


def efficiency(cpu_time: float, wall: float, threads: int) -> float | None:
    """CPU time / (wall time x threads): 1.0 when every reserved core was busy."""
    if wall <= 0:
        return None
    return cpu_time / (wall * max(threads, 1))
