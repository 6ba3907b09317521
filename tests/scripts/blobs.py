"""Steps with large incompressible results, to fill a small disk; runs under mpiexec too.

python blobs.py FOLDER COUNT_DIR [N] [KB]

Each executed step appends a line to COUNT_DIR/<step name>; rank 0 prints
``RESULT`` and the digest of every blob, which the test recomputes.
"""

import hashlib
import os
import random
import sys

from ezpipe import Pipeline

folder, count_dir = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 12
kb = int(sys.argv[4]) if len(sys.argv) > 4 else 40
pipeline = Pipeline(folder, "blobs", echo=False, progress=False)


def blob_value(i: int) -> bytes:
    return random.Random(i).randbytes(kb * 1024)


@pipeline.step(name="blob{i}")
def blob(i):
    with open(os.path.join(count_dir, f"blob{i}"), "a") as handle:
        handle.write("x\n")
    return blob_value(i)


@pipeline.step
def digest(parts):
    return hashlib.sha256(b"".join(parts)).hexdigest()


result = digest([blob(i) for i in range(n)])
if __name__ == "__main__":
    pipeline.execute()
    if pipeline.comm.rank == 0:
        print("RESULT", pipeline.get_result(result), flush=True)
