"""``Chain`` and ``Loop``: config steps made of config steps.

A :class:`Chain` runs its steps in order, each step's output feeding the
next one's ``_run(input)``; a list is named by position (``"0"``, ``"1"``, ...)
and a dict of dicts by its keys, which is what dotted patches and step names
use (``chain.clone({"steps.scale.coeff": 3.0})``). Chains nest.

A :class:`Loop` repeats its steps ``n`` times: iteration ``i``'s first step
gets iteration ``i-1``'s last output, and a step whose ``_run`` takes an
``iteration`` parameter is told its number (1-based). In a pipeline each
iteration's steps are named ``<name>@<i>``, and since a step's key depends
only on what comes before it, raising ``n`` from 10 to 12 computes only
iterations 11 and 12.

In a pipeline each inner step is an ordinary ezpipe step (its own key, cache
entry and rank); ``run()`` computes the whole thing in this process instead.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from pydantic import AliasChoices, Field, PlainValidator, TypeAdapter, WithJsonSchema

from .model import ConfigStep

NO_INPUT: Any = object()


def takes_input(config: ConfigStep) -> bool:
    """Does the step's ``_run`` take a positional input (a transformer)?"""
    return bool(input_names(config))


def input_names(config: ConfigStep) -> list[str]:
    """``_run``'s data parameters: not ``self``, nor what ezpipe passes itself."""
    params = list(inspect.signature(type(config)._run).parameters.values())[1:]
    reserved = {"output_dir", "resume_dir", "iteration", "comm"}  # comm: a k-rank step's
    return [
        p.name
        for p in params
        if p.name not in reserved
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]


def _call(config: ConfigStep, value: Any, iteration: int | None = None) -> Any:
    extra = {}
    if iteration is not None and "iteration" in inspect.signature(type(config)._run).parameters:
        extra["iteration"] = iteration
    if value is NO_INPUT or not takes_input(config):
        return config.run(**extra)
    return config.run(value, **extra)


_LIST: TypeAdapter[list[ConfigStep]] = TypeAdapter(list[ConfigStep])
_DICT: TypeAdapter[dict[str, ConfigStep]] = TypeAdapter(dict[str, ConfigStep])
_STEPS_SCHEMA = WithJsonSchema(
    {
        "description": "steps in order: a list, or a mapping of names to steps",
        "anyOf": [
            {"type": "array", "items": {"x-ezpipe-step": True}, "minItems": 1},
            {"type": "object", "additionalProperties": {"x-ezpipe-step": True}},
        ],
    }
)


def _validate_steps(value: Any) -> list[ConfigStep] | dict[str, ConfigStep]:
    """A list stays a list (``chain.steps[0]``), a mapping a dict of named steps; each
    item is validated as a step, so errors carry the item's index or name."""
    steps = _LIST.validate_python(list(value)) if isinstance(value, list | tuple) else None
    if steps is None:
        steps = _DICT.validate_python(value)
    if not steps:
        raise ValueError("a chain needs at least one step")
    return steps


Steps = Annotated[
    list[ConfigStep] | dict[str, ConfigStep], PlainValidator(_validate_steps), _STEPS_SCHEMA
]


def named_steps(config: Chain | Loop) -> list[tuple[str, ConfigStep]]:
    """``(name, step)`` pairs: a listed step is named by its position (``"0"``)."""
    steps = config.steps
    if isinstance(steps, dict):
        return list(steps.items())
    return [(str(i), step) for i, step in enumerate(steps)]


class Chain(ConfigStep):
    """Steps in sequence; a list or a dict of steps (``Chain([A(), B()])`` works too)."""

    steps: Steps

    def __init__(self, steps: Any = None, /, **data: Any) -> None:
        if steps is not None:
            data["steps"] = steps
        super().__init__(**data)

    def _run(self, input: Any = NO_INPUT) -> Any:
        value = input
        for _, step in named_steps(self):
            value = _call(step, value)
        return value


class Loop(ConfigStep):
    """``steps`` repeated ``n`` times (``n_iterations`` in f3dasm's spelling), each
    iteration fed by the previous one."""

    n: int = Field(ge=0, validation_alias=AliasChoices("n", "n_iterations"))
    steps: Steps

    def __init__(self, n: Any = None, steps: Any = None, /, **data: Any) -> None:
        if n is not None:
            data["n"] = n
        if steps is not None:
            data["steps"] = steps
        super().__init__(**data)

    def _run(self, input: Any = NO_INPUT) -> Any:
        value = input
        for iteration in range(1, self.n + 1):
            for _, step in named_steps(self):
                value = _call(step, value, iteration)
        return value


def is_composite(config: Any) -> bool:
    return isinstance(config, Chain | Loop)
