"""Running a finished sweep again: what a resume or an unchanged re-run costs.

    python benchmarks/rerun_bench.py [--steps 10000 100000] [--ranks 1 4] [--repeat 2]
    EZPIPE_BENCH_DIR=/scratch/me python benchmarks/rerun_bench.py   # another file system

A sweep of N no-op steps (1% of them reductions over 99 others) runs once in
fresh processes (serial, or under ``mpiexec -n R``), then again, unchanged: every
step is reused. Printed per N: the first run, the re-run (best of ``--repeat``) split
into importing and defining and ``execute()``, and the re-run over the first
run, the baseline measured in the same session. What a re-run must do at
least is define and freeze the steps and check each stored record; the rest
(the schema, the summary, the run log) is what this benchmark watches.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import BIN, ROOT, bench_root, table

SCRIPT = """
import json, sys, time
start = time.perf_counter()
from ezpipe import Pipeline

pipeline = Pipeline(sys.argv[1], "rerun", echo=False, progress=False, tee_output=False)


@pipeline.step(name="point_{i}")
def point(i):
    return i * 0.5


@pipeline.step(name="reduce_{j}")
def reduce_(values, j):
    return sum(values)


n = int(sys.argv[2])
points = [point(i) for i in range(n - n // 100)]
for j in range(n // 100):
    reduce_(points[j * 99 : (j + 1) * 99], j)
defined = time.perf_counter()
frame = pipeline.execute()
end = time.perf_counter()
if pipeline.comm.rank == 0:
    cached = int((frame["word"] == "CACHED").sum())
    print("BENCH " + json.dumps({"define": defined - start, "execute": end - defined,
                                 "cached": cached}))
"""


def run_once(script: Path, folder: Path, steps: int, ranks: int) -> dict[str, float]:
    env = {**os.environ, "EZPIPE_MPI": "0"} if ranks == 1 else dict(os.environ)
    launcher = [] if ranks == 1 else [str(BIN / "mpiexec"), "-n", str(ranks)]
    done = subprocess.run(
        [*launcher, sys.executable, str(script), str(folder), str(steps)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=1800,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH "))
    return json.loads(line[len("BENCH ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--ranks", type=int, nargs="*", default=[1, 4])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=bench_root(), prefix="ezbench-rerun-") as tmp:
        script = Path(tmp) / "sweep.py"
        script.write_text(SCRIPT)
        for steps in args.steps:
            for ranks in args.ranks:
                folder = Path(tmp) / f"sweep-{steps}-{ranks}"
                first = run_once(script, folder, steps, ranks)
                again = [run_once(script, folder, steps, ranks) for _ in range(args.repeat)]
                best = min(again, key=lambda r: r["define"] + r["execute"])
                if best["cached"] != steps:
                    raise SystemExit(f"the re-run reused {best['cached']} of {steps} steps")
                total_first = first["define"] + first["execute"]
                total = best["define"] + best["execute"]
                rows.append(
                    [
                        steps,
                        ranks,
                        total_first,
                        total,
                        best["define"],
                        best["execute"],
                        total / steps * 1e6,
                        total / total_first,
                    ]
                )
    headers = [
        "steps",
        "ranks",
        "first run s",
        "re-run s",
        "define s",
        "execute s",
        "us/step",
        "re-run/first",
    ]
    print(table(f"A finished sweep run again, unchanged ({bench_root()})", headers, rows))


if __name__ == "__main__":
    main()
