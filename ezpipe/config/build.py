"""Config steps become ordinary ezpipe steps: ``pipeline.add(config, *inputs)``.

A leaf config (a :class:`ConfigStep` that is not a chain or a loop) becomes
one step calling ``config._run(*inputs)``: its key hashes the fingerprint of
the class's ``_run``, :func:`~ezpipe.config.model.identity` (the validated
fields minus exclusions), the upstream keys and the class's ``version``, so
the cache, the MPI distribution, the summary and the command line treat it
like a decorated function. A :class:`Chain` adds one step per inner step, each
fed by the one before; a :class:`Loop` adds its steps once per iteration,
named ``<name>@<i>``. Resource defaults declared on the class are passed to
:class:`~ezpipe.decorate.StepFunction` where it accepts them and kept on it as
``config_resources`` either way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from ..decorate import StepFunction
from ..errors import ConfigError
from ..keys import function_fingerprint
from ..steps import Owner, Step
from .chain import Chain, Loop, input_names, named_steps
from .model import ConfigStep, identity

_RUNNERS: dict[type, Callable[..., Any]] = {}


@functools.lru_cache(maxsize=1)
def _step_options() -> frozenset[str]:
    """The keyword arguments this version of StepFunction accepts."""
    return frozenset(inspect.signature(StepFunction).parameters)


def step_resources(resources: dict[str, Any]) -> dict[str, Any]:
    """The class's resources as StepFunction takes them: one keyword each where it has
    them, or a ``resources=`` options object (the multi-rank engine's ``StepOptions``)."""
    accepted = _step_options()
    if resources and "resources" in accepted:
        from .. import options as options_module

        make = getattr(getattr(options_module, "StepOptions", None), "make", None)
        if make is not None:
            return {"resources": make(**resources)}
    return {k: v for k, v in resources.items() if k in accepted}


def runner(cls: type[ConfigStep]) -> Callable[..., Any]:
    """The function a step of class ``cls`` calls: ``config._run(*inputs)``.

    Its ``__wrapped__`` is the class's ``_run``, so the key fingerprints what the
    class computes and the signature is ``_run``'s (``self`` is the config).
    """
    run = _RUNNERS.get(cls)
    if run is None or run.__wrapped__ is not cls._run:  # type: ignore[attr-defined]

        def run(config: ConfigStep, *inputs: Any, **named: Any) -> Any:
            return config._run(*inputs, **named)

        run.__wrapped__ = cls._run  # type: ignore[attr-defined]
        run.__name__ = cls.__name__
        run.__qualname__ = cls.__qualname__
        run.__module__ = cls.__module__
        _RUNNERS[cls] = run
    return run


def add(
    pipeline: Owner,
    config: ConfigStep,
    *inputs: Any,
    name: str | None = None,
    **named: Any,
) -> Step:
    """Add ``config`` to ``pipeline``, fed by ``inputs`` (steps, placeholders, output
    paths or plain values); returns the step whose result is the config's output."""
    if not isinstance(config, ConfigStep):
        raise ConfigError(f"add() takes a ConfigStep, got {type(config).__name__}: {config!r}")
    return _add(pipeline, config, inputs, named, name, "", None)


def _add(
    pipeline: Owner,
    config: ConfigStep,
    inputs: tuple[Any, ...],
    named: dict[str, Any],
    name: str | None,
    suffix: str,
    iteration: int | None,
) -> Step:
    if isinstance(config, Loop):
        return _add_loop(pipeline, config, inputs, named, name, suffix)
    if isinstance(config, Chain):
        step: Step | None = None
        for key, inner in named_steps(config):
            sub = _inner_name(name, key, inner)
            step = _add(pipeline, inner, inputs, named, sub, suffix, iteration)
            inputs, named = (step,), {}
        assert step is not None  # a chain has at least one step (validated)
        return step
    return _add_leaf(pipeline, config, inputs, named, name, suffix, iteration)


def _inner_name(prefix: str | None, key: str, inner: ConfigStep) -> str:
    """``prep.scale`` for a named step, ``prep.0`` or the class name for a listed one."""
    if prefix:
        return f"{prefix}.{key}"
    return type(inner).__name__ if key.isdigit() else key


def _add_loop(
    pipeline: Owner,
    loop: Loop,
    inputs: tuple[Any, ...],
    named: dict[str, Any],
    name: str | None,
    suffix: str,
) -> Step:
    if loop.n == 0:
        raise ConfigError(f"{name or 'Loop'}: a loop of 0 iterations has no output")
    single = len(named_steps(loop)) == 1
    step: Step | None = None
    for iteration in range(1, loop.n + 1):
        extra = named  # named inputs (fixed data) reach every iteration's first step
        for key, inner in named_steps(loop):
            sub = (
                (name or _inner_name(None, key, inner)) if single else _inner_name(name, key, inner)
            )
            step = _add(pipeline, inner, inputs, extra, sub, f"@{iteration}{suffix}", iteration)
            inputs, extra = (step,), {}
    assert step is not None
    return step


def _add_leaf(
    pipeline: Owner,
    config: ConfigStep,
    inputs: tuple[Any, ...],
    named: dict[str, Any],
    name: str | None,
    suffix: str,
    iteration: int | None,
) -> Step:
    cls = type(config)
    label = f"{name or cls.__name__}{suffix}"
    wanted = input_names(config)
    if inputs and not wanted:
        raise ConfigError(
            f"{label}: {cls.__name__} takes no input (its _run has no input parameter), "
            "but a step before it feeds it one"
        )
    params = inspect.signature(cls._run).parameters
    required = [n for n in wanted if params[n].default is inspect.Parameter.empty]
    if required and not inputs and not set(required) <= set(named):
        raise ConfigError(
            f"{label}: {cls.__name__}._run takes an input ({', '.join(required)}) but "
            "nothing feeds it (give it an input, or put a step before it in a chain)"
        )
    options: dict[str, Any] = {"version": cls.setting("version"), "mode": cls.cache_mode}
    resources = cls.resources()
    options.update(step_resources(resources))
    definition = StepFunction(pipeline, runner(cls), **options)
    definition.config_resources = resources  # type: ignore[attr-defined]
    extra = dict(named)
    if iteration is not None and "iteration" in params:
        extra["iteration"] = iteration
    call = definition if name is None and not suffix else definition.named(label)
    step = call(config, *inputs, **extra)
    # the key: the validated fields minus exclusions, and what _run computes (stated here
    # too, so it counts however a key scheme treats the runner's __wrapped__)
    step.bound["self"] = {**identity(config), "_run": function_fingerprint(cls._run)}
    return step
