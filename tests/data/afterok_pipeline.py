"""A pipeline whose last step fails when asked: python afterok_pipeline.py FOLDER pass|fail

Like any ezpipe script (ezpyp's convention), it exits 0 whether or not its
steps passed; the job script that ``ezpipe slurm`` writes is what turns a
failed step into a failed job.
"""

import sys

from ezpipe import Pipeline

folder, how = sys.argv[1], sys.argv[2]
pipeline = Pipeline(folder, "afterok")


@pipeline.step
def load():
    return 2


@pipeline.step
def check(x):
    if how == "fail":
        raise ValueError("this point is bad")
    return x * 10


check(load())
pipeline.execute()
