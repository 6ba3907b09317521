"""ezpipe: decorate plain functions, get a cached, fault-tolerant MPI pipeline."""

from __future__ import annotations

import logging

from .engine import fatal, preempt  # noqa: F401  (preempt first: a job notes its stop signal)
from .errors import (
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
    StorageFullError,
    StoreError,
)
from .lookup import LookupHandle
from .pipeline import Pipeline
from .records import Mode, Status, StepRecord
from .steps import PlaceHolder, Step, StepFunction, as_pickle_step
from .version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())
if fatal.launched():  # one of several ranks: an error raised while defining ends the job
    fatal.install()

__all__ = [
    "CycleError",
    "DefinitionError",
    "DuplicateStepNameError",
    "EzpipeError",
    "ForeignStepError",
    "FrozenPipelineError",
    "LaunchError",
    "LockedError",
    "LookupHandle",
    "Mode",
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
    "StorageFullError",
    "StoreError",
    "__version__",
    "as_pickle_step",
]
