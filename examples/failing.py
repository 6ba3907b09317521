"""A sweep where some steps fail: what `ezpipe status` and `ezpipe show` are for.

    ezpipe run examples/failing.py -n 4 -- /tmp/ezpipe-failing
    ezpipe status /tmp/ezpipe-failing
    ezpipe show /tmp/ezpipe-failing solve_k3
    SOLVER_MAX_ITER=100 ezpipe run examples/failing.py -n 4 --mode retry -- /tmp/ezpipe-failing

Steps print as they work: their output lands in each step's output.log (and in
the job output, prefixed with the step name). Every k divisible by 3 needs more
solver iterations than the default budget, which comes from the environment
(like a time limit, it is not part of the step's cache key).
"""

import math
import os
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
    budget = int(os.environ.get("SOLVER_MAX_ITER", "50"))
    needed = 80 if k % 3 == 0 else 20
    print(f"solving with k={k}: {needed} iterations needed, budget {budget}")
    time.sleep(0.1 * (k % 4 + 1))
    if needed > budget:
        raise RuntimeError(f"k={k} did not converge in {budget} iterations (SOLVER_MAX_ITER)")
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
