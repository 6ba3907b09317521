"""A pipeline that outlives its job on the first attempt (used by the real-Slurm tests).

python timelimit_pipeline.py FOLDER

Four quick steps, then ``slow``, which on the first attempt of a job chain
(``EZPIPE_SLURM_ATTEMPT`` unset or 0) sleeps far past any test time limit, so
the job's stop signal must interrupt it; on a resubmission it returns at once.
"""

import os
import sys
import time

from ezpipe import Pipeline

pipeline = Pipeline(sys.argv[1], "timelimit")


@pipeline.step(name="quick_{i}")
def quick(i):
    return i * i


@pipeline.step
def slow(values):
    if os.environ.get("EZPIPE_SLURM_ATTEMPT", "0") == "0":
        time.sleep(900)  # longer than the job: only the stop signal ends it
    return sum(values)


total = slow([quick(i) for i in range(4)])
pipeline.execute()
if pipeline.comm.rank == 0:
    print(f"total: {pipeline.get_result(total)}")
