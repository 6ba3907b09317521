"""Shared plumbing of the benchmarks: launching ranks, timing, tables, the machine.

Every workload script is both a driver and a child. Run plainly
(``python benchmarks/w3_forkjoin.py``) it launches itself under ``mpiexec``
(and ``python -m mpi4py.futures`` for that baseline) in fresh processes, reads
one ``BENCH {json}`` line per child from rank 0, and prints a table whose
ratios compare figures measured in the same run, because the 2-core test
machine is shared and absolute numbers drift from one minute to the next.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MARK = "BENCH "


def bench_root() -> Path:
    """Where pipeline folders go: ``EZPIPE_BENCH_DIR``, else tmpfs, else the temp dir.

    tmpfs measures ezpipe rather than the disk: on this VM's ext4 one step's
    two atomic writes alone cost 3-5 ms (see docs/benchmarks.md).
    """
    chosen = os.environ.get("EZPIPE_BENCH_DIR")
    if chosen:
        return Path(chosen)
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def fresh_folder(tag: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"ezbench-{tag}-", dir=bench_root()))


def launch(
    script: str | Path,
    *args: Any,
    ranks: int = 1,
    futures: bool = False,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``script --child args`` on ``ranks`` ranks; returns rank 0's BENCH record.

    ``futures`` runs it as ``mpiexec -n ranks python -m mpi4py.futures``: one of
    the ranks is then the non-computing master.
    """
    cmd = [sys.executable, *(["-m", "mpi4py.futures"] if futures else []), str(script)]
    cmd += ["--child", *map(str, args)]
    if ranks > 1 or futures:
        cmd = [str(BIN / "mpiexec"), "-n", str(ranks), *cmd]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    if ranks == 1 and not futures:
        env["EZPIPE_MPI"] = "0"
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise RuntimeError(f"{' '.join(cmd)} timed out after {timeout} s\n{err[-2000:]}") from None
    records = [json.loads(line[len(MARK) :]) for line in out.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not records:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode})\n{out[-2000:]}{err[-2000:]}"
        )
    return records[-1]


def emit(**record: Any) -> None:
    """Child side: hand one result to the driver."""
    print(MARK + json.dumps(record), flush=True)


def is_child() -> bool:
    return len(sys.argv) > 1 and sys.argv[1] == "--child"


def child_args() -> list[str]:
    return sys.argv[2:]


def timed_execute(pipeline: Any, **options: Any) -> float:
    """Wall time of ``execute()`` on rank 0, started together on every rank."""
    pipeline.initialize_schema()  # freeze, hash check and schema write: W5's business
    pipeline.comm.allgather(None)  # launch skew between ranks is not ezpipe's time
    start = time.perf_counter()
    pipeline.execute(**options)
    return time.perf_counter() - start


def cleanup(folder: Path | str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (also valid Markdown) with a title line."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    return "\n".join([f"\n### {title}\n", line, rule, *body])


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    code = "from mpi4py import MPI; print(MPI.Get_library_version().splitlines()[0])"
    mpi = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}
    ).stdout.strip()
    import mpi4py

    return {
        "cores (nproc)": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "mpi": mpi,
        "mpi4py": mpi4py.__version__,
        "store folder": str(bench_root()),
        "load average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def best_of(repeats: int, measure: Callable[[], dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the smallest ``key``: noise on a shared machine only ever adds time."""
    runs = [measure() for _ in range(repeats)]
    return min(runs, key=lambda r: r[key])


def main_driver(run: Callable[[], str], child: Callable[[list[str]], None]) -> None:
    """Entry point of a workload script: child when launched with --child, else driver."""
    if is_child():
        child(child_args())
    else:
        print(run())
