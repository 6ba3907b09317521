"""Lazy steps: the decorators, ``Step`` and ``PlaceHolder``.

Calling a decorated function records a :class:`Step` and returns it; nothing
runs. Upstream results are passed as ``PlaceHolder(step)`` or as the bare step,
anywhere inside lists, tuples, dicts and sets; either way the dependency is
implied. Dependencies are stored as step indices, never as copies of steps, so
defining a pipeline stays linear in its size.

A :class:`StepRegistry` owns a pipeline's steps: registration, unique names
and the frozen flag. Steps reach their pipeline only through the registry's
``owner``, typed by the :class:`Owner` protocol, so this module imports
nothing above the definition layer.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .errors import (
    DefinitionError,
    DuplicateStepNameError,
    ForeignStepError,
    FrozenPipelineError,
    ResultNotAvailableError,
)
from .keys import Description, callable_name
from .names import UNSAFE, check_name
from .paths import OutputPath
from .records import Status

if TYPE_CHECKING:
    from .decorate import StepFunction


class Owner(Protocol):
    """What a registry's owner (the ``Pipeline``) offers the steps it holds."""

    name: str
    registry: StepRegistry

    @property
    def folder(self) -> str: ...
    def get_status(self, step: Step) -> Status: ...
    def get_result(self, step: Step) -> Any: ...
    def lookup(self, step: Step) -> Any: ...


class StepRegistry:
    """The steps of one pipeline, in definition order, with their unique names."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        self.steps: list[Step] = []
        self._by_name: dict[str, int] = {}
        self._auto_names: dict[str, int] = {}
        self.frozen = False

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def check_open(self, what: str) -> None:
        if self.frozen:
            raise FrozenPipelineError(
                f"cannot {what}: the schema of pipeline {self.owner.name!r} is frozen "
                "(define every step before initialize_schema(), execute() or get_result())"
            )

    def check_own(self, dep: Step, step: Step) -> None:
        if dep.registry is not self:
            raise_foreign(dep, step)

    def add(self, step: Step, name: str | None) -> None:
        """Register ``step`` under ``name``, or under an automatic ``func``, ``func.1``, ..."""
        self.check_open(f"add a step calling {step.function_name}")
        if name is None:
            short = callable_name(step.func).rsplit(".", 1)[-1]
            base = UNSAFE.sub("_", short).strip("._") or "step"
            count = self._auto_names.get(base, 0)
            name = base if count == 0 else f"{base}.{count}"
            while name in self._by_name:
                count += 1
                name = f"{base}.{count}"
            self._auto_names[base] = count + 1
        elif name in self._by_name:
            other = self.steps[self._by_name[name]]
            raise DuplicateStepNameError(
                f"two steps are named {name!r}: a call of {other.function_name} and a call of "
                f"{step.function_name}; give each a distinct name"
            )
        check_name(name)
        step.index = len(self.steps)
        step.name = name
        self.steps.append(step)
        self._by_name[name] = step.index

    def resolve(self, ref: Step | PlaceHolder | str) -> Step:
        """The step a reference names; an unknown name is an error with suggestions."""
        step = as_step(ref)
        if step is not None:
            self.check_own(step, step)
            return step
        index = self._by_name.get(check_name(ref))  # type: ignore[arg-type]
        if index is None:
            close = difflib.get_close_matches(str(ref), list(self._by_name), n=5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ResultNotAvailableError(f"pipeline {self.owner.name!r} has no step {ref!r}{hint}")
        return self.steps[index]


class Step:
    """One lazy call of a decorated function inside one pipeline."""

    __slots__ = (
        "after",
        "args",
        "bound",
        "definition",
        "described",
        "digests",
        "index",
        "key",
        "key_after",
        "kwargs",
        "name",
        "phase",
        "registry",
        "upstream",
    )

    def __init__(
        self,
        definition: StepFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        bound: dict[str, Any],
        upstream: tuple[int, ...],
        after: tuple[int, ...],
    ) -> None:
        self.definition = definition
        self.registry = definition.registry
        self.args = args
        self.kwargs = kwargs
        self.bound = bound  # arguments by parameter name, defaults applied: what the key hashes
        self.upstream = upstream  # indices of steps whose results are inputs
        self.after = after  # indices of order-only dependencies
        self.key_after: tuple[int, ...] = ()  # nonblocking: in the key, not waited for
        self.index = -1
        self.name = ""
        # Set when the schema is frozen: the content key, and what its manifest is built
        # from when needed (ezpipe.graph.step_manifest): a million frozen steps hold
        # about 100 bytes each for it, not a 2 KB manifest each.
        self.key = ""
        self.digests = b""
        self.described: Description | None = None
        self.phase = -1

    # -- definition -----------------------------------------------------------------------------
    @property
    def func(self) -> Callable[..., Any]:
        return self.definition.func

    @property
    def pipeline(self) -> Owner:
        return self.registry.owner

    @property
    def function_name(self) -> str:
        return callable_name(self.definition.func)

    @property
    def dependencies(self) -> list[int]:
        """Indices of every step this one waits for (inputs and order-only)."""
        if not self.after:
            return list(self.upstream)
        return list(dict.fromkeys((*self.upstream, *self.after)))

    def depends_on(self, *steps: Step | PlaceHolder) -> Step:
        """Add order-only dependencies after the call; returns ``self`` for chaining."""
        for other in steps:
            dep = as_step(other)
            if dep is None:
                raise DefinitionError(
                    f"{self!r}.depends_on() takes steps, got {other!r}{uncalled_hint(other)}"
                )
            self.registry.check_own(dep, self)
            self.registry.check_open(f"add a dependency to {self!r}")
            self.after = (*self.after, dep.index)
        return self

    def cd(self, path: str = "") -> OutputPath:
        """A path in this step's output folder, as a downstream argument (see ezpipe.paths)."""
        return OutputPath(self, path)

    # -- results --------------------------------------------------------------------------------
    def get_status(self) -> int:
        """ezpyp's status code: -1 not run, 0 passed, 1 failed, 2 skipped."""
        return int(self.pipeline.get_status(self))

    @property
    def status(self) -> Status:
        return self.pipeline.get_status(self)

    def get_result(self) -> Any:
        return self.pipeline.get_result(self)

    def lookup(self) -> Any:
        return self.pipeline.lookup(self)

    def __repr__(self) -> str:
        return f"Pickle Step Object {self.name!r}"


class PlaceHolder:
    """Marks an argument as "the result of this step" (ezpyp's spelling)."""

    __slots__ = ("step",)

    def __init__(self, step: Step) -> None:
        if not isinstance(step, Step):
            raise DefinitionError(f"PlaceHolder takes a step, got {type(step).__name__}: {step!r}")
        self.step = step

    def get_result(self) -> Any:
        """The result of the step this stands for (ezpyp's ``PlaceHolder.get_result``)."""
        return self.step.get_result()

    def __repr__(self) -> str:
        return f"<result of {self.step.name}>"


def as_step(value: Any) -> Step | None:
    if isinstance(value, Step):
        return value
    if isinstance(value, PlaceHolder):
        return value.step
    return None


CONTAINERS = (list, tuple, dict, set, frozenset)


def find_steps(value: Any, found: dict[int, Step], key_only: dict[int, Step] | None = None) -> None:
    """Collect every step referenced in ``value`` (nested containers included);
    nonblocking output paths' steps go to ``key_only``."""
    step = as_step(value)
    if step is not None:
        found.setdefault(id(step), step)
    elif isinstance(value, OutputPath):
        target = found if value.blocking or key_only is None else key_only
        target.setdefault(id(value.step), value.step)
    elif isinstance(value, dict):
        for k, v in value.items():
            find_steps(k, found, key_only)
            find_steps(v, found, key_only)
    elif isinstance(value, CONTAINERS):
        for item in value:
            find_steps(item, found, key_only)


def substitute(value: Any, result_of: Callable[[Any], Any]) -> Any:
    """A copy of ``value``, each step reference (and OutputPath) replaced by ``result_of``."""
    step = as_step(value)
    if step is not None:
        return result_of(step)
    if isinstance(value, OutputPath):
        return result_of(value)
    if isinstance(value, dict):
        return type(value)(
            (substitute(k, result_of), substitute(v, result_of)) for k, v in value.items()
        )
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*(substitute(v, result_of) for v in value))
    if isinstance(value, CONTAINERS):
        return type(value)(substitute(v, result_of) for v in value)
    return value


def short_name(func: Callable[..., Any]) -> str:
    return callable_name(func).rsplit(".", 1)[-1]  # "load", not "main.<locals>.load"


def uncalled_hint(value: Any) -> str:
    name = short_name(value.func) if getattr(value, "is_step_function", False) else None
    return f" ({name} is a step function itself: did you mean {name}(...)?)" if name else ""


def raise_foreign(dep: Step, step: Step) -> None:
    raise ForeignStepError(
        f"step {step.function_name} uses {dep!r}, which belongs to pipeline "
        f"{dep.pipeline.name!r} at {dep.pipeline.folder}, not to {step.pipeline.name!r} at "
        f"{step.pipeline.folder}: pass results between pipelines through get_result()"
    )
