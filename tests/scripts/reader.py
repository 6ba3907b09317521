"""Read a pipeline folder while churn.py writes it: every value whole, every record parsed.

python reader.py FOLDER STOP_FILE

Loops until STOP_FILE exists: loads results (``get_result`` and ``lookup``),
runs ``ezpipe status`` and ``ezpipe show`` in-process, parses every record.
Exits 1 at the first wrong value or unreadable record; prints the counts.
"""

import contextlib
import io
import json
import pathlib
import random
import sys
import time

from churn import define, expected_total, value

from ezpipe import ResultNotAvailableError
from ezpipe.cli import main as cli

folder, stop = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
pipeline, parts, total = define(str(folder))
pipeline.freeze()
loads = views = records = not_yet = 0
rng = random.Random(0)
deadline = time.monotonic() + 300


def fail(message: str) -> None:
    print(f"READER FAILED: {message}", flush=True)
    sys.exit(1)


while not stop.exists() or loads == 0:
    if time.monotonic() > deadline:
        fail(f"no end: {loads} loads, {not_yet} results not there yet")
    i = rng.randrange(len(parts))
    try:
        got = pipeline.get_result(parts[i]) if i % 2 else parts[i].lookup().result()
        if got != value(i):
            fail(f"part{i} has a wrong value")
        if pipeline.get_result(total) != expected_total():
            fail("total has a wrong value")
        loads += 1
    except ResultNotAvailableError as exc:
        if loads:  # records are replaced, never removed: once there, always readable
            fail(f"a result went missing: {exc}")
        not_yet += 1
    for record in folder.glob("steps/*/*/record.json"):
        try:
            json.loads(record.read_bytes())
            records += 1
        except FileNotFoundError:
            pass
        except ValueError as exc:
            fail(f"torn record {record}: {exc}")
    for args in (["status", str(folder)], ["show", str(folder), f"part{i}"]):
        started = (folder / "pipeline.schema").exists()  # asked before, not after: a race
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli(args)
        if code == 3 and not started:
            continue  # the run had not started yet: "not a pipeline folder" is right
        if code not in (0, 1):  # 0 all passed, 1 some not (yet): never "could not read"
            fail(f"ezpipe {' '.join(args)} exited {code}: {out.getvalue()}")
        views += 1
print(f"READER OK loads={loads} views={views} records={records} early={not_yet}", flush=True)
