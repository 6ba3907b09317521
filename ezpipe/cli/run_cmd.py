"""``ezpipe run SCRIPT -n N``: start a pipeline script under mpiexec (or in-process for -n 1).

The script's own ``pipeline.execute()`` call receives the options through the
environment (see :mod:`ezpipe.options`), and tells this command through a small
report file whether every step passed, which sets the exit code.
"""

from __future__ import annotations

import argparse
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import EXIT_CTRL_C, LockedError
from ..options import env, steering_environment
from ..records import Mode
from . import EXIT_ERROR, EXIT_OK, EXIT_STEPS_FAILED, EXIT_USAGE

ENV_MPIEXEC = "EZPIPE_MPIEXEC"
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
CONFIG_RUNNER = "ezpipe.cli.config_run"  # runs a study file (see ezpipe.config.study)
ENV_LAUNCHER = "EZPIPE_LAUNCHER_PID"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run",
        help="run a pipeline script on N ranks (mpiexec), or in-process for -n 1",
        description="Run SCRIPT (a Python file that defines a pipeline and calls "
        "pipeline.execute()) on N MPI ranks. Arguments after `--` go to the script. The "
        "options below override those of the script's execute() call. Exit code 0 when "
        "every step passed, 1 when steps failed or were skipped, 3 when the script itself "
        "failed. Usage: ezpipe run SCRIPT [options] [-- SCRIPT_ARGS].",
        epilog="example: ezpipe run pipeline.py -n 4 --run-only 'solve_k[35]' -- /scratch/run1",
    )
    p.add_argument(
        "script", metavar="SCRIPT", help="the pipeline script, or a study file (.yaml/.json)"
    )
    p.add_argument(
        "-o",
        "--override",
        action="append",
        metavar="PATH=VALUE",
        help="study files: set a value (read as YAML), e.g. steps.scale.coeff=3; repeatable",
    )
    p.add_argument("-n", "--np", type=int, default=1, metavar="N", help="MPI ranks (default 1)")
    p.add_argument("--dry-run", action="store_true", help="list what would run; run nothing")
    p.add_argument(
        "--run-only",
        action="append",
        metavar="RE",
        help="run steps whose name matches RE (re.search) and their dependencies; repeatable",
    )
    p.add_argument(
        "--from-step",
        action="append",
        metavar="NAME",
        help="recompute this step and everything downstream of it; repeatable",
    )
    p.add_argument(
        "--max-concurrent", type=int, metavar="K", help="at most K steps running at once"
    )
    p.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        help="cache mode of the run (retry: recompute what failed last time)",
    )
    p.add_argument(
        "--no-tee",
        action="store_true",
        help="steps' output goes to their log files only, not to the job output",
    )
    p.add_argument(
        "--lock-timeout",
        type=float,
        metavar="SECONDS",
        help="wait up to SECONDS for another run on the same folder to end (default: fail at once)",
    )
    p.add_argument(
        "--accept",
        action="append",
        metavar="FUNCTION",
        help="keep stored results of steps whose definitions differ only in this function's "
        "code (a fix that changes no result), and of their dependents; repeatable",
    )
    p.add_argument(
        "--accept-scheme",
        action="store_true",
        help="adopt results computed by an ezpipe with key scheme v1 where v1 saw the "
        "whole definition",
    )
    level = p.add_mutually_exclusive_group()
    level.add_argument(
        "-q",
        "--quiet",
        dest="console",
        action="store_const",
        const="quiet",
        help="print the progress report and failures only (EZPIPE_CONSOLE=quiet)",
    )
    level.add_argument(
        "-v",
        "--verbose",
        dest="console",
        action="store_const",
        const="verbose",
        help="also print which rank runs what and each step's duration",
    )
    p.add_argument(
        "--mpiexec",
        metavar="PATH",
        help=f"the MPI launcher (default: ${ENV_MPIEXEC}, else the one beside this Python, "
        "else mpiexec on PATH)",
    )
    p.set_defaults(handler=cmd_run, script_args=[])


def find_mpiexec(explicit: str | None) -> str | None:
    candidates = [explicit, env(ENV_MPIEXEC)]
    for candidate in candidates:
        if candidate:
            return shutil.which(candidate) or (candidate if Path(candidate).exists() else None)
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    return shutil.which("mpiexec")


def cmd_run(args: argparse.Namespace) -> int:
    script = Path(args.script)
    if not script.is_file():
        print(f"ezpipe run: error: no such script: {script}", file=sys.stderr)
        return EXIT_USAGE
    if args.np < 1 or (args.max_concurrent is not None and args.max_concurrent < 1):
        print("ezpipe run: error: -n and --max-concurrent must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if args.lock_timeout is not None and not args.lock_timeout >= 0:
        print("ezpipe run: error: --lock-timeout must be >= 0 seconds", file=sys.stderr)
        return EXIT_USAGE
    study = script.suffix.lower() in CONFIG_SUFFIXES
    if args.override and not study:
        print("ezpipe run: error: -o/--override is for study files (.yaml/.json)", file=sys.stderr)
        return EXIT_USAGE
    if study:  # the built-in runner reads the study; its arguments come first
        overrides = [arg for value in args.override or () for arg in ("-o", value)]
        args.script_args = [str(script), *overrides, *args.script_args]
    # the ranks' own stderr is a pipe under mpiexec: a terminal here still gets the bar
    bar = sys.stderr.isatty() and env("EZPIPE_PROGRESS") is None
    variables = steering_environment(
        dry_run=args.dry_run,
        run_only=args.run_only,
        from_step=args.from_step,
        max_concurrent=args.max_concurrent,
        mode=args.mode,
        tee_output=False if args.no_tee else None,
        progress="bar" if bar else None,
        console=args.console,
        accept=args.accept,
        accept_scheme=args.accept_scheme,
        lock_timeout=args.lock_timeout,
    )
    if bar and "COLUMNS" not in os.environ:  # the ranks' stderr is a pipe: tell tqdm the width
        variables["COLUMNS"] = str(shutil.get_terminal_size().columns)
    with tempfile.TemporaryDirectory(prefix="ezpipe-run-") as tmp:
        variables["EZPIPE_RUN_REPORT"] = os.path.join(tmp, "notes.jsonl")
        variables[ENV_LAUNCHER] = str(os.getpid())  # the study runner's ranks watch it
        if args.np == 1:
            code = _run_in_process(script, args.script_args, variables, module=study)
        else:
            mpiexec = find_mpiexec(args.mpiexec)
            if mpiexec is None:
                print(
                    "ezpipe run: error: no mpiexec found; pip install mpich (or mpi4py's MPI), "
                    "pass --mpiexec, or use -n 1",
                    file=sys.stderr,
                )
                return EXIT_ERROR
            target = ["-m", CONFIG_RUNNER] if study else [str(script)]
            command = [mpiexec, "-n", str(args.np), sys.executable, *target, *args.script_args]
            code = _run_subprocess(command, variables)
        from .. import runlog

        notes = runlog.read_notes(variables["EZPIPE_RUN_REPORT"])
    return _exit_code(code, notes)


def _exit_code(code: int, notes: list[dict[str, object]]) -> int:
    if code in (EXIT_CTRL_C, -signal.SIGINT):  # the script said so already when it could
        if code != EXIT_CTRL_C:
            print("ezpipe run: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_CTRL_C
    if code != 0:
        print(f"ezpipe run: the script exited with status {code}", file=sys.stderr)
        return EXIT_ERROR
    if not notes:
        print("ezpipe run: error: the script ran no pipeline (no execute() call)", file=sys.stderr)
        return EXIT_ERROR
    failed = [n["folder"] for n in notes if not n.get("passed")]
    if failed:
        for folder in failed:
            print(
                f"ezpipe run: steps failed or were skipped in {folder}; "
                f"see: ezpipe status {folder} --failed",
                file=sys.stderr,
            )
        return EXIT_STEPS_FAILED
    return EXIT_OK


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_in_process(
    script: Path, script_args: list[str], variables: dict[str, str], *, module: bool = False
) -> int:
    """One rank: run the script here, as ``python SCRIPT ARGS`` would, without MPI
    (``module``: the study runner, as ``python -m ezpipe.cli.config_run ARGS``)."""
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *script_args]
    sys.path.insert(0, str(script.parent.absolute()))
    try:
        with _environment({**variables, "EZPIPE_MPI": "0"}):
            if module:
                runpy.run_module(CONFIG_RUNNER, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        return EXIT_CTRL_C
    except LockedError as exc:  # another run holds the folder: one line, not a traceback
        print(f"ezpipe run: error: {exc}", file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return 0


def _run_subprocess(command: list[str], variables: dict[str, str]) -> int:
    """N ranks: mpiexec in its own session, so an interrupt ends every rank."""
    process = subprocess.Popen(command, env={**os.environ, **variables}, start_new_session=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGINT)
        try:
            return process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait()
