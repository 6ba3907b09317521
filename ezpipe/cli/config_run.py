"""The built-in runner of study files: ``python -m ezpipe.cli.config_run study.yaml``.

``ezpipe run study.yaml -n 4`` starts this under mpiexec: every rank reads,
patches (``-o PATH=VALUE``) and validates the study the same way, so an
invalid file ends every rank with status 2 before anything runs, and rank 0
alone prints the problems (one line per path). Otherwise the pipeline is
executed as a script's ``pipeline.execute()`` would be, with the options
``ezpipe run`` passes through the environment.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence

from ..errors import ConfigError
from ..options import env
from ..pipeline import Pipeline

EXIT_INVALID = 2
EXIT_ORPHANED = 137
ENV_LAUNCHER = "EZPIPE_LAUNCHER_PID"  # set by `ezpipe run` (see run_cmd)
_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")


def launcher_rank() -> int:
    """This process's rank as the launcher tells it, without starting MPI (which a
    study that does not validate must never do: nothing would end it cleanly)."""
    for name in _RANK_VARIABLES:
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 0


def watch_launcher(poll: float = 0.5) -> threading.Thread | None:
    """End this rank when the ``ezpipe run`` that started it is gone (killed).

    mpiexec runs in a session of its own (so that Ctrl-C reaches every rank), so
    killing ``ezpipe run`` alone would leave the ranks computing, holding the
    folder lock and committing output folders nobody waits for.
    """
    pid = env(ENV_LAUNCHER)
    if pid is None or pid == os.getpid():
        return None

    def watch() -> None:
        while True:
            time.sleep(poll)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                print(
                    f"ezpipe: the launcher (ezpipe run, pid {pid}) is gone: ending this rank",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(EXIT_ORPHANED)
            except PermissionError:
                pass  # alive (under another user: the pid was reused; keep going)

    thread = threading.Thread(target=watch, name="ezpipe-launcher-watch", daemon=True)
    thread.start()
    return thread


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ezpipe.cli.config_run", description="Run a study file (YAML or JSON)."
    )
    p.add_argument("study", help="the study file")
    p.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="set a value of the study (read as YAML), e.g. steps.scale.coeff=3; repeatable",
    )
    p.add_argument("--folder", help="the pipeline folder (default: the study's `folder`)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    watch_launcher()
    try:
        pipeline = Pipeline.from_config(args.study, folder=args.folder, overrides=args.override)
    except ConfigError as exc:
        if launcher_rank() == 0:
            lines = str(exc).replace("\n", "\n  ")
            print(f"ezpipe: invalid study {args.study}:\n  {lines}", file=sys.stderr)
        return EXIT_INVALID
    pipeline.execute()
    return 0


if __name__ == "__main__":
    sys.exit(main())
