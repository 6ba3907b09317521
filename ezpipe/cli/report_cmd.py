"""``ezpipe report DIR -o report.html``: one self-contained HTML page about a folder."""

from __future__ import annotations

import argparse

from . import EXIT_OK, add_folder


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "report",
        help="write one self-contained HTML page: failures, a sortable table, the pictures",
        description="Write an HTML report of the pipeline in DIR: the headline, every "
        "failure with its traceback and the tail of its log, a table of every step "
        "(click a column to sort; filter by text and status), the DAG and the timeline "
        "per rank. One file with everything inline: it opens without network access.",
    )
    add_folder(p)
    p.add_argument(
        "-o", "--output", default="report.html", help="the page to write (default report.html)"
    )
    p.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from .. import folderview
    from ..observe import report

    view = folderview.load(args.folder)
    path = report.write(view, args.output)
    print(f"wrote {path} ({len(view.steps)} steps)")
    return EXIT_OK
