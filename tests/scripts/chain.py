"""A small study whose parts can be changed from the command line.

    python chain.py FOLDER COUNT_DIR [--scale S] [--version V] [--mode M] [--sleep T]
                                     [--threads N] [--hold SECONDS]

Each executed step appends a line to COUNT_DIR/<step name>.
"""

import argparse
import os
import time

from ezpipe import Pipeline

parser = argparse.ArgumentParser()
parser.add_argument("folder")
parser.add_argument("count_dir")
parser.add_argument("--scale", type=int, default=2)
parser.add_argument("--version", default="1")
parser.add_argument("--mode", default="cached")
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--hold", type=float, default=0.0)
parser.add_argument("--n", type=int, default=8)
opts = parser.parse_args()

pipeline = Pipeline(opts.folder, "chain", echo=False, lock_timeout=60)


def count(name):
    with open(os.path.join(opts.count_dir, name), "a") as handle:
        handle.write(f"{os.getpid()}\n")


@pipeline.step(name="load{i}", exclude_from_key=["threads"])
def load(i, threads):
    count(f"load{i}")
    time.sleep(opts.sleep)
    return i


@pipeline.step(name="scale{i}")
def scale(x, factor, i):
    count(f"scale{i}")
    time.sleep(opts.sleep)
    return x * factor


@pipeline.step(version=opts.version)
def total(values):
    count("total")
    return sum(values)


scaled = [scale(load(i, opts.threads), opts.scale, i) for i in range(opts.n)]
result = total(scaled)
pipeline.initialize_schema(keep_lock=opts.hold > 0)
time.sleep(opts.hold)  # holds the folder lock: lets tests start a second run meanwhile
pipeline.execute(mode=opts.mode)
if pipeline.comm.rank == 0:
    print("RESULT", pipeline.get_result(result))
