"""A small pipeline with one failure, shared by the tests of records, the CLI and pictures.

10 steps: source, work_0..3, post_0..3, total. work_2 raises, so post_2 and
total are skipped: 7 pass, 1 fail, 2 skip. Steps print to stdout and stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPT = """
import sys
import time

from ezpipe import Pipeline

folder = sys.argv[1]
pipeline = Pipeline(folder, "observed")


@pipeline.step
def source(n):
    print(f"source makes {n} numbers")
    return list(range(n))


@pipeline.step(name="work_{k}")
def work(xs, k):
    print(f"work {k} says hi")
    print(f"work {k} warns", file=sys.stderr)
    time.sleep(0.05)
    if k == 2:
        raise ValueError(f"k={k} is not allowed")
    return sum(xs) * k


@pipeline.step(name="post_{k}")
def post(value, k):
    return value + k


@pipeline.step
def total(values):
    return sum(values)


src = source(5)
total([post(work(src, k), k) for k in range(4)])
pipeline.execute()
"""

N_STEPS = 10
PASSED = ["source", "work_0", "work_1", "work_3", "post_0", "post_1", "post_3"]
FAILED = ["work_2"]
SKIPPED = ["post_2", "total"]


def write_script(directory: Path) -> Path:
    path = directory / "observed_pipeline.py"
    path.write_text(SCRIPT)
    return path


def run_cli(*argv: str) -> int:
    from ezpipe.cli import main

    try:
        return main(list(argv))
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        return int(exc.code or 0)


def build(tmp_path: Path) -> Path:
    """Run the pipeline in-process (`ezpipe run -n 1`) into tmp_path/folder."""
    folder = tmp_path / "folder"
    script = write_script(tmp_path)
    code = run_cli("run", str(script), "--", str(folder))
    assert code == 1, f"ezpipe run should report the failed step, got exit code {code}"
    sys.stdout.flush()
    return folder
