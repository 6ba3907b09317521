"""How fast the ``ezpipe`` command answers: import, ``--help``, ``status`` and pictures.

Builds (once, cached) folders of 10,000 and 100,000 steps with failures and skips
by running a real pipeline, then times fresh processes: ``python -c "import
ezpipe"``, ``ezpipe --help``, ``ezpipe status DIR`` (and ``--all``, every line) and
the timeline drawn in-process. Targets: ``--help`` <= 0.2 s, ``status`` at 10,000
steps <= 0.5 s (issue 14) and at 100,000 steps <= 1 s (issue 13).
Each figure is the best of ``--repeat`` runs, because the test machine is shared.

    python benchmarks/cli_bench.py [--steps 10000 100000] [--repeat 5] [--folder DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent

SCRIPT = """
import sys
from ezpipe import Pipeline

pipeline = Pipeline(sys.argv[1], "cli_bench", echo=False, progress=False, tee_output=False)


@pipeline.step(name="mc_volume_{i}")
def mc_volume(i):
    if i % 1000 == 7:
        raise ValueError(f"sample {i} diverged")
    return i * 0.5


@pipeline.step(name="reduce_{j}")
def reduce_(values, j):
    return sum(values)


n = int(sys.argv[2])
volumes = [mc_volume(i) for i in range(n - n // 100)]
for j in range(n // 100):
    reduce_(volumes[j * 99 : (j + 1) * 99], j)
pipeline.execute()
"""


def build(folder: Path, steps: int) -> None:
    """A folder of ``steps`` steps: 1% reductions, a few failures, their reductions skipped."""
    if (folder / "pipeline.summary").exists():
        return
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_pipeline.py"
        script.write_text(SCRIPT)
        env = {**os.environ, "EZPIPE_MPI": "0"}
        subprocess.run([sys.executable, str(script), str(folder), str(steps)], env=env, check=False)


def best(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--folder", type=Path, help="where the folders go (default: the temp dir)")
    args = parser.parse_args()
    py, cli = sys.executable, str(BIN / "ezpipe")
    rows = [
        ("python -c pass", best([py, "-c", "pass"], args.repeat)),
        ("import ezpipe", best([py, "-c", "import ezpipe"], args.repeat)),
        ("ezpipe --help", best([cli, "--help"], args.repeat)),
    ]
    folders = {}
    for steps in args.steps:
        folder = (args.folder or Path(tempfile.gettempdir())) / f"ezpipe-cli-bench-{steps}"
        started = time.perf_counter()
        build(folder, steps)
        print(f"folder {folder} ({steps} steps, ready in {time.perf_counter() - started:.1f} s)")
        folders[steps] = folder
        rows.append(
            (f"ezpipe status ({steps} steps)", best([cli, "status", str(folder)], args.repeat))
        )
        rows.append(
            (f"ezpipe status --all ({steps} steps)", best([cli, "status", str(folder), "--all"], 1))
        )
    smallest = min(folders)
    timeline = (
        "from ezpipe import folderview; from ezpipe.observe.pictures import draw_timeline; "
        "import sys, time; v = folderview.load(sys.argv[1]); t = time.perf_counter(); "
        "draw_timeline(v, sys.argv[2]); print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [py, "-c", timeline, str(folders[smallest]), str(Path(tmp) / "timeline.png")],
            capture_output=True,
            text=True,
            check=False,
        )
    drawn = float(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else float("nan")
    rows.append((f"draw_timeline ({smallest} steps, in-process)", drawn))
    for label, seconds in rows:
        print(f"{label:<44} {seconds:7.3f} s")


if __name__ == "__main__":
    main()
