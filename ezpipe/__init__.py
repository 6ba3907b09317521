"""ezpipe: decorate plain functions, get a cached, fault-tolerant MPI pipeline."""

from __future__ import annotations

import logging

from .arrays import as_numpy_step
from .config import Chain, ConfigStep, Loop
from .engine import preempt  # noqa: F401  (first: in a job script, note the stop signal at once)
from .errors import (
    ConfigError,
    CycleError,
    DefinitionError,
    DuplicateStepNameError,
    EzpipeError,
    ForeignStepError,
    FrozenPipelineError,
    LaunchError,
    LockedError,
    ResultNotAvailableError,
    SchemaConflictError,
    SchemaMismatchError,
    StepFailedError,
    StoreError,
)
from .lookup import LookupHandle
from .paths import OutputPath, nonblocking
from .pipeline import Pipeline
from .records import Mode, Status, StepRecord
from .steps import PlaceHolder, Step, StepFunction, as_pickle_step
from .version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Chain",
    "ConfigError",
    "ConfigStep",
    "CycleError",
    "DefinitionError",
    "DuplicateStepNameError",
    "EzpipeError",
    "ForeignStepError",
    "FrozenPipelineError",
    "LaunchError",
    "LockedError",
    "LookupHandle",
    "Loop",
    "Mode",
    "OutputPath",
    "Pipeline",
    "PlaceHolder",
    "ResultNotAvailableError",
    "SchemaConflictError",
    "SchemaMismatchError",
    "Status",
    "Step",
    "StepFailedError",
    "StepFunction",
    "StepRecord",
    "StoreError",
    "__version__",
    "as_numpy_step",
    "as_pickle_step",
    "nonblocking",
]
