"""Commands that read a pipeline folder: ``show`` and ``summary`` (and what ``status`` shares).

They work from the folder alone (the user's script is never imported), so
they also answer for a run still going or one that crashed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import sys
from typing import TYPE_CHECKING

from ..observe import digest
from ..records import RunTally, Status
from . import EXIT_ERROR, EXIT_OK, EXIT_STEPS_FAILED, add_folder

_PASSED = Status.PASSED  # a module name: `ezpipe status --all` asks 100,000 times
SHOW_TAIL = 50  # lines of captured output `ezpipe show` prints unless --all


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "show",
        help="the record, traceback and captured output of one step",
        description="Everything ezpipe knows about one step: its record (status, key, rank, "
        "host, pid, times, cache), the full traceback of a failure and the captured "
        "stdout/stderr. Exit code 0 when it passed, 1 when it failed or was skipped.",
    )
    add_folder(p)
    p.add_argument("step", metavar="STEP", help="the step's name (as in `ezpipe status`)")
    p.add_argument(
        "--tail",
        type=int,
        metavar="N",
        default=SHOW_TAIL,
        help=f"the last N lines of the captured output (default {SHOW_TAIL})",
    )
    p.add_argument("--all", action="store_true", help="every line of the captured output")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser(
        "summary",
        help="the summary table of the last run",
        description="The summary table of the last finished run in DIR. Exit code 0 when "
        "that run did what it was asked (every selected step passed), 1 otherwise.",
    )
    add_folder(p)
    p.add_argument(
        "-f",
        "--format",
        choices=("text", "csv", "json", "markdown"),
        default="text",
        help="output format (default: text)",
    )
    p.set_defaults(handler=cmd_summary)


if TYPE_CHECKING:
    from .. import folderview
    from ..records import StepRecord


# -- status -------------------------------------------------------------------------------------
def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def word(step: folderview.StepView) -> str:
    """PASS, FAIL, SKIP, NOT RUN, or CACHED when the latest run reused the result."""
    status = step.status
    return "CACHED" if step.cached and status is _PASSED else status.label


def _cached_word(step: folderview.StepView) -> str:
    return "?" if step.cached is None else ("yes" if step.cached else "no")


def _error(step: folderview.StepView) -> str:
    rec = step.record
    if step.status == Status.SKIPPED and (rec is None or rec.status != Status.SKIPPED):
        return (step.latest_error or "skipped in the latest run").removeprefix("skipped: ")
    if rec is None:
        return ""
    if rec.status == Status.SKIPPED:
        return f"upstream {rec.skipped_because!r} did not pass"
    return (rec.error_message or "").splitlines()[0][:80] if rec.error_message else ""


def run_line(view: folderview.FolderView) -> str:
    run = view.run
    if run is None:
        return f"Pipeline {view.pipeline!r} @ {view.store.root}: no run recorded"
    state = view.run_state()
    end = f", ended {_when(run.end)} after {digest.seconds(run.duration)}" if run.end else ""
    return (
        f"Pipeline {run.pipeline!r} @ {view.store.root}: latest run {state} (started "
        f"{_when(run.start)}{end}; {run.ranks} ranks on {', '.join(run.hosts) or '?'})"
    )


# -- show ---------------------------------------------------------------------------------------
def cmd_show(args: argparse.Namespace) -> int:
    from .. import folderview

    view = folderview.load(args.folder, records=False)  # one step's record is shown
    view.read_outcomes()
    step = view.by_name.get(args.step)
    record: StepRecord | None = None
    note = ""
    if step is not None:
        view.read_records([step])
        record = step.record
    else:
        older = view.store.records_of(args.step)
        if not older:
            close = difflib.get_close_matches(args.step, list(view.by_name), n=5)
            close += [n for n in view.by_name if args.step in n and n not in close]
            hint = f"; did you mean {', '.join(map(repr, close[:5]))}?" if close else ""
            print(f"ezpipe show: no step {args.step!r} in {view.store.root}{hint}", file=sys.stderr)
            return EXIT_ERROR
        record = older[0]
        note = "(not in the current schema: showing the newest stored record of that name)"
    if args.json:
        print(json.dumps(None if record is None else record.model_dump(mode="json"), indent=1))
    else:
        _print_step(view, args.step, step, record, note, None if args.all else args.tail)
    if record is not None and record.status == Status.PASSED:
        return EXIT_OK
    return EXIT_STEPS_FAILED


def _print_step(
    view: folderview.FolderView,
    name: str,
    step: folderview.StepView | None,
    record: StepRecord | None,
    note: str,
    tail: int | None,
) -> None:
    print(f"step {name}  {note}".rstrip())
    if step is not None:
        print(f"  function    {step.function}")
        print(f"  phase       {step.phase}")
        print(f"  depends on  {', '.join(step.depends_on) or '-'}")
        print(f"  key         {step.key}")
    if record is None:
        print("  status      NOT RUN (no record for this definition yet: pending or never run)")
        return
    print(f"  status      {record.status.label}")
    if step is not None and step.status != record.status:
        latest = f"{step.status.label}: {_error(step)}"
        print(f"  latest run  {latest} (the record is from an earlier run)")
    if record.status == Status.SKIPPED:
        print(f"  skipped     upstream step {record.skipped_because!r} did not pass")
        print(f"              see: ezpipe show {view.store.root} {record.skipped_because}")
        return
    print(f"  rank        {record.rank} on {record.host} (pid {record.pid})")
    print(f"  started     {_when(record.start)}")
    print(f"  ended       {_when(record.end)}")
    print(f"  duration    {digest.seconds(record.duration)}")
    if step is not None:
        print(f"  from cache  {_cached_word(step)} (in the latest run)")
    if record.result_path:
        print(f"  result      {view.resolve(record.result_path)} ({record.result_bytes} bytes)")
    print(f"  record      {view.store.record_path(record.name, record.key)}")
    if record.error_message:
        print(f"  error       {record.error_message}")
    _print_output(view.resolve(record.log_path), tail)
    if record.traceback:  # last, so a long output never scrolls it away
        print("\n-- traceback " + "-" * 60)
        print(record.traceback.rstrip())


def _print_output(log_path: str | None, tail: int | None) -> None:
    print("\n-- captured output (stdout and stderr) " + "-" * 34)
    if log_path is None:
        print("(the step printed nothing)")
        return
    try:
        text = open(log_path, encoding="utf-8", errors="replace").read()  # noqa: SIM115
    except OSError as exc:
        print(f"(cannot read {log_path}: {exc})")
        return
    lines = text.splitlines()
    if tail is not None and len(lines) > tail:
        print(f"... {len(lines) - tail} earlier lines not shown (--all shows every line)")
        lines = lines[-tail:]
    print("\n".join(lines))
    print(f"({log_path})")


# -- summary ------------------------------------------------------------------------------------
def cmd_summary(args: argparse.Namespace) -> int:
    from pathlib import Path

    root = Path(args.folder).absolute()
    path = root / "pipeline.summary.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(
            f"ezpipe summary: no summary in {root} (has a run finished there? "
            "`ezpipe status` also reads an unfinished run)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    tally = digest.tally_of(rows)
    try:
        run = json.loads((root / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        run = None
    if isinstance(run, dict) and run.get("verdict") and run.get("end") is not None:
        recorded = RunTally.from_dict(run["verdict"])
        if recorded.total == len(rows):
            tally = recorded
    if args.format == "csv":
        sys.stdout.write(digest.csv_text(rows))
    elif args.format == "json":
        print(json.dumps(rows, indent=1))
    elif args.format == "markdown":
        print(digest.markdown(rows))
    else:
        print(digest.digest(rows, tally.headline(str(root)), str(root)))
        print(digest.table(rows))
    return tally.exit_code
