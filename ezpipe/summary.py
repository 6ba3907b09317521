"""The summary table of a run: a pandas DataFrame, printed and written to the folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from .graph import short_repr
from .records import Status
from .steps import Step
from .store import Store

COLUMNS = [
    "name",
    "function",
    "args",
    "kwargs",
    "phase",
    "status",
    "rank",
    "duration",
    "cached",
    "error",
    "result",
]
PRINT_ROWS = 60  # longer tables print their head and tail; the file always has every row


def summary_frame(
    steps: Sequence[Step], outcomes: Sequence[dict[str, Any] | None], store: Store
) -> pd.DataFrame:
    rows = []
    for step, outcome in zip(steps, outcomes, strict=True):
        o = outcome or {}
        status = Status(o.get("status", Status.NOT_RUN))
        error = o.get("error_message")
        if status == Status.SKIPPED:
            error = f"skipped: upstream {o.get('skipped_because')!r} did not pass"
        rows.append(
            {
                "name": step.name,
                "function": step.function_name,
                "args": short_repr(list(step.args)),
                "kwargs": short_repr(step.kwargs),
                "phase": step.phase,
                "status": int(status),
                "rank": o.get("rank"),
                "duration": o.get("duration"),
                "cached": bool(o.get("cached", False)),
                "error": error,
                "result": str(store.result_path(step.name, step.key))
                if status == Status.PASSED
                else None,
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["rank"] = frame["rank"].astype("Int64")
    frame["duration"] = frame["duration"].astype("float64")
    return frame


def passed(frame: pd.DataFrame) -> bool:
    return bool((frame["status"] == int(Status.PASSED)).all())


def headline(frame: pd.DataFrame, folder: str) -> str:
    counts = frame["status"].value_counts()
    failed = counts.get(int(Status.FAILED), 0) + counts.get(int(Status.SKIPPED), 0)
    unfinished = frame["error"].notna() & (frame["status"] == int(Status.NOT_RUN))  # interrupted
    if passed(frame):
        word = "Completed"
    elif failed or unfinished.any():
        word = "Failed"
    else:
        word = "Incomplete"  # only steps left out of this run (run_only) are missing
    parts = [
        f"{int(counts.get(int(s), 0))} {s.label.lower()}"
        for s in (Status.PASSED, Status.FAILED, Status.SKIPPED, Status.NOT_RUN)
        if counts.get(int(s), 0)
    ]
    cached = int(frame["cached"].sum())
    if cached:
        parts.append(f"{cached} from cache")
    return f"Pipeline {word} @ {folder}  ({len(frame)} steps: {', '.join(parts) or 'none'})"


def render(frame: pd.DataFrame, folder: str, max_rows: int | None = None) -> str:
    """The table as text: result paths relative to ``folder``, long cells cut."""
    shown = frame.drop(columns=["error"]) if frame["error"].isna().all() else frame
    prefix = folder.rstrip("/") + "/"
    shown = shown.assign(
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


def write(store: Store, frame: pd.DataFrame) -> str:
    """Write pipeline.summary (text) and pipeline.summary.json; returns the text."""
    text = f"{headline(frame, str(store.root))}\n{render(frame, str(store.root))}\n"
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
