"""ezpipe: decorate plain functions, get a cached, fault-tolerant MPI pipeline."""

from __future__ import annotations

import logging

from .engine import preempt  # noqa: F401  (first: in a job script, note the stop signal at once)
from .engine.resources import gpu_ids
from .engine.subcomm import StepCancelled, StepComm, StepTimeout
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
    StoreError,
)
from .lookup import LookupHandle
from .pipeline import Pipeline
from .records import Mode, Status, StepRecord
from .steps import PlaceHolder, Step, StepFunction, as_pickle_step
from .version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

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
    "StepCancelled",
    "StepComm",
    "StepFailedError",
    "StepFunction",
    "StepRecord",
    "StepTimeout",
    "StoreError",
    "__version__",
    "as_pickle_step",
    "gpu_ids",
]
