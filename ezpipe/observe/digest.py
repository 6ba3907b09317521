"""The run's summary as text: what matters first, then the whole table, 100 columns wide.

Rows are plain dicts (the summary's JSON records: ``None`` for a missing value,
never ``NaN``), so ``ezpipe summary`` and ``ezpipe report`` render them without
pandas. :func:`digest` is what a run prints at its end: the counts; every
failed step with its error's last line, its rank and the ``ezpipe show``
command; the skipped steps grouped by the failure that caused them; the
slowest steps. :func:`table` is every row, aligned however many there are
(column widths come from all rows, nothing elided), for ``pipeline.summary``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..records import RunTally, Status, StepOutcome

WIDTH = 100
SHOWN_FAILURES = 20  # the console lists this many; `ezpipe status DIR --failed` has them all
SHOWN_CAUSES = 10
SLOWEST = 5
WORDS = {-1: "NOT RUN", 0: "PASS", 1: "FAIL", 2: "SKIP"}
Row = Mapping[str, Any]


def word(row: Row) -> str:
    """PASS, FAIL, SKIP, NOT RUN, or CACHED for a result this run reused."""
    status = int(row.get("status", -1))
    if status == 0 and row.get("cached"):
        return "CACHED"
    return WORDS.get(status, str(status))


def last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters (one line), an ellipsis marking a cut."""
    text = str(text).replace("\r", " ").replace("\n", " ")
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f}s"
    minutes, secs = divmod(int(value), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def _cause(row: Row) -> str | None:
    cause = row.get("skipped_because")
    if cause:
        return str(cause)
    error = str(row.get("error") or "")
    if error.startswith("skipped: upstream "):  # a table written before the column existed
        return error.removeprefix("skipped: upstream ").rsplit(" did not pass", 1)[0].strip("'\"")
    return None


def _names(names: Sequence[str], width: int) -> str:
    shown: list[str] = []
    used = 0
    for n, name in enumerate(names):
        rest = len(names) - n
        tail = f" and {rest} more" if rest > 1 else ""
        if used + len(name) + 2 + len(tail) > width and shown:
            return ", ".join(shown) + f" and {rest} more"
        shown.append(name)
        used += len(name) + 2
    return ", ".join(shown)


def failures(rows: Sequence[Row], folder: str, limit: int | None = SHOWN_FAILURES) -> list[str]:
    """Each failed step: name, rank, the error's last line, and how to see all of it."""
    failed = [r for r in rows if int(r.get("status", -1)) == 1]
    if not failed:
        return []
    out = [f"FAIL  {len(failed)} step{'s' if len(failed) != 1 else ''}"]
    for row in failed[:limit]:
        rank = "-" if row.get("rank") is None else str(row["rank"])
        cached = ", cached failure" if row.get("cached") else ""
        head = f"  {row['name']}  (rank {rank}{cached})  "
        out.append(cut(head + (last_line(row.get("error")) or "?"), WIDTH))
        out.append(cut(f"      ezpipe show {folder} {row['name']}", WIDTH))
    if limit is not None and len(failed) > limit:
        out.append(f"  ... and {len(failed) - limit} more: ezpipe status {folder} --failed")
    return out


def skips(rows: Sequence[Row], limit: int | None = SHOWN_CAUSES) -> list[str]:
    """Skipped steps grouped by the step whose failure caused them, largest group first."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        if int(row.get("status", -1)) == 2:
            groups.setdefault(_cause(row) or "?", []).append(str(row["name"]))
    if not groups:
        return []
    total = sum(len(v) for v in groups.values())
    out = [f"SKIP  {total} step{'s' if total != 1 else ''}, because upstream steps did not pass"]
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    for cause, names in ordered[:limit]:
        head = f"  {cut(cause, 40)} ({len(names)}): "
        out.append(head + _names(names, WIDTH - len(head)))
    if limit is not None and len(ordered) > limit:
        out.append(f"  ... and {len(ordered) - limit} more causes")
    return out


def slowest(rows: Sequence[Row], n: int = SLOWEST) -> list[str]:
    """The ``n`` longest steps computed in this run (reused results took no time now)."""
    timed = [r for r in rows if r.get("duration") is not None and not r.get("cached")]
    if not timed:
        return []
    timed.sort(key=lambda r: -float(r["duration"]))
    width = min(max(len(str(r["name"])) for r in timed[:n]), 48)
    out = ["SLOWEST"]
    for row in timed[:n]:
        rank = "-" if row.get("rank") is None else str(row["rank"])
        where = f"rank {rank}" + (f" on {row['host']}" if row.get("host") else "")
        name = cut(row["name"], width)
        out.append(cut(f"  {name:<{width}}  {seconds(row['duration']):>8}  {where}", WIDTH))
    return out


def digest(
    rows: Sequence[Row],
    headline: str,
    folder: str,
    *,
    level: str = "normal",
    table_path: str | None = None,
) -> str:
    """The end-of-run text: counts, failures, skips by cause, the slowest steps (not quiet)."""
    parts = [[headline], failures(rows, folder), skips(rows)]
    if level != "quiet":
        parts.append(slowest(rows))
    if table_path and level != "quiet":
        parts.append(
            [f"every step: {table_path}", f"as a web page: ezpipe report {folder} -o report.html"]
        )
    return "\n\n".join("\n".join(p) for p in parts if p) + "\n"


COLUMNS: tuple[tuple[str, str, int], ...] = (  # key, header, widest
    ("name", "name", 30),
    ("phase", "phase", 5),
    ("status", "status", 6),
    ("word", "word", 7),
    ("rank", "rank", 4),
    ("host", "host", 10),
    ("duration", "duration", 8),
    ("error", "error", 0),  # whatever is left of WIDTH: at least 16
)
# The function, arguments and result paths are in pipeline.summary.json (and the CSV and
# HTML report): with them no table of real step names fits 100 columns.


def _error_cell(row: Row) -> str:
    cause = _cause(row)
    if cause is not None and int(row.get("status", -1)) == 2:
        return f"upstream {cause!r} did not pass"
    return last_line(row.get("error"))


def _column(rows: list[Row], key: str) -> list[str]:
    """One column's cells (a column at a time: 100,000 rows of 8 cells in a fraction)."""
    if key == "word":
        return [word(r) for r in rows]
    if key == "duration":
        return [seconds(r.get("duration")) for r in rows]
    if key == "error":
        return [_error_cell(r) for r in rows]
    return ["-" if (v := r.get(key)) is None else str(v) for r in rows]


def _fit(cells: list[str], width: int, right: bool) -> list[str]:
    """The cells padded to ``width``, those too long (or of several lines) cut first."""
    joined = "".join(cells)
    if "\n" in joined or "\r" in joined or max(map(len, cells)) > width:
        cells = [c if len(c) <= width and c.isprintable() else cut(c, width) for c in cells]
    pad = str.rjust if right else str.ljust
    return [pad(c, width) for c in cells]


def table(rows: Iterable[Row], width: int = WIDTH) -> str:
    """Every row, aligned, in ``width`` columns: long cells are cut, rows never elided."""
    rows = list(rows)
    columns = [[header, *_column(rows, key)] for key, header, _ in COLUMNS]
    widths = []
    for cells, (_, _, widest) in zip(columns, COLUMNS, strict=True):
        natural = max(map(len, cells))
        widths.append(min(natural, widest) if widest else natural)
    fixed = sum(widths[:-1]) + 2 * (len(COLUMNS) - 1)
    widths[-1] = max(min(widths[-1], width - fixed), 16)
    numeric = {"phase", "status", "rank", "duration"}
    fitted = [
        _fit(cells, w, key in numeric)
        for cells, w, (key, _, _) in zip(columns, widths, COLUMNS, strict=True)
    ]
    return "\n".join("  ".join(line).rstrip() for line in zip(*fitted, strict=True))


def tally_of(rows: Sequence[Row]) -> RunTally:
    """The verdict of a table read back without its run's record (every row selected)."""
    outcomes = [
        StepOutcome(
            status=Status(int(r.get("status", -1))),
            cached=bool(r.get("cached")),
            error=r.get("error"),
        )
        for r in rows
    ]
    interrupted = any(o.status == Status.NOT_RUN and o.error for o in outcomes)
    return RunTally.of(outcomes, interrupted=interrupted)


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def markdown(rows: Sequence[Row]) -> str:
    """The rows as GitHub-flavoured markdown (no extra dependency such as tabulate)."""
    columns = list(rows[0]) if rows else ["name", "status"]

    def cell(value: Any) -> str:
        return _plain(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def csv_text(rows: Sequence[Row]) -> str:
    columns = list(rows[0]) if rows else ["name", "status"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[_plain(r.get(c)) for c in columns] for r in rows])
    return out.getvalue()
