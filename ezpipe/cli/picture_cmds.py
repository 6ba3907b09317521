"""``ezpipe graph`` and ``ezpipe timeline``: pictures of a pipeline folder."""

from __future__ import annotations

import argparse
import sys

from . import EXIT_OK, EXIT_USAGE, add_folder


def _format_ok(command: str, output: str) -> bool:
    """Check the picture's suffix before reading the folder; a usage error (exit 2) if not."""
    from ..observe.pictures import PictureFormatError, picture_format

    try:
        picture_format(output)
    except PictureFormatError as exc:
        print(f"ezpipe {command}: error: {exc}", file=sys.stderr)
        return False
    return True


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "graph",
        help="draw the DAG, grouped by phase, coloured by status",
        description="Draw the pipeline's steps as a graph: one column per phase, an arrow "
        "per dependency, each step coloured by status (pass, fail, skip, not run); steps "
        "taken from the cache in the latest run are circled; beyond 40 steps, one box per "
        "function and phase (`mc_volume ×200, 3 FAIL`). The format follows the suffix of "
        "-o: png, svg or pdf (another suffix is a usage error, exit 2).",
    )
    add_folder(p)
    p.add_argument("-o", "--output", default="dag.png", help="the picture (default dag.png)")
    p.set_defaults(handler=cmd_graph)

    p = sub.add_parser(
        "timeline",
        help="draw a Gantt chart of steps per rank over time (idle ranks show as gaps)",
        description="Draw one row per MPI rank and one bar per step computed in the latest "
        "run, from its start to its end, coloured by status; each row says how busy that "
        "rank was. The format follows the suffix of -o: png, svg or pdf.",
    )
    add_folder(p)
    p.add_argument(
        "-o", "--output", default="timeline.png", help="the picture (default timeline.png)"
    )
    p.add_argument(
        "--all", action="store_true", help="every stored record, not only the latest run's"
    )
    p.set_defaults(handler=cmd_timeline)


def cmd_graph(args: argparse.Namespace) -> int:
    from .. import folderview
    from ..observe.pictures import draw_graph

    if not _format_ok("graph", args.output):
        return EXIT_USAGE
    view = folderview.load(args.folder)
    print(f"wrote {draw_graph(view, args.output)} ({len(view.steps)} steps)")
    return EXIT_OK


def cmd_timeline(args: argparse.Namespace) -> int:
    from .. import folderview
    from ..observe.pictures import draw_timeline, timeline_steps

    if not _format_ok("timeline", args.output):
        return EXIT_USAGE
    view = folderview.load(args.folder)
    steps, _ = timeline_steps(view, args.all)
    print(f"wrote {draw_timeline(view, args.output, all_runs=args.all)} ({len(steps)} steps)")
    return EXIT_OK
