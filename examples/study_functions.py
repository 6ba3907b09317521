"""The example study with decorated functions (the same results as study.yaml).

python examples/study_functions.py [FOLDER]
"""

import math
import random
import sys

from ezpipe import Pipeline

folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ezpipe-study-functions"
pipeline = Pipeline(folder, "study")


@pipeline.step
def grid(n):
    return [i / n for i in range(n)]


@pipeline.step(name="simulate[k={k}]", exclude_from_key=["workers"])
def simulate(points, k, noise=0.1, seed=0, workers=1):
    rng = random.Random(seed)
    return [math.sin(2 * math.pi * k * x) + rng.gauss(0, noise) for x in points]


@pipeline.step(name="refine@{iteration}")
def refine(values, iteration, factor=0.5):
    return [v + factor * (v * v - v) / iteration for v in values]


@pipeline.step
def summary(runs, refined, digits=4):
    return {
        "peaks": [round(max(run), digits) for run in runs],
        "refined_mean": round(sum(refined) / len(refined), digits),
    }


points = grid(200)
runs = [simulate(points, k) for k in (1, 2, 3)]
refined = points
for iteration in (1, 2, 3):  # a loop: each iteration is fed by the one before
    refined = refine(refined, iteration)
result = summary(runs, refined)

pipeline.execute()
if pipeline.comm.rank == 0:
    print("summary:", pipeline.get_result(result))
