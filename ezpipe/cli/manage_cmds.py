"""``ezpipe clean``: delete stored results, after a confirmation (or ``--yes``)."""

from __future__ import annotations

import argparse
import shutil
import sys

from .. import folderview
from ..errors import LockedError
from ..lock import FolderLock
from ..records import Status
from ..store import STEPS_DIR
from . import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_USAGE, add_folder


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "clean",
        help="delete stored results (all, some steps, or failed ones), after confirmation",
        description="Delete results and records from DIR so that the next run recomputes "
        "them. Without STEP: every step's results, the summary and run.json (the schema is "
        "kept). With STEP: those steps' results, for every stored definition. Asks for "
        "confirmation unless --yes; exit code 4 when cancelled.",
    )
    add_folder(p)
    p.add_argument("steps", nargs="*", metavar="STEP", help="steps to clean (default: all)")
    p.add_argument("--downstream", action="store_true", help="also every step that depends on STEP")
    p.add_argument("--failed", action="store_true", help="the steps that failed or were skipped")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for a run on the folder to end (default: fail at once)",
    )
    p.set_defaults(handler=cmd_clean)


def cmd_clean(args: argparse.Namespace) -> int:
    view = folderview.load(args.folder)
    if not args.lock_timeout >= 0:
        print("ezpipe clean: error: --lock-timeout must be >= 0 seconds", file=sys.stderr)
        return EXIT_USAGE
    lock = FolderLock(view.store.root, timeout=args.lock_timeout)
    try:
        lock.acquire()  # a run anywhere (another host too) holds it while it writes
    except LockedError as exc:
        print(f"ezpipe clean: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        return _clean(view, args)
    finally:
        lock.release()


def _clean(view: folderview.FolderView, args: argparse.Namespace) -> int:
    names = list(args.steps)
    if args.failed:
        names += [s.name for s in view.steps if s.status in (Status.FAILED, Status.SKIPPED)]
    unknown = [n for n in names if n not in view.by_name and not view.store.step_root(n).exists()]
    if unknown:
        print(f"ezpipe clean: error: no step named {', '.join(unknown)}", file=sys.stderr)
        return EXIT_ERROR
    everything = not args.steps and not args.failed
    if args.downstream:
        names = view.downstream(names)
    if everything:
        what = f"every result in {view.store.root}"
    elif not names:
        print("ezpipe clean: nothing to delete")
        return EXIT_OK
    else:
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        what = f"the results of {len(names)} steps ({shown}) in {view.store.root}"
    if not args.yes and not _confirm(f"delete {what}?"):
        print("ezpipe clean: cancelled, nothing deleted", file=sys.stderr)
        return EXIT_CANCELLED
    store = view.store
    if everything:
        shutil.rmtree(store.root / STEPS_DIR)
        for path in (
            store.summary_path,
            store.summary_json_path,
            store.run_path,
            store.dry_run_path,
        ):
            path.unlink(missing_ok=True)
        print(f"deleted {what}")
        return EXIT_OK
    removed = sum(store.clear(name) for name in names)
    if removed:
        store.summary_path.unlink(missing_ok=True)  # it described results that are gone
        store.summary_json_path.unlink(missing_ok=True)
    print(f"deleted the results of {removed} steps")
    return EXIT_OK


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        print(f"ezpipe clean: would {question[:-1]}; not a terminal, pass --yes", file=sys.stderr)
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
