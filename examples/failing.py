"""A sweep where some steps fail: what `ezpipe status` and `ezpipe show` are for.

    ezpipe run examples/failing.py -n 4 -- /tmp/ezpipe-failing
    ezpipe status /tmp/ezpipe-failing
    ezpipe show /tmp/ezpipe-failing solve_k3

Steps print as they work: their output lands in each step's output.log (and in
the job output, prefixed with the step name).
"""

import math
import sys
import time

from ezpipe import Pipeline

folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ezpipe-failing"
pipeline = Pipeline(folder, "failing")


@pipeline.step
def load(n):
    print(f"loading {n} points")
    return [i / n for i in range(n)]


@pipeline.step(name="solve_k{k}")
def solve(points, k):
    print(f"solving with k={k}")
    time.sleep(0.1 * (k % 4 + 1))
    if k % 3 == 0:
        raise ValueError(f"k={k} does not converge: residual {math.pi * k:.3f} > 1e-6")
    return sum(math.cos(k * x) for x in points)


@pipeline.step(name="post_k{k}")
def postprocess(value, k):
    print(f"post-processing k={k}", file=sys.stderr)
    return round(value, 3)


@pipeline.step
def collect(values):
    return sorted(values)


points = load(200)
posts = [postprocess(solve(points, k), k) for k in range(1, 9)]
independent = [postprocess.named(f"baseline_{j}")(float(j), j) for j in range(2)]
collect(posts)

pipeline.execute()
