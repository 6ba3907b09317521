"""A small parameter study: a sweep of simulations, a fan-in, and a report.

    mpiexec -n 4 python examples/demo.py [FOLDER]     (make demo)

Run it twice: the second run reuses every result from the cache ([CACHED]).
"""

import math
import sys
import time

from ezpipe import Pipeline

folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ezpipe-demo"
pipeline = Pipeline(folder, "demo")


@pipeline.step
def make_grid(n):
    return [i / n for i in range(n)]


@pipeline.step(name="simulate_k{k}")
def simulate(grid, k):
    time.sleep(0.05 * k)  # stands in for real work of uneven length
    return sum(math.sin(k * x) ** 2 for x in grid) / len(grid)


@pipeline.step
def aggregate(values):
    return {"mean": sum(values) / len(values), "max": max(values)}


@pipeline.step
def report(stats, ks):
    return f"{len(ks)} simulations, mean {stats['mean']:.4f}, max {stats['max']:.4f}"


grid = make_grid(1000)
ks = list(range(1, 9))
runs = [simulate(grid, k) for k in ks]  # steps passed directly: dependencies implied
stats = aggregate(runs)
final = report(stats, ks)

pipeline.execute()
if pipeline.comm.rank == 0:
    if final.lookup().cached():  # also after `ezpipe run --run-only ...` left it out
        print(final.get_result())
    else:
        print(f"no report from this run: {final.status.label}")
