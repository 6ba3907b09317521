"""Paths inside a step's output folder, passed as arguments (marin's ``InputName``).

``step.cd("model.npy")`` is an :class:`OutputPath`: given to a downstream step
it makes the upstream step a dependency (unless ``nonblocking``) and puts the
upstream key and the relative path in the consumer's key, never the absolute
path, so moving the pipeline folder changes no key. The sandbox replaces it
by the real :class:`pathlib.Path` when the consumer runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DefinitionError

if TYPE_CHECKING:
    from .steps import PlaceHolder, Step


class OutputPath:
    """A path inside an upstream step's output folder.

    A nonblocking path (``nonblocking(step)``) is in the key but never waited
    for (reading a checkpoint of a step that may still be running), so the
    file may not exist yet when the consumer runs.
    """

    __slots__ = ("blocking", "path", "step")

    def __init__(self, step: Step, path: str = "", *, blocking: bool = True) -> None:
        if not hasattr(step, "registry") or not hasattr(step, "definition"):
            raise DefinitionError(f"an output path needs a step, got {step!r}")
        path = str(path).strip("/")
        if ".." in path.split("/") or "\x00" in path:
            raise DefinitionError(f"output path {path!r} must stay inside the step's folder")
        self.step = step
        self.path = path
        self.blocking = blocking

    def cd(self, path: str) -> OutputPath:
        """A path further down: ``step.cd("ckpt").cd("last.npy")``."""
        joined = f"{self.path}/{path}" if self.path else path
        return OutputPath(self.step, joined, blocking=self.blocking)

    def nonblocking(self) -> OutputPath:
        return OutputPath(self.step, self.path, blocking=False)

    @property
    def key(self) -> str:
        """What a consumer's key hashes: the upstream key and the path inside its folder."""
        mark = "" if self.blocking else "~"
        return f"{mark}{self.step.key}/{self.path}"

    @property
    def name(self) -> str:
        return f"{self.step.name}/{self.path}"

    def __repr__(self) -> str:
        return f"<output of {self.step.name}: {self.path or '.'}>"


def nonblocking(ref: Step | PlaceHolder | OutputPath | Any) -> OutputPath:
    """A dependency recorded in the key but not waited for (marin's ``nonblocking``):
    the output folder of ``ref`` (or the path inside it) as a nonblocking path."""
    if isinstance(ref, OutputPath):
        return ref.nonblocking()
    step = getattr(ref, "step", ref) if type(ref).__name__ == "PlaceHolder" else ref
    return OutputPath(step, blocking=False)
