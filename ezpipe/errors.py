"""One exception hierarchy for everything ezpipe raises.

Leaves also inherit the builtin a caller would naturally catch (``ValueError``
for bad definitions, ``LookupError`` for a result that is not there), so code
that knows nothing about ezpipe still handles them sensibly.
"""

from __future__ import annotations

import errno
import warnings


class EzpipeError(Exception):
    """Base class of every error raised by ezpipe itself."""


class DefinitionError(EzpipeError, ValueError):
    """The pipeline as written cannot be run (bad step, bad argument, bad option)."""


class InitializationError(DefinitionError):
    """The schema is not initialized yet, or is and can no longer change (ezpyp's name)."""


class ConfigError(DefinitionError):
    """A configuration (a config step, a study file, an override) is invalid; the
    message names the path in the configuration and what was expected."""


class FrozenPipelineError(InitializationError):
    """A step was added after the schema was frozen."""


class ForeignStepError(DefinitionError):
    """A step depends on a step that belongs to another pipeline."""


class DuplicateStepNameError(DefinitionError):
    """Two steps of one pipeline ended up with the same name."""


RepeatedStepError = DuplicateStepNameError  # ezpyp's name for a step defined twice


class CycleError(DefinitionError):
    """The declared dependencies form a cycle."""


class SchemaMismatchError(EzpipeError, RuntimeError):
    """The ranks of one MPI job built different pipelines (diverging scripts)."""


class SchemaConflictError(EzpipeError, RuntimeError):
    """``strict=True`` and the folder holds a pipeline with a different schema."""


class ResultNotAvailableError(EzpipeError, LookupError):
    """A result was asked for that does not exist; the message says why."""


class ResultWarning(UserWarning, ResultNotAvailableError):
    """A result that cannot be returned, said as a warning *and* an error.

    ezpipe turns these warnings into errors (a filter installed on import and
    when a ``Pipeline`` is made), so ``get_result`` raises them and code that
    catches :class:`ResultNotAvailableError` (a ``LookupError``) works. Code
    written for ezpyp, which warns and returns None, can record or allow them
    (``pytest.warns``, ``warnings.simplefilter("default", ResultWarning)``) and
    gets None, as it did there.
    """


class NotExecutedStepWarning(ResultWarning):
    """The step has no result for its current definition: it has not run (yet)."""


class FailedStepWarning(ResultWarning):
    """The step failed: there is no result, only its recorded error."""


class SkippedStepWarning(ResultWarning):
    """The step was skipped because an upstream step did not pass."""


class UnrecognizedStepWarning(ResultWarning):
    """No step of that name exists in the pipeline."""


def results_raise() -> None:
    """Make :class:`ResultWarning` an error (idempotent: the filter moves to the front)."""
    warnings.filterwarnings("error", category=ResultWarning)


class LaunchError(EzpipeError, RuntimeError):
    """The job was launched in a way that would run the pipeline several times at once."""


class SlurmError(EzpipeError, RuntimeError):
    """Slurm refused a job script, or a job did not end within the wait asked for."""


class StoreError(EzpipeError, OSError):
    """The cache folder cannot be used (unwritable, locked, corrupt beyond repair)."""


class StorageFullError(StoreError):
    """The file system holding the pipeline folder is full or over quota (ENOSPC, EDQUOT).

    Not a failure of any step: what could not be stored is not recorded, so the
    same command, run again once there is space, computes it.
    """


FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk or the quota is full."""
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


class LockedError(StoreError):
    """Another live run holds the pipeline folder's lock."""


EXIT_STUCK = 76  # a multi-rank step's ranks could not be freed: records and summary written
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: "try again later", what a job script's resubmission reads


class JobInterrupted(SystemExit):
    """``execute()`` stopped early on a stop signal; steps remain to be run.

    A ``SystemExit`` with status 75, so an uncaught one ends the script
    quietly with the status the job script checks before resubmitting.
    """

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_INTERRUPTED)
        self.message = message

    def __str__(self) -> str:
        return self.message


EXIT_CTRL_C = 130  # 128 + SIGINT, what a shell reports for a program ended by Ctrl-C


class RunCancelled(SystemExit, KeyboardInterrupt):
    """Ctrl-C stopped ``execute()``: reported in one line, not as a crash.

    A ``SystemExit`` with status 130, so an uncaught one ends the script without
    a traceback; still a ``KeyboardInterrupt``, so code that catches Ctrl-C
    catches it. Nothing is recorded for the steps it cut short: a rerun computes them.
    """

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_CTRL_C)
        self.message = message

    def __str__(self) -> str:
        return self.message


class StepFailedError(EzpipeError, RuntimeError):
    """A step's recorded failure, re-raised from the cache by ``LookupHandle.result()``."""

    def __init__(
        self, name: str, error_type: str | None, message: str | None, traceback: str | None
    ) -> None:
        self.step_name = name
        self.error_type = error_type
        self.error_message = message
        self.traceback = traceback
        super().__init__(
            f"step {name!r} failed: {message}\n--- recorded traceback ---\n{traceback or ''}"
        )


results_raise()
