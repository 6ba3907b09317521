"""ezpipe: decorate plain functions, get a cached, fault-tolerant MPI pipeline."""

from __future__ import annotations

import logging

from .engine import preempt  # noqa: F401  (first: in a job script, note the stop signal at once)
from .errors import (
    CycleError,
    DefinitionError,
    DuplicateStepNameError,
    EzpipeError,
    FailedStepWarning,
    ForeignStepError,
    FrozenPipelineError,
    InitializationError,
    LaunchError,
    LockedError,
    NotExecutedStepWarning,
    RepeatedStepError,
    ResultNotAvailableError,
    ResultWarning,
    SchemaConflictError,
    SchemaMismatchError,
    SkippedStepWarning,
    StepFailedError,
    StoreError,
    UnrecognizedStepWarning,
)
from .lookup import LookupHandle
from .pipeline import Pipeline
from .reader import FolderReader
from .reader import open_folder as open
from .records import Mode, Status, StepRecord
from .steps import PlaceHolder, Step, StepFunction, as_dill_step, as_pickle_step
from .version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "CycleError",
    "DefinitionError",
    "DuplicateStepNameError",
    "EzpipeError",
    "FailedStepWarning",
    "FolderReader",
    "ForeignStepError",
    "FrozenPipelineError",
    "InitializationError",
    "LaunchError",
    "LockedError",
    "LookupHandle",
    "Mode",
    "NotExecutedStepWarning",
    "Pipeline",
    "PlaceHolder",
    "RepeatedStepError",
    "ResultNotAvailableError",
    "ResultWarning",
    "SchemaConflictError",
    "SchemaMismatchError",
    "SkippedStepWarning",
    "Status",
    "Step",
    "StepFailedError",
    "StepFunction",
    "StepRecord",
    "StoreError",
    "UnrecognizedStepWarning",
    "__version__",
    "as_dill_step",
    "as_pickle_step",
    "open",
]
