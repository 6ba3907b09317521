"""Slurm as a backend: job settings, sbatch scripts, submission, waiting (``ezpipe slurm``).

- :mod:`.settings`: ``SlurmResources`` (what a job asks for), ``SlurmCluster``
  (how this cluster is used), the YAML settings file;
- :mod:`.job`: ``SlurmJob``, the script and settings put together, and
  ``make_job`` (file settings under command-line overrides);
- :mod:`.script`: the sbatch text, pure functions of the job;
- :mod:`.submit`: ``sbatch``, ``scontrol``, following a chain of resubmissions;
- :mod:`.environment`: the one table of the ``SLURM_*`` variables ezpipe reads.

Imports go one way: ``environment`` and ``settings`` need nothing here,
``script`` reads them, ``job`` renders through ``script``; ``submit`` stands
alone. Every name is re-exported here: ``from ezpipe.slurm import SlurmJob``.
"""

from __future__ import annotations

# Also importable from here as before the split (not Slurm's own names, so not in __all__).
from ..errors import (  # noqa: F401
    EXIT_INTERRUPTED,
    DefinitionError,
    SlurmError,
)
from .environment import SlurmEnvironment
from .job import SlurmJob, make_job
from .script import (  # noqa: F401
    ENV_ATTEMPT,
    ENV_PREVIOUS,
    ENV_RESUBMIT,
    ENV_SCRIPT,
    describe,
    render,
    sbatch_options,
)
from .settings import (
    DEFAULT_STOP_SECONDS,
    MpiType,
    SlurmCluster,
    SlurmName,
    SlurmResources,
    load_settings,
    merge_settings,
    time_seconds,
)
from .submit import TERMINAL_STATES, Runner, job_state, read_chain, submit, wait

__all__ = [
    "DEFAULT_STOP_SECONDS",
    "TERMINAL_STATES",
    "MpiType",
    "Runner",
    "SlurmCluster",
    "SlurmEnvironment",
    "SlurmJob",
    "SlurmName",
    "SlurmResources",
    "describe",
    "job_state",
    "load_settings",
    "make_job",
    "merge_settings",
    "read_chain",
    "render",
    "sbatch_options",
    "submit",
    "time_seconds",
    "wait",
]
