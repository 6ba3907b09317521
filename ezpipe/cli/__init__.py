"""The ``ezpipe`` command: one sub-module per group of sub-commands.

Each sub-module has ``register(subparsers)`` that adds its commands and sets
``handler`` (a function of the parsed arguments returning an exit code).

Exit codes: 0 everything passed, 1 steps failed or were skipped, 2 usage error
(argparse's own), 3 ezpipe could not do what was asked (missing folder, a
script that crashed, ...), 4 cancelled at a confirmation prompt.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence

from ..errors import EXIT_CTRL_C, EzpipeError

EXIT_OK = 0
EXIT_STEPS_FAILED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_CANCELLED = 4
# Commands that only read a folder (and print): run with the garbage collector off.
READ_ONLY = frozenset({"status", "show", "summary", "why", "graph", "timeline", "report"})

EPILOG = (
    "exit codes: 0 every step passed, 1 steps failed or were skipped, 2 usage error, "
    "3 ezpipe could not do what was asked (no such folder, the script crashed), "
    "4 cancelled at a prompt. `ezpipe COMMAND --help` describes each command."
)


def _modules() -> list:  # imported lazily: `ezpipe --help` must not import MPI
    from . import (
        config_cmds,
        inspect_cmds,
        manage_cmds,
        picture_cmds,
        report_cmd,
        run_cmd,
        slurm_cmd,
        status_cmd,
        why_cmd,
    )

    return [
        run_cmd,
        status_cmd,
        inspect_cmds,
        why_cmd,
        manage_cmds,
        picture_cmds,
        report_cmd,
        slurm_cmd,
        config_cmds,
    ]


def add_folder(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="DIR", help="the pipeline folder")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ezpipe", description="Run and inspect ezpipe pipelines.", epilog=EPILOG
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _modules():
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if argv[:1] == ["run"] and "--" in argv:  # `ezpipe run SCRIPT -n 4 -- ARGS`: to the script
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and (not hasattr(args, "script_args") or unknown[0].startswith("-")):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if hasattr(args, "script_args"):  # `ezpipe run SCRIPT -n 4 ARG` works as well as `-- ARG`
        args.script_args = unknown + extra
    if args.command in READ_ONLY:  # a short process building 100,000s of acyclic objects:
        gc.disable()  # collections would scan them again and again (a third of `status`)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print(f"ezpipe {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_CTRL_C
    except BrokenPipeError:  # `ezpipe status DIR | head`: the reader left, not an error
        sys.stderr.close()
        return EXIT_OK
    except EzpipeError as exc:
        print(f"ezpipe {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except FileNotFoundError as exc:
        print(f"ezpipe {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
