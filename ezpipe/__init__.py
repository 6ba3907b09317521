"""ezpipe: decorate plain functions, get a cached, fault-tolerant MPI pipeline.

The stop-signal handler (:mod:`ezpipe.engine.preempt`, cheap) is installed at once,
so a job script notes a time-limit signal that comes before ``execute()``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from .engine import fatal, preempt  # noqa: F401  (preempt first: a job notes its stop signal)
from .version import __version__

# Every other name is imported on first use (PEP 562): `ezpipe --help` and `ezpipe status`
# must not pay for pandas, networkx and cloudpickle, which only a pipeline run needs.
# name -> "module" (the same name there) or "module:attribute" (exported renamed).
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "ConfigError",
            "CycleError",
            "DefinitionError",
            "DuplicateStepNameError",
            "EzpipeError",
            "FailedStepWarning",
            "ForeignStepError",
            "FrozenPipelineError",
            "InitializationError",
            "LaunchError",
            "LockedError",
            "NotExecutedStepWarning",
            "RepeatedStepError",
            "ResultNotAvailableError",
            "ResultWarning",
            "SchemaConflictError",
            "SchemaMismatchError",
            "SkippedStepWarning",
            "StepFailedError",
            "StorageFullError",
            "StoreError",
            "UnrecognizedStepWarning",
        ),
        "errors",
    ),
    "LookupHandle": "lookup",
    "Pipeline": "pipeline",
    "FolderReader": "reader",
    "open": "reader:open_folder",
    "as_numpy_step": "arrays",
    "Chain": "config",
    "ConfigStep": "config",
    "Loop": "config",
    "OutputPath": "paths",
    "nonblocking": "paths",
    "StepCancelled": "engine.subcomm",
    "StepComm": "engine.subcomm",
    "StepTimeout": "engine.subcomm",
    "gpu_ids": "engine.resources",
    "Mode": "records",
    "Status": "records",
    "StepRecord": "records",
    "PlaceHolder": "steps",
    "Step": "steps",
    "StepFunction": "decorate",
    "as_pickle_step": "decorate",
    "as_dill_step": "decorate",
}

logging.getLogger(__name__).addHandler(logging.NullHandler())
if fatal.launched():  # one of several ranks: an error raised while defining ends the job
    fatal.install()

__all__ = [
    "Chain",
    "ConfigError",
    "ConfigStep",
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
    "Loop",
    "Mode",
    "NotExecutedStepWarning",
    "OutputPath",
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
    "StepCancelled",
    "StepComm",
    "StepFailedError",
    "StepFunction",
    "StepRecord",
    "StepTimeout",
    "StorageFullError",
    "StoreError",
    "UnrecognizedStepWarning",
    "__version__",
    "as_dill_step",
    "as_numpy_step",
    "as_pickle_step",
    "gpu_ids",
    "nonblocking",
    "open",
]


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'ezpipe' has no attribute {name!r}")
    module, _, attribute = where.partition(":")  # "reader:open_folder": exported renamed
    value = getattr(importlib.import_module(f".{module}", __name__), attribute or name)
    globals()[name] = value  # the next look-up is a plain global
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .arrays import as_numpy_step
    from .config import Chain, ConfigStep, Loop
    from .decorate import StepFunction, as_dill_step, as_pickle_step
    from .engine.resources import gpu_ids
    from .engine.subcomm import StepCancelled, StepComm, StepTimeout
    from .errors import (
        ConfigError,
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
        StorageFullError,
        StoreError,
        UnrecognizedStepWarning,
    )
    from .lookup import LookupHandle
    from .paths import OutputPath, nonblocking
    from .pipeline import Pipeline
    from .reader import FolderReader
    from .reader import open_folder as open
    from .records import Mode, Status, StepRecord
    from .steps import PlaceHolder, Step
