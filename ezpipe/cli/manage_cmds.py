"""``ezpipe clean``: delete stored results, after a confirmation (or ``--yes``)."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import LockedError
from ..records import Status
from . import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_USAGE, add_folder


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "clean",
        help="delete stored results (all, some steps, or failed ones), after confirmation",
        description="Delete results and records from DIR so that the next run recomputes "
        "them. Without STEP: every step's results, the summary and run.json (the schema is "
        "kept). With STEP: those steps' results, for every stored definition, and the "
        "last run's summary (which described them; the command says so). --failed: the "
        "steps that failed or were skipped, as `ezpipe status --failed` lists them. Asks "
        "for confirmation unless --yes; exit code 4 when cancelled.",
    )
    add_folder(p)
    p.add_argument("steps", nargs="*", metavar="STEP", help="steps to clean (default: all)")
    p.add_argument("--downstream", action="store_true", help="also every step that depends on STEP")
    p.add_argument("--failed", action="store_true", help="the steps that failed or were skipped")
    p.add_argument(
        "--stale",
        action="store_true",
        help="the results of definitions that are not in the current schema (older versions of "
        "steps, steps that were removed); the current ones are kept",
    )
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for a run on the folder to end (default: fail at once)",
    )
    p.set_defaults(handler=cmd_clean)

    p = sub.add_parser(
        "compact",
        help="reclaim the space of cleaned and replaced entries of a packed folder",
        description="Rewrites the live entries of DIR's pack files into new ones and removes "
        "the old files (safe against readers: they keep reading what they opened). Takes the "
        "folder lock. A folder in the per-step layout has nothing to compact.",
    )
    add_folder(p)
    p.set_defaults(handler=cmd_compact)

    p = sub.add_parser(
        "migrate",
        help="convert a folder between the per-step layout and the packed store",
        description="Copies every entry of DIR into the other layout (default: packed), "
        "checking each against its checksum, then removes the old files. Takes the folder lock.",
    )
    add_folder(p)
    p.add_argument("--to", choices=("packed", "folder"), default="packed")
    p.set_defaults(handler=cmd_migrate)


if TYPE_CHECKING:
    from .. import folderview
    from ..store import Store


def cmd_clean(args: argparse.Namespace) -> int:
    from .. import folderview
    from ..lock import FolderLock

    view = folderview.load(args.folder, records=False)  # statuses: no record is shown
    if args.failed:
        view.read_outcomes()  # what the latest run failed or skipped
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
        return _clean_stale(view, args) if args.stale else _clean(view, args)
    finally:
        lock.release()


def _clean_stale(view: folderview.FolderView, args: argparse.Namespace) -> int:
    current = {(s.name, s.key) for s in view.steps}
    stale = [(name, key) for name, key in view.store.entries() if (name, key) not in current]
    if not stale:
        print("ezpipe clean: nothing stale: every stored result belongs to the current schema")
        return EXIT_OK
    names = sorted({name for name, _ in stale})
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    what = f"{len(stale)} results of earlier definitions ({shown}) in {view.store.root}"
    if not args.yes and not _confirm(f"delete {what}?"):
        print("ezpipe clean: cancelled, nothing deleted", file=sys.stderr)
        return EXIT_CANCELLED
    removed = sum(view.store.clear(name, key) for name, key in stale)
    view.store.compact()
    print(f"deleted {removed} results of earlier definitions; the current ones are kept")
    return EXIT_OK


def _maintain(folder: str, command: str, action: Callable[[Store], str]) -> int:
    """Run ``action`` on the folder's store with the folder lock held; print what it says."""
    from ..lock import FolderLock
    from ..store import Store

    store = Store(folder)
    lock = FolderLock(store.root)
    try:
        lock.acquire()
    except LockedError as exc:
        print(f"ezpipe {command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        print(f"ezpipe {command}: {action(store)}")
    finally:
        lock.release()
    return EXIT_OK


def cmd_compact(args: argparse.Namespace) -> int:
    return _maintain(args.folder, "compact", lambda store: str(store.compact()))


def cmd_migrate(args: argparse.Namespace) -> int:
    return _maintain(
        args.folder,
        "migrate",
        lambda store: f"{store.migrate(to=args.to)} entries now in the {args.to} layout",
    )


def _clean(view: folderview.FolderView, args: argparse.Namespace) -> int:
    names = list(args.steps)
    if args.failed:
        names += [s.name for s in view.steps if s.status in (Status.FAILED, Status.SKIPPED)]
    stored = {name for name, _ in view.store.entries()}
    unknown = [n for n in names if n not in view.by_name and n not in stored]
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
        shutil.rmtree(store.paths.steps)
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
    print(f"deleted the results of {removed} steps")
    if removed and store.summary_json_path.exists():  # it described results that are gone
        store.summary_path.unlink(missing_ok=True)
        store.summary_json_path.unlink(missing_ok=True)
        print(
            f"deleted {store.summary_path.name} (the last run's summary described them); "
            "the next run writes a new one"
        )
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
