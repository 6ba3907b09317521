"""``ezpipe status DIR``: where every step of a pipeline folder stands.

Up to :data:`LISTED` steps it prints one line per step. A larger folder gets
what a person reads at 100,000 steps: the counts per phase, every failure, the
skips grouped by their cause, and how to list the rest (``--all``, a filter or
``--json``). That digest takes each passed step's status from the store's index
(as docs/store.md says, not re-verified) and what the latest run failed or
skipped from ``run.json``; it reads the records of those steps alone, so it
answers in under a second at 100,000 steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ..observe import digest
from ..records import Status
from . import add_folder
from .inspect_cmds import _cached_word, _error, run_line, word

if TYPE_CHECKING:
    from .. import folderview

STATUS_WORDS = {
    "pass": Status.PASSED,
    "passed": Status.PASSED,
    "fail": Status.FAILED,
    "failed": Status.FAILED,
    "skip": Status.SKIPPED,
    "skipped": Status.SKIPPED,
    "not-run": Status.NOT_RUN,
    "pending": Status.NOT_RUN,
}
LISTED = 1_000  # steps listed one by one without --all
PHASES_SHOWN = 20  # a digest lists its phases when there are at most this many


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "status",
        help="one line per step: status, rank, duration, cache hit; totals",
        description="One line per step of the pipeline in DIR (its current definition): "
        "status, rank, host, duration, whether it came from the cache in the latest run, "
        f"and the error. Above {LISTED:,} steps: the counts per phase, the failures and the "
        "skips by cause instead (--all lists every step). Works during a run and after a "
        "crash. Exit code 0 when the latest run did what it was asked (every selected step "
        "passed), 1 otherwise.",
    )
    add_folder(p)
    p.add_argument(
        "-s",
        "--status",
        action="append",
        choices=sorted(STATUS_WORDS),
        metavar="STATUS",
        help="only steps with this status (pass, fail, skip, not-run); repeatable",
    )
    p.add_argument(
        "--failed",
        action="store_true",
        help="the steps that did not pass: failed and skipped (what `clean --failed` deletes); "
        "--status fail for the failed ones only",
    )
    p.add_argument("--phase", type=int, help="only steps of this phase")
    p.add_argument("--all", action="store_true", help=f"list every step, also above {LISTED:,}")
    p.add_argument("--json", action="store_true", help="print the lines as JSON")
    p.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from .. import folderview

    view = folderview.load(args.folder, records=False)
    tally = view.tally()
    wanted = {STATUS_WORDS[s] for s in args.status or ()}
    if args.failed:  # as in `ezpipe clean --failed`: what a retry would recompute
        wanted |= {Status.FAILED, Status.SKIPPED}
    filtered = bool(wanted) or args.phase is not None
    listing = args.all or args.json or filtered or len(view.steps) <= LISTED
    if listing:  # every record (rank, host, duration) and the latest run's outcomes
        view.read_records(view.steps)
        view.read_outcomes()
    elif not view.read_not_passed() and (tally.failed or tally.skipped or tally.interrupted):
        view.read_outcomes()  # a run that did not list what did not pass: its summary
    tally = view.tally()
    shown = [
        s
        for s in view.steps
        if (not wanted or s.status in wanted) and (args.phase is None or s.phase == args.phase)
    ]
    if args.json:
        print(json.dumps([_status_row(s) for s in shown], indent=1))
        return tally.exit_code
    print(run_line(view))
    if view.run_state() != "finished" and view.run is not None:
        print(
            "  (no summary of this run yet: 'cached' is unknown; steps without a record "
            "are pending or running)"
        )
    if listing:
        _print_table(shown)
    else:
        _print_digest(view)
    print(tally.headline(str(view.store.root)) + (f" ({len(shown)} shown)" if wanted else ""))
    first = next((s for s in view.steps if s.status == Status.FAILED), None)
    if first is not None:
        print(f"see a failure: ezpipe show {view.store.root} {first.name}")
    if not listing:
        print(
            f"{len(view.steps):,} steps: --all lists every one; --failed, --status STATUS or "
            "--phase N lists some"
        )
    return tally.exit_code


def _status_row(step: folderview.StepView) -> dict[str, Any]:
    rec = step.record
    return {
        "name": step.name,
        "phase": step.phase,
        "status": word(step),
        "rank": None if rec is None else rec.rank,
        "host": None if rec is None else rec.host,
        "duration": None if rec is None else rec.duration,
        "cached": step.cached,
        "error": _error(step) or None,
    }


def _print_table(steps: list[folderview.StepView]) -> None:
    header = ("step", "phase", "status", "rank", "host", "duration", "cached", "error")
    rows = [
        (
            s.name,
            str(s.phase),
            word(s),
            "-" if s.record is None or s.record.rank is None else str(s.record.rank),
            "-" if s.record is None or not s.record.host else s.record.host,
            digest.seconds(None if s.record is None else s.record.duration),
            _cached_word(s),
            _error(s),
        )
        for s in steps
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    sys.stdout.write("\n".join(lines) + "\n")  # one write: 100,000 prints cost seconds


COUNTED = ("PASS", "FAIL", "SKIP", "NOT RUN")  # cached ones are in PASS (the headline counts them)


def _print_digest(view: folderview.FolderView) -> None:
    """Counts per phase, then the failures and the skips by cause (the end-of-run digest's)."""
    per_phase: dict[int, dict[str, int]] = {}
    for step in view.steps:
        counts = per_phase.setdefault(step.phase, dict.fromkeys(COUNTED, 0))
        counts[step.status.label] += 1
    if len(per_phase) <= PHASES_SHOWN:
        print(f"{'phase':>5}  {'steps':>9}" + "".join(f"  {w:>9}" for w in COUNTED))
        for phase, counts in sorted(per_phase.items()):
            cells = "".join(f"  {counts[w]:>9,}" for w in COUNTED)
            print(f"{phase:>5}  {sum(counts.values()):>9,}{cells}")
    else:
        print(f"{len(view.steps):,} steps in {len(per_phase):,} phases")
    rows = [
        {
            "name": s.name,
            "status": int(s.status),
            "rank": None if s.record is None else s.record.rank,
            "cached": s.cached,
            "error": s.latest_error or _error(s),  # a skip's reads "skipped: upstream 'x' ..."
            "skipped_because": None if s.record is None else s.record.skipped_because,
        }
        for s in view.steps
        if s.status in (Status.FAILED, Status.SKIPPED)
    ]
    for part in (digest.failures(rows, str(view.store.root)), digest.skips(rows)):
        if part:
            print("\n".join(part))
