"""Each rank defines a different argument: ezpipe must refuse on every rank."""

import os
import sys

from ezpipe import Pipeline, SchemaMismatchError

pipeline = Pipeline(sys.argv[1])
pipeline.step(lambda x: x)(os.getpid())  # differs per rank
try:
    pipeline.execute()
except SchemaMismatchError as exc:
    print(f"REFUSED on rank {pipeline.comm.rank}: {exc}")
    sys.exit(5)
