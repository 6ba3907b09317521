"""A pipeline whose ``stopper`` step receives the job's stop signal (SIGUSR1) itself.

    python stop_signal.py FOLDER stop|go

With ``stop`` only the rank that runs ``stopper`` is signalled (the hard case:
rank 0 learns of it from that rank's report); every rank must then end with
status 75, ``stopper`` must leave no record, and no new step may start: of
the eight ``after`` steps (same phase, queued behind ``stopper``) only those
other ranks had already begun run.
With ``go`` the pipeline runs to the end, reusing what the first run finished.
"""

import os
import signal
import sys
import time

from ezpipe import Pipeline

folder, how = sys.argv[1], sys.argv[2]
pipeline = Pipeline(folder, "stop_signal", policy="phase")


@pipeline.step(name="early_{i}")
def early(i):
    return i


@pipeline.step
def stopper(values):
    if how == "stop":
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(60)
    return sum(values)


@pipeline.step(name="after_{i}")
def after(value, i):
    time.sleep(1.5)  # long enough that the stop comes before a rank could start another
    return value + i


earlies = [early(i) for i in range(4)]
total = stopper(earlies)
afters = [after(earlies[3], i) for i in range(8)]
try:
    pipeline.execute()
except SystemExit as exc:
    print(f"EXIT {exc.code} rank {pipeline.comm.rank}", flush=True)
    raise
if pipeline.comm.rank == 0:
    print("RESULTS", pipeline.get_result(total), [pipeline.get_result(s) for s in afters])
