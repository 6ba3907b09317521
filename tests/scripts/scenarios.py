"""A pipeline exercising every failure kind; run serially or under mpiexec.

    python scenarios.py FOLDER [COUNT_DIR]

Each executed step appends a line to COUNT_DIR/<name> (counting executions).
"""

import os
import sys
import threading
import time

from ezpipe import Pipeline, PlaceHolder

folder = sys.argv[1]
count_dir = sys.argv[2] if len(sys.argv) > 2 else None
pipeline = Pipeline(folder, "scenarios")


def count(name):
    if count_dir:
        with open(os.path.join(count_dir, name), "a") as handle:
            handle.write("x\n")


@pipeline.step
def source(n):
    count(f"source{n}")
    time.sleep(0.01)
    return n


@pipeline.step
def square(x):
    count(f"square{x}")
    return x * x


@pipeline.step
def explode(x):
    count("explode")
    raise ValueError(f"boom {x}")


@pipeline.step
def leave(x):
    count("leave")
    sys.exit(3)


@pipeline.step
def unpicklable(x):
    count("unpicklable")
    return threading.Lock()


@pipeline.step
def total(values):
    count(f"total{len(values)}")
    return sum(values)


@pipeline.step
def after_bad(x):
    count("after_bad")
    return x


sources = [source(n) for n in range(6)]
squares = [square(s) for s in sources]  # a sweep: square, square.1, ...
good = total(squares)
bad = explode(sources[0])
bad_child = after_bad(PlaceHolder(bad))
bad_grandchild = after_bad(bad_child)
exit_step = leave(sources[1])
exit_child = after_bad(exit_step)
lock_step = unpicklable(sources[2])
lock_child = after_bad({"nested": [lock_step]})
late = total([good, sources[5]])  # later phase, unrelated to every failure

pipeline.execute()
statuses = {s.name: s.get_status() for s in pipeline.steps}
if pipeline.comm.rank == 0:
    print("STATUSES", sorted(statuses.items()))
    print("RESULT", pipeline.get_result(late))
