"""Steps that take long; the first to start touches MARK, so a test can press Ctrl-C then.

python sleepy.py FOLDER MARK
"""

import pathlib
import sys
import time

from ezpipe import Pipeline

pipeline = Pipeline(sys.argv[1], "sleepy", progress=False)
mark = pathlib.Path(sys.argv[2])


@pipeline.step(name="nap{i}")
def nap(i):
    mark.touch()
    time.sleep(30)
    return i


naps = [nap(i) for i in range(8)]
pipeline.execute()
print("UNREACHABLE: the run was not interrupted", flush=True)
