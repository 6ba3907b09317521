"""The summary table of a run: a pandas DataFrame, written to the folder.

The headline comes from the run's :class:`RunTally`, never from counting rows
here: ``rank`` and ``host`` say where a result was computed, ``cached``
whether this run reused it. ``status`` is ezpyp's number (0 pass, 1 fail, 2
skip, -1 not run) and ``word`` says it for people (PASS, FAIL, SKIP, CACHED).
The text forms (the end-of-run digest, the aligned table in
``pipeline.summary``) are drawn by :mod:`ezpipe.observe.digest` from plain rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .. import jsonfile
from ..graph import argument_reprs
from ..records import RunTally, Status, StepOutcome, skipped_error
from ..steps import Step
from ..store import Store
from . import digest

COLUMNS = [
    "name",
    "function",
    "args",
    "kwargs",
    "phase",
    "status",
    "word",
    "rank",
    "host",
    "duration",
    "ranks",
    "cpu_time",
    "peak_mb",
    "cpu_eff",
    "cached",
    "error",
    "skipped_because",
    "result",
]
# what each step used (summed over a multi-rank step's ranks): CPU seconds, its own peak
# resident MiB, CPU time / (wall x threads x ranks); shown when some step has them
RESOURCE_COLUMNS = ["ranks", "cpu_time", "peak_mb", "cpu_eff"]


def summary_rows(
    steps: Sequence[Step], outcomes: Sequence[StepOutcome | None], store: Store
) -> list[dict[str, Any]]:
    """One plain row per step, as ``pipeline.summary.json`` holds it (None for a missing
    value): what the files, the digest and the DataFrame are all made from."""
    rows = []
    none = StepOutcome(status=Status.NOT_RUN)
    for step, outcome in zip(steps, outcomes, strict=True):
        o = outcome or none
        status = o.status
        error = o.error
        if status == Status.SKIPPED:
            error = skipped_error(o.skipped_because)
        args, kwargs = argument_reprs(step)
        rows.append(
            {
                "name": step.name,
                "function": step.function_name,
                "args": args,
                "kwargs": kwargs,
                "phase": step.phase,
                "status": int(status),
                "word": "CACHED" if o.cached and status == Status.PASSED else status.label,
                "rank": o.rank,
                "host": o.host,
                "duration": _finite(o.duration),
                "ranks": len(o.ranks) if o.ranks else 1,
                "cpu_time": _finite(o.cpu_time),
                "peak_mb": None if o.peak_memory is None else o.peak_memory / 2**20,
                "cpu_eff": _finite(o.cpu_efficiency),
                "cached": o.cached,
                "error": error,
                "skipped_because": o.skipped_because,
                "result": str(store.result_path(step.name, step.key))
                if status == Status.PASSED
                else None,
            }
        )
    return rows


def _finite(value: float | None) -> float | None:
    """JSON has no NaN: a measurement that is not a number is a missing one."""
    return value if value is None or math.isfinite(value) else None


def summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as the DataFrame ``execute()`` returns: integer ranks (nullable), floats."""
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["rank"] = frame["rank"].astype("Int64")
    frame["duration"] = frame["duration"].astype("float64")
    for column in RESOURCE_COLUMNS[1:]:
        frame[column] = frame[column].astype("float64")
    return frame


def tally_of(frame: pd.DataFrame) -> RunTally:
    """The verdict of a table read back without its run's record (every row selected)."""
    return digest.tally_of(rows(frame))


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The table as plain JSON records: None, never NaN or <NA>, for a missing value."""
    return json.loads(frame.to_json(orient="records"))


def render(frame: pd.DataFrame, folder: str) -> str:
    """Every row as aligned text, 100 columns wide (see :func:`ezpipe.observe.digest.table`)."""
    return digest.table(rows(frame))


def write(store: Store, records: list[dict[str, Any]], tally: RunTally) -> str:
    """Write pipeline.summary (ezpyp's headline, then the table) and pipeline.summary.json
    from the plain rows (:func:`summary_rows`, or :func:`rows` of a frame).

    Returns the text written."""
    text = f"{tally.headline(str(store.root))}\n{digest.table(records)}\n"
    store.write_text(store.summary_path, text)
    store.write_text(store.summary_json_path, jsonfile.dumps(records, levels=1))
    return text


def read(store: Store) -> pd.DataFrame:
    """The last run's table, from its machine-readable copy."""
    frame = pd.read_json(store.summary_json_path, orient="records")
    if "rank" in frame:
        frame["rank"] = frame["rank"].astype("Int64")  # JSON nulls made it float
    return frame
