"""One exception hierarchy for everything ezpipe raises.

Leaves also inherit the builtin a caller would naturally catch (``ValueError``
for bad definitions, ``LookupError`` for a result that is not there), so code
that knows nothing about ezpipe still handles them sensibly.
"""

from __future__ import annotations


class EzpipeError(Exception):
    """Base class of every error raised by ezpipe itself."""


class DefinitionError(EzpipeError, ValueError):
    """The pipeline as written cannot be run (bad step, bad argument, bad option)."""


class ConfigError(DefinitionError):
    """A configuration (a config step, a study file, an override) is invalid; the
    message names the path in the configuration and what was expected."""


class FrozenPipelineError(DefinitionError):
    """A step was added after the schema was frozen."""


class ForeignStepError(DefinitionError):
    """A step depends on a step that belongs to another pipeline."""


class DuplicateStepNameError(DefinitionError):
    """Two steps of one pipeline ended up with the same name."""


class CycleError(DefinitionError):
    """The declared dependencies form a cycle."""


class SchemaMismatchError(EzpipeError, RuntimeError):
    """The ranks of one MPI job built different pipelines (diverging scripts)."""


class SchemaConflictError(EzpipeError, RuntimeError):
    """``strict=True`` and the folder holds a pipeline with a different schema."""


class ResultNotAvailableError(EzpipeError, LookupError):
    """A result was asked for that does not exist; the message says why."""


class LaunchError(EzpipeError, RuntimeError):
    """The job was launched in a way that would run the pipeline several times at once."""


class SlurmError(EzpipeError, RuntimeError):
    """Slurm refused a job script, or a job did not end within the wait asked for."""


class StoreError(EzpipeError, OSError):
    """The cache folder cannot be used (unwritable, locked, corrupt beyond repair)."""


class LockedError(StoreError):
    """Another live run holds the pipeline folder's lock."""


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
