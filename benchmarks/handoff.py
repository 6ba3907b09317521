"""Hand-off latency: how long a worker waits for its next step while rank 0 computes.

Rank 0 runs the coordinator in a thread beside its own worker, so while rank
0's step holds the interpreter lock, a request from another rank waits for it.
At 2 ranks (as many as the cores here) every step is 20 ms; rank 1's steps
sleep, rank 0's steps either sleep, spin in pure Python, or sit in one long C
call that holds the lock (a large ``pickle.dumps``). The latency is read off
rank 1's records: the gap between one step's end and the next one's start
(report, coordinator, assignment, back-off wake-ups). Each kind runs with
Python's default switch interval (5 ms) and with the interval ezpipe sets
while a run computes on rank 0 (``EZPIPE_SWITCH_INTERVAL``), in the same run.
Target: p50 <= 1 ms and p99 <= 10 ms.
"""

from __future__ import annotations

import itertools
import json
import pickle
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import child_args, cleanup, emit, fresh_folder, is_child, launch, table

SCRIPT = Path(__file__).resolve()
STEPS = 120
STEP_SECONDS = 0.02
KINDS = ("sleep", "python", "c-call")


def _busy(kind: str, seconds: float, payload: list[int]) -> None:
    end = time.perf_counter() + seconds
    if kind == "sleep":
        time.sleep(seconds)
    elif kind == "python":
        x = 0
        while time.perf_counter() < end:
            for i in range(200):
                x += i * i
    else:  # one C call holding the lock for about `seconds`
        while time.perf_counter() < end:
            pickle.dumps(payload)


def child(args: list[str]) -> None:
    from mpi4py import MPI

    from ezpipe import Pipeline

    kind, folder = args[0], args[1]
    payload = list(range(400_000))  # one dumps of it takes ~10-20 ms here
    pipeline = Pipeline(folder, echo=False, progress=False)

    @pipeline.step(name="s{i}")
    def work(i):
        if MPI.COMM_WORLD.Get_rank() == 0:
            _busy(kind, STEP_SECONDS, payload)
        else:
            time.sleep(STEP_SECONDS)
        return i

    for i in range(STEPS):
        work(i)
    pipeline.execute()
    if pipeline.comm.rank == 0:
        records = []
        for path in Path(folder, "steps").glob("*/*/record.json"):
            record = json.loads(path.read_text())
            if record["rank"] != 0:
                records.append((record["start"], record["end"]))
        records.sort()
        gaps = [b[0] - a[1] for a, b in itertools.pairwise(records)]
        emit(gaps=gaps)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run() -> str:
    rows = []
    for kind in KINDS:
        for label, interval in (("python default 5 ms", "0.005"), ("ezpipe's", "")):
            folder = fresh_folder("handoff")
            env = {"EZPIPE_SWITCH_INTERVAL": interval} if interval else {}
            gaps = launch(SCRIPT, kind, folder, ranks=2, env=env)["gaps"]
            cleanup(folder)
            ms = [g * 1000 for g in gaps]
            rows.append(
                (kind, label, len(ms), statistics.median(ms), percentile(ms, 0.99), max(ms))
            )
    headers = ["rank 0's steps", "switch interval", "hand-offs", "p50 ms", "p99 ms", "max ms"]
    return table(
        f"Hand-off latency seen by rank 1 at 2 ranks, {STEPS} steps of {STEP_SECONDS * 1000:.0f} "
        "ms (target p50 <= 1 ms, p99 <= 10 ms)",
        headers,
        rows,
    )


if __name__ == "__main__":
    if is_child():
        child(child_args())
    else:
        print(run())
