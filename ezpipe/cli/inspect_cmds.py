"""Commands that read a pipeline folder: ``summary`` (more to come)."""

from __future__ import annotations

import argparse
import sys

from .. import summary as summary_mod
from ..store import Store


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("summary", help="print the summary table of the last run in DIR")
    p.add_argument("folder", metavar="DIR", help="the pipeline folder")
    p.set_defaults(handler=cmd_summary)


def cmd_summary(args: argparse.Namespace) -> int:
    store = Store(args.folder)
    if not store.summary_json_path.exists():
        print(f"no summary in {store.root} (has the pipeline run?)", file=sys.stderr)
        return 3
    frame = summary_mod.read(store)
    print(summary_mod.headline(frame, str(store.root)))
    print(summary_mod.render(frame, str(store.root)))
    return 0 if summary_mod.passed(frame) else 1
