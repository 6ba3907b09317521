"""``ezpipe why DIR STEP``: what changed in a step since its nearest stored definition."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from . import EXIT_ERROR, EXIT_OK, add_folder


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "why",
        help="why a step ran (or runs) again: what changed since its nearest stored definition",
        description="Compares the definition of STEP that DIR last ran (its pipeline.schema) "
        "with the other definitions of it stored in DIR, and names what differs from the "
        "nearest one: arguments, the source of functions (with line numbers), globals, "
        "helpers, decorators, upstream steps, version. For code edited since, "
        "`ezpipe run SCRIPT --dry-run` gives the same reasons. Exit code 0.",
    )
    add_folder(p)
    p.add_argument("step", metavar="STEP", help="the step's name (as in `ezpipe status`)")
    p.set_defaults(handler=cmd_why)


def cmd_why(args: argparse.Namespace) -> int:
    from .. import folderview, why
    from ..keys import expand_manifest

    view = folderview.load(args.folder, records=False)  # its schema; the records of one step
    entry = next(
        (
            e
            for group in view.schema.get("phases", {}).values()
            for e in group
            if e["name"] == args.step
        ),
        None,
    )
    if entry is None:
        import difflib

        close = difflib.get_close_matches(args.step, list(view.by_name), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        print(f"ezpipe why: no step {args.step!r} in {view.store.root}{hint}", file=sys.stderr)
        return EXIT_ERROR
    current = expand_manifest(entry, view.schema.get("sources", {}))
    records = view.store.records_of(args.step)
    own = next((r for r in records if r.key == current["key"]), None)
    earlier, reasons = why.nearest(current, records)
    if own is not None:
        when = dt.datetime.fromtimestamp(own.end or own.start or 0).strftime("%Y-%m-%d %H:%M")
        print(f"{args.step}: its current definition has a {own.status.label} record ({when})")
    else:
        print(f"{args.step}: its current definition has no record: the next run computes it")
    if earlier is None:
        print("  no earlier definition is stored")
        return EXIT_OK
    print(f"  against the nearest earlier definition ({earlier.key[:16]}):")
    for reason in reasons or ["unchanged"]:
        print(f"    {reason}")
    return EXIT_OK
