"""A run that rewrites every result again and again, for readers to read meanwhile.

python churn.py FOLDER ROUNDS   (under mpiexec: every round recomputes every step)

``define`` is shared with ``reader.py``, which must see exactly these values.
"""

import sys

from ezpipe import Pipeline

N = 16
SIZE = 50_000  # numbers per result: ~400 KB pickled, so writes take a while


def value(i: int) -> list[int]:
    return list(range(i, i + SIZE))


def define(folder: str) -> tuple[Pipeline, list, object]:
    pipeline = Pipeline(folder, "churn", echo=False, progress=False)

    @pipeline.step(name="part{i}")
    def part(i):
        return value(i)

    @pipeline.step
    def total(parts):
        return sum(sum(p) for p in parts)

    parts = [part(i) for i in range(N)]
    return pipeline, parts, total(parts)


def expected_total() -> int:
    return sum(sum(value(i)) for i in range(N))


if __name__ == "__main__":
    import churn  # the steps' functions are churn.*, as in reader.py: the same keys

    pipeline, parts, total = churn.define(sys.argv[1])
    for _ in range(int(sys.argv[2])):
        pipeline.execute(mode="force")
        if pipeline.comm.rank == 0:
            print("ROUND", pipeline.get_result(total) == expected_total(), flush=True)
