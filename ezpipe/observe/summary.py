"""The summary table of a run: a pandas DataFrame, printed and written to the folder.

The headline comes from the run's :class:`RunTally`, never from counting rows
here: ``rank`` and ``host`` say where a result was computed, ``cached``
whether this run reused it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..graph import short_repr
from ..records import RunTally, Status, StepOutcome
from ..steps import Step
from ..store import Store

COLUMNS = [
    "name",
    "function",
    "args",
    "kwargs",
    "phase",
    "status",
    "rank",
    "host",
    "duration",
    "ranks",
    "cpu_time",
    "peak_mb",
    "cpu_eff",
    "cached",
    "error",
    "result",
]
# what each step used (summed over a multi-rank step's ranks): CPU seconds, its own peak
# resident MiB, CPU time / (wall x threads x ranks); shown when some step has them
RESOURCE_COLUMNS = ["ranks", "cpu_time", "peak_mb", "cpu_eff"]
PRINT_ROWS = 60  # longer tables print their head and tail; the file always has every row


def summary_frame(
    steps: Sequence[Step], outcomes: Sequence[StepOutcome | None], store: Store
) -> pd.DataFrame:
    rows = []
    none = StepOutcome(status=Status.NOT_RUN)
    for step, outcome in zip(steps, outcomes, strict=True):
        o = outcome or none
        status = o.status
        error = o.error
        if status == Status.SKIPPED:
            error = f"skipped: upstream {o.skipped_because!r} did not pass"
        rows.append(
            {
                "name": step.name,
                "function": step.function_name,
                "args": short_repr(list(step.args)),
                "kwargs": short_repr(step.kwargs),
                "phase": step.phase,
                "status": int(status),
                "rank": o.rank,
                "host": o.host,
                "duration": o.duration,
                "ranks": len(o.ranks) if o.ranks else 1,
                "cpu_time": o.cpu_time,
                "peak_mb": None if o.peak_memory is None else o.peak_memory / 2**20,
                "cpu_eff": o.cpu_efficiency,
                "cached": o.cached,
                "error": error,
                "result": str(store.result_path(step.name, step.key))
                if status == Status.PASSED
                else None,
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["rank"] = frame["rank"].astype("Int64")
    frame["duration"] = frame["duration"].astype("float64")
    for column in RESOURCE_COLUMNS[1:]:
        frame[column] = frame[column].astype("float64")
    return frame


def tally_of(frame: pd.DataFrame) -> RunTally:
    """The verdict of a table read back without its run's record (every row selected)."""
    outcomes = [
        StepOutcome(status=Status(int(status)), cached=bool(cached), error=error)
        for status, cached, error in zip(
            frame["status"], frame["cached"], frame["error"], strict=True
        )
    ]
    interrupted = any(
        o.status == Status.NOT_RUN and isinstance(o.error, str) and o.error for o in outcomes
    )
    return RunTally.of(outcomes, interrupted=interrupted)


def render(frame: pd.DataFrame, folder: str, max_rows: int | None = None) -> str:
    """The table as text: result paths relative to ``folder``, long cells cut."""
    shown = frame.drop(columns=["error"]) if frame["error"].isna().all() else frame
    unused = [c for c in RESOURCE_COLUMNS[1:] if c in shown and shown[c].isna().all()]
    if "ranks" in shown and (shown["ranks"] == 1).all():
        unused.append("ranks")
    shown = shown.drop(columns=unused)
    prefix = folder.rstrip("/") + "/"
    rounded = {c: shown[c].round(3) for c in RESOURCE_COLUMNS[1:] if c in shown}
    shown = shown.assign(
        **rounded,
        duration=shown["duration"].round(4),
        result=shown["result"].map(
            lambda p: p[len(prefix) :] if isinstance(p, str) and p.startswith(prefix) else p
        ),
    )
    options = {"index": False, "max_colwidth": 48}
    if max_rows is not None and len(shown) > max_rows:
        half = max_rows // 2
        head = shown.head(half).to_string(**options)
        tail = shown.tail(half).to_string(header=False, **options)
        return f"{head}\n... {len(shown) - 2 * half} more rows ...\n{tail}"
    return shown.to_string(**options)


def write(store: Store, frame: pd.DataFrame, tally: RunTally) -> str:
    """Write pipeline.summary (text) and pipeline.summary.json; returns the text."""
    text = f"{tally.headline(str(store.root))}\n{render(frame, str(store.root))}\n"
    store.write_text(store.summary_path, text)
    store.write_text(store.summary_json_path, frame.to_json(orient="records", indent=1))
    return text


def read(store: Store) -> pd.DataFrame:
    """The last run's table, from its machine-readable copy."""
    frame = pd.read_json(store.summary_json_path, orient="records")
    if "rank" in frame:
        frame["rank"] = frame["rank"].astype("Int64")  # JSON nulls made it float
    return frame


def markdown(frame: pd.DataFrame) -> str:
    """The table as GitHub-flavoured markdown (no extra dependency such as tabulate)."""

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
            return ""
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines)
