"""``ezpipe slurm``: write a pipeline's sbatch script, show it, submit it, wait for it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import DefinitionError

HELP = "write (and submit) an sbatch script that runs a pipeline under srun"
EPILOG = """\
examples:
  ezpipe slurm pipeline.py -n 4 -t 00:30:00              write and show the script
  ezpipe slurm -n 4 pipeline.py --submit --wait -- /scratch/out
  ezpipe slurm pipeline.py --config cluster.yaml --resubmit 3 --submit

SCRIPT's own arguments go after `--` (or right after SCRIPT). Settings from
--config (YAML with resources: and cluster: sections) are overridden by options;
--setup, --env and --sbatch add to the file's lists.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    # A stub that takes everything verbatim: the real parser below parses intermixed
    # options, so `ezpipe slurm pipeline.py -n 4 -- ARGS` works as well as `-n 4 pipeline.py`.
    stub = sub.add_parser("slurm", help=HELP, add_help=False, prefix_chars="\0")
    stub.add_argument("argv", nargs=argparse.REMAINDER)
    stub.set_defaults(handler=_parse_and_run, script_args=[])


def _parse_and_run(stub_args: argparse.Namespace) -> int:
    # main() hands over what followed `--` as script_args: give it back its `--`.
    argv = [*stub_args.argv, *(["--", *stub_args.script_args] if stub_args.script_args else [])]
    return cmd_slurm(build_parser().parse_intermixed_args(argv))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ezpipe slurm",
        description="Write an sbatch script that runs SCRIPT on N MPI ranks with srun, show it, "
        "and optionally submit it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("script", type=Path, help="the pipeline script, or a study file (.yaml/.json)")
    p.add_argument("args", nargs="*", help="arguments passed to the script")
    p.add_argument("--config", type=Path, metavar="YAML", help="settings file")
    r = p.add_argument_group("resources")
    r.add_argument("-n", "--ntasks", type=int, help="MPI ranks (default 1)")
    r.add_argument("-N", "--nodes", type=int)
    r.add_argument("-c", "--cpus-per-task", type=int, help="cores per rank")
    r.add_argument("--gpus-per-task", type=int, metavar="G", help="GPUs per rank")
    r.add_argument("--gres", help="generic resources per node, e.g. gpu:2 or gpu:a100:1")
    r.add_argument("-t", "--time", help="time limit, e.g. 01:00:00 (default 1 hour)")
    r.add_argument("--mem", help="memory per node, e.g. 4G")
    c = p.add_argument_group("cluster")
    c.add_argument("-p", "--partition")
    c.add_argument("-A", "--account")
    c.add_argument("--qos")
    c.add_argument("--mpi", help="srun --mpi type (default pmi2; 'default': cluster's)")
    c.add_argument("--python", help="interpreter in the job (default: this one)")
    c.add_argument("--setup", action="append", metavar="LINE", help="shell line run first")
    c.add_argument("--env", action="append", metavar="NAME=VALUE", help="exported variable")
    c.add_argument("--sbatch", action="append", metavar="OPTION", help="extra #SBATCH option")
    c.add_argument(
        "--stop-signal-seconds",
        type=int,
        help="stop the pipeline this long before the limit (120, or limit/4 if shorter)",
    )
    j = p.add_argument_group("job")
    j.add_argument("-J", "--job-name")
    j.add_argument("--resubmit", type=int, metavar="N", help="resubmit up to N times at the limit")
    j.add_argument("--output-dir", type=Path, help="where the script and logs go (ezpipe-jobs)")
    j.add_argument("--submit", action="store_true", help="submit the script with sbatch")
    j.add_argument(
        "--print",
        action="store_true",
        dest="print_only",
        help="print the script to stdout; write and submit nothing",
    )
    j.add_argument(
        "--wait",
        action="store_true",
        help="submit, wait for the job and its resubmissions, exit with the last one's status",
    )
    j.add_argument("--wait-timeout", type=float, metavar="S", help="give up waiting after S")
    j.add_argument("-q", "--quiet", action="store_true", help="do not print the script")
    return p


def _overrides(args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    """The command line as a settings mapping; lists extend the file's."""

    def given(mapping: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in mapping.items() if v is not None}

    file_cluster = settings.get("cluster") or {}
    cluster = given(
        {
            "partition": args.partition,
            "account": args.account,
            "qos": args.qos,
            "python": args.python,
            "stop_signal_seconds": args.stop_signal_seconds,
        }
    )
    if args.mpi is not None:
        cluster["mpi"] = None if args.mpi == "default" else args.mpi
    for key, values in (("setup", args.setup), ("extra_sbatch", args.sbatch)):
        if values:
            cluster[key] = [*file_cluster.get(key, []), *values]
    if args.env:
        env = dict(file_cluster.get("env") or {})
        for item in args.env:
            name, sep, value = item.partition("=")
            if not sep:
                raise DefinitionError(f"--env expects NAME=VALUE, got {item!r}")
            env[name] = value
        cluster["env"] = env
    resources = given(
        {
            "ntasks": args.ntasks,
            "nodes": args.nodes,
            "cpus_per_task": args.cpus_per_task,
            "gpus_per_task": args.gpus_per_task,
            "gres": args.gres,
            "time": args.time,
            "mem": args.mem,
        }
    )
    job = given(
        {
            "job_name": args.job_name,
            "resubmit": args.resubmit,
            "output_dir": args.output_dir,
        }
    )
    command = {"script": args.script, "args": args.args}
    return {**command, "resources": resources, "cluster": cluster, **job}


CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def cmd_slurm(args: argparse.Namespace) -> int:
    if not args.script.is_file():
        print(f"ezpipe slurm: error: no pipeline script {args.script}", file=sys.stderr)
        return 3
    from .. import slurm  # yaml and pydantic: only this command needs them

    settings = slurm.load_settings(args.config) if args.config else {}
    job = slurm.make_job(settings, _overrides(args, settings))
    if args.script.suffix.lower() in CONFIG_SUFFIXES:  # a study: invalid ones never reach sbatch
        from ..pipeline import Pipeline  # a study: validated before anything is written
        from . import config_run

        given = config_run.parser().parse_args([str(args.script), *args.args])
        Pipeline.from_config(given.study, folder=given.folder, overrides=given.override)
    if args.print_only:
        print(job.render(), end="")
        return 0
    path = job.write()
    if not args.quiet:
        print(job.render(), end="")
        print()
    print(f"ezpipe slurm: wrote {path} ({slurm.describe(job)})")
    print(f"ezpipe slurm: logs go to {job.log_pattern}")
    if not (args.submit or args.wait):
        print(f"ezpipe slurm: submit it with: sbatch {path}")
        return 0
    job_id = slurm.submit(path)
    print(f"ezpipe slurm: submitted job {job_id}", flush=True)
    if not args.wait:
        log = str(job.log_pattern).replace("%j", job_id)
        print(f"ezpipe slurm: follow it with `squeue -j {job_id}` and `tail -f {log}`")
        return 0
    return slurm.wait(job_id, job.chain_path, timeout=args.wait_timeout)
