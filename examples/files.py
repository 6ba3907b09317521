"""Steps that write files: ``.npy`` files in output folders, read downstream.

    python examples/files.py [FOLDER]
    ezpipe run examples/files.py -n 4 -- FOLDER

``simulate`` asks for its own folder with an ``output_dir`` parameter and
writes a field per time step there, checkpointing as it goes: after a stop
signal (a Slurm time limit) the next attempt starts with those files and
``resume_dir`` set, so it continues where it stopped. ``analyse`` asks for a
path inside that folder (``sim.cd("field_0009.npy")``): that makes ``simulate``
a dependency and puts its key in ``analyse``'s, and the sandbox passes the
real path. ``spectrum`` is an ``as_numpy_step``: its array is stored as
``result.npy`` and ``report`` receives it memory-mapped.
"""

import json
import sys

import numpy as np

from ezpipe import Pipeline, as_numpy_step

folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ezpipe-files"
pipeline = Pipeline(folder, "files")


@pipeline.step(name="simulate_n{n}")
def simulate(n, steps, output_dir, resume_dir):
    done = sorted(output_dir.glob("field_*.npy"))  # what a stopped attempt left
    field = np.load(done[-1]) if done else np.zeros((n, n))
    for t in range(len(done), steps):
        field = 0.9 * field + np.sin(np.linspace(0, np.pi * (t + 1), n * n)).reshape(n, n)
        np.save(output_dir / f"field_{t:04d}.npy", field)  # a checkpoint per time step
    (output_dir / "meta.json").write_text(json.dumps({"n": n, "steps": steps}))
    return {"files": steps, "resumed": resume_dir is not None}


@pipeline.step
def analyse(path, meta_path):
    field = np.load(path, mmap_mode="r")
    meta = json.loads(meta_path.read_text())
    return {"n": meta["n"], "mean": float(field.mean()), "max": float(field.max())}


@as_numpy_step(pipeline)
def spectrum(path):
    return np.abs(np.fft.rfft2(np.load(path)))


@pipeline.step
def report(stats, power):
    return {**stats, "power_peak": float(power.max()), "power_type": type(power).__name__}


sim = simulate(64, 10)
last = sim.cd("field_0009.npy")
stats = analyse(last, sim.cd("meta.json"))
result = report(stats, spectrum(last))

pipeline.execute()
if pipeline.comm.rank == 0:
    print("report:", pipeline.get_result(result))
    print("files of simulate:", sorted(pipeline.record(sim).output_files)[:3], "...")
