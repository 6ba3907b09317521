"""One rank goes wrong alone; the job must end promptly with that error shown once.

python rank_fails.py FOLDER WHERE RANK STAMP

WHERE: ``define`` (a name collision on RANK only, raised at module level),
``freeze`` (a cycle on RANK only: every rank must raise the same error),
``after`` (RANK raises between collectives, after a run), ``everyone`` (a cycle
on every rank: one error, printed once). STAMP: file where the
failing rank writes the time it raised, so the test can time the end of the job.
"""

import sys
import time

from ezpipe import Pipeline
from ezpipe.engine.fatal import rank_and_size

folder, where, bad, stamp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rank = rank_and_size()[0]
pipeline = Pipeline(folder, echo=False, progress=False)


def mark() -> None:
    with open(stamp, "w") as handle:
        handle.write(str(time.time()))


@pipeline.step(name="work{i}")
def work(i, previous=None):
    return i + (previous or 0)


steps = [work(0)]
steps += [work(i, steps[-1]) for i in (1, 2)]
if where == "define" and rank == bad:
    mark()
    work(1)  # DuplicateStepNameError on this rank only
if (where == "freeze" and rank == bad) or where == "everyone":
    steps[0].depends_on(steps[2])  # a cycle on this rank only (on all for "everyone")
    if rank == bad:
        mark()
pipeline.execute()
print(f"RAN on rank {pipeline.comm.rank}", flush=True)
if where == "after":
    if rank == bad:
        mark()
        raise RuntimeError(f"boom on rank {rank} between collectives")
    pipeline.comm.allgather(rank)  # the others wait for the failed rank here
print(f"UNREACHABLE on rank {rank}", flush=True)
