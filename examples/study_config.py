"""The example study with config classes in Python (the same keys as study.yaml).

python examples/study_config.py [FOLDER]
ezpipe run examples/study_config.py -n 4 -- FOLDER
"""

import sys

from study_steps import Grid, Refine, Simulate, Summarize

from ezpipe import Loop, Pipeline

folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ezpipe-study"
pipeline = Pipeline(folder, "study")

grid = pipeline.add(Grid(n=200), name="grid")
runs = [pipeline.add(Simulate(k=k, noise=0.1), grid, name=f"simulate[k={k}]") for k in (1, 2, 3)]
refined = pipeline.add(Loop(3, [Refine(factor=0.5)]), grid, name="refine")
summary = pipeline.add(Summarize(), runs=runs, refined=refined, name="summary")

pipeline.execute()
if pipeline.comm.rank == 0:
    print("summary:", pipeline.get_result(summary))
