"""Steps that end their process: os._exit becomes a step failure; SIGKILL ends the job.

python die.py FOLDER exit|kill
"""

import os
import signal
import sys
import time

from ezpipe import Pipeline

pipeline = Pipeline(sys.argv[1])
how = sys.argv[2]


@pipeline.step
def work(i):
    time.sleep(0.1)
    if i == 5:
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
        os._exit(0)
    return i


steps = [work(i) for i in range(12)]
pipeline.execute()
if pipeline.comm.rank == 0:
    print("STATUS", steps[5].get_status(), sum(s.get_status() == 0 for s in steps))
