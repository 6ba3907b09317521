"""Decorators: a function becomes a :class:`StepFunction`, whose calls record lazy steps.

``as_pickle_step`` / ``@pipeline.step`` (and ezpyp's ``as_dill_step``) check a
step's options once, when the decorator is applied; each call binds its
arguments by signature, finds the steps it depends on, fills its name
template and registers the new :class:`~ezpipe.steps.Step` with the
pipeline's registry. Nothing runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from .errors import DefinitionError
from .keys import callable_name
from .names import check_name
from .options import DEFAULT_STEP, StepOptions
from .records import Mode
from .steps import (
    CONTAINERS,
    Owner,
    PlaceHolder,
    Step,
    as_step,
    find_steps,
    short_name,
    uncalled_hint,
)

INJECTED = ("output_dir", "resume_dir")  # what the sandbox passes a step (ezpipe.outputs)


def _dependency_list(depends_on: Any, owner: str) -> list[Step]:
    """``depends_on`` as steps: one step is a list of one; anything else is an error."""
    if depends_on is None or as_step(depends_on) is not None:
        depends_on = [] if depends_on is None else [depends_on]
    if isinstance(depends_on, (str, bytes)) or not isinstance(depends_on, Iterable):
        depends_on = [depends_on]
    steps = [as_step(dep) for dep in depends_on]
    for dep, step in zip(depends_on, steps, strict=True):
        if step is None:
            raise DefinitionError(
                f"depends_on of {owner} takes steps (one, or a list of them), got "
                f"{type(dep).__name__} {dep!r}{uncalled_hint(dep)}"
            )
    return steps  # type: ignore[return-value]


def find_step_function(value: Any) -> StepFunction | None:
    """A step function (decorated but not called) inside ``value``, if any."""
    if isinstance(value, StepFunction):
        return value
    items = (*value, *value.values()) if isinstance(value, dict) else value
    if isinstance(value, CONTAINERS):
        for item in items:
            if (found := find_step_function(item)) is not None:
                return found
    return None


class StepFunction:
    """What a decorator returns: calling it records a step instead of running."""

    is_step_function = True  # how ezpipe.steps tells one apart without importing this module

    def __init__(
        self,
        pipeline: Owner,
        func: Callable[..., Any],
        depends_on: Iterable[Step | PlaceHolder] = (),
        *,
        name: str | None = None,
        version: str | int | None = None,
        exclude_from_key: Iterable[str] = (),
        mode: Mode | str | None = None,
        resources: StepOptions = DEFAULT_STEP,
    ) -> None:
        if not callable(func):
            raise DefinitionError(f"a step must wrap a callable, got {func!r}")
        self.pipeline = pipeline
        self.registry = pipeline.registry
        self.func = func
        self.resources = resources
        self.signature = resources.signature(func)  # without ``comm`` for a k-rank step
        # the sandbox passes output_dir / resume_dir (ezpipe.outputs), never a call
        self.call_signature = self.signature.replace(
            parameters=[p for n, p in self.signature.parameters.items() if n not in INJECTED]
        )
        self.name_template = name
        self.version = None if version is None else str(version)
        self.mode = None if mode is None else Mode.parse(mode)
        self.exclude_from_key = tuple(exclude_from_key)
        unknown = set(self.exclude_from_key) - set(self.signature.parameters)
        if unknown:
            raise DefinitionError(
                f"exclude_from_key names {sorted(unknown)} are not parameters of "
                f"{callable_name(func)}{self.signature}"
            )
        self.depends_on = _dependency_list(depends_on, callable_name(func))
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> Step:
        return self._record(None, args, kwargs)

    def named(self, name: str) -> Callable[..., Step]:
        """``f.named("f_small")(x)`` records a call of ``f`` under an explicit name."""
        check_name(name)
        return lambda *args, **kwargs: self._record(name, args, kwargs)

    def _record(self, name: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Step:
        try:
            bound = self.call_signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise DefinitionError(
                f"bad arguments for step {callable_name(self.func)}{self.call_signature}: {exc}"
            ) from None
        bound.apply_defaults()
        for parameter, value in bound.arguments.items():
            uncalled = find_step_function(value)
            if uncalled is not None:
                other = short_name(uncalled.func)
                raise DefinitionError(
                    f"argument {parameter!r} of {short_name(self.func)} is the step function "
                    f"{other} itself: did you mean {other}(...)?"
                )
        found: dict[int, Step] = {}
        key_only: dict[int, Step] = {}  # nonblocking: in the key, not waited for
        find_steps(args, found, key_only)
        find_steps(kwargs, found, key_only)
        step = Step(
            self,
            args,
            kwargs,
            dict(bound.arguments),
            tuple(dict.fromkeys(s.index for s in found.values())),
            tuple(s.index for s in self.depends_on),
        )
        if key_only:
            step.key_after = tuple(s.index for i, s in key_only.items() if i not in found)
        for dep in (*found.values(), *key_only.values(), *self.depends_on):
            self.registry.check_own(dep, step)
        if name is None and self.name_template is not None:
            try:
                name = self.name_template.format(**bound.arguments)
            except (KeyError, IndexError, ValueError) as exc:
                raise DefinitionError(
                    f"name template {self.name_template[:80]!r} of {callable_name(self.func)} "
                    f"cannot be filled from its arguments: {exc!r}"
                ) from None
        self.registry.add(step, name)  # checks that a file system can hold the name
        return step

    def __repr__(self) -> str:
        return f"<ezpipe step function {callable_name(self.func)}>"


def as_pickle_step(
    pipeline: Owner,
    depends_on: Iterable[Step | PlaceHolder] | None = None,
    *,
    name: str | None = None,
    version: str | int | None = None,
    exclude_from_key: Iterable[str] = (),
    mode: Mode | str | None = None,
    **resources: Any,
) -> Callable[[Callable[..., Any]], StepFunction]:
    """Decorator: calls of the function become lazy steps of ``pipeline``.

    ``depends_on`` adds order-only dependencies (inputs passed as steps or
    placeholders are dependencies already). ``name`` is a format template filled
    from the call's arguments (``"train_lr{lr}"``); without it the first call is
    named after the function and later calls ``func.1``, ``func.2``, ... .
    ``version`` is part of the content key: bump it to invalidate old results.
    ``exclude_from_key`` lists arguments that cannot change the result.

    Resources (:class:`ezpipe.options.StepOptions`): ``ranks=k`` runs the step on k
    ranks at once; the function then takes a parameter named ``comm``, which ezpipe
    fills with a communicator of exactly those k ranks (see
    :mod:`ezpipe.engine.subcomm`; ``comm.mpi`` is the raw mpi4py one) and the result
    is the return value on its rank 0. ``threads=``, ``gpus=``, ``memory=`` (bytes
    or ``"16G"``), ``timeout=`` (seconds) and ``priority=`` (higher first) steer
    placement only and are not part of the key; ``ranks`` is.
    """
    try:
        options = StepOptions.make(**resources)
    except TypeError as exc:
        raise DefinitionError(f"unknown step option: {exc}") from None

    def decorate(func: Callable[..., Any]) -> StepFunction:
        return StepFunction(
            pipeline,
            func,
            depends_on or (),
            name=name,
            version=version,
            exclude_from_key=exclude_from_key,
            mode=mode,
            resources=options,
        )

    return decorate


def as_dill_step(
    pipeline: Owner,
    depends_on: Iterable[Step | PlaceHolder] | None = None,
    **options: Any,
) -> Callable[[Callable[..., Any]], StepFunction]:
    """ezpyp's dill step: results that plain pickle cannot hold (lambdas, closures).

    ezpipe stores every result with cloudpickle, which serialises what dill does,
    so this is :func:`as_pickle_step` under ezpyp's name.
    """
    return as_pickle_step(pipeline, depends_on, **options)
