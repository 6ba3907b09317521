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
from typing import Any

from pydantic import Field, field_validator

from .model import ConfigStep

NO_INPUT: Any = object()


def takes_input(config: ConfigStep) -> bool:
    """Does the step's ``_run`` take a positional input (a transformer)?"""
    return bool(input_names(config))


def input_names(config: ConfigStep) -> list[str]:
    """``_run``'s data parameters: not ``self``, nor what ezpipe passes itself."""
    params = list(inspect.signature(type(config)._run).parameters.values())[1:]
    reserved = {"output_dir", "resume_dir", "iteration"}
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


def _as_named(value: Any) -> Any:
    """A list of steps becomes a dict keyed by position, so every step has a path."""
    if isinstance(value, list | tuple):
        return {str(i): step for i, step in enumerate(value)}
    return value


class Chain(ConfigStep):
    """Steps in sequence; a list or a dict of steps (``Chain([A(), B()])`` works too)."""

    steps: dict[str, ConfigStep] = Field(min_length=1)

    def __init__(self, steps: Any = None, /, **data: Any) -> None:
        if steps is not None:
            data["steps"] = steps
        super().__init__(**data)

    @field_validator("steps", mode="before")
    @classmethod
    def _named_steps(cls, value: Any) -> Any:
        return _as_named(value)

    def _run(self, input: Any = NO_INPUT) -> Any:
        value = input
        for step in self.steps.values():
            value = _call(step, value)
        return value

    def to_config(self) -> dict[str, Any]:
        out = super().to_config()
        keys = list(self.steps)
        if keys == [str(i) for i in range(len(keys))]:  # written as a list: dumped as one
            out["steps"] = list(out["steps"].values())
        return out


class Loop(ConfigStep):
    """``steps`` repeated ``n`` times, each iteration fed by the previous one."""

    n: int = Field(ge=0)
    steps: dict[str, ConfigStep] = Field(min_length=1)

    def __init__(self, n: Any = None, steps: Any = None, /, **data: Any) -> None:
        if n is not None:
            data["n"] = n
        if steps is not None:
            data["steps"] = steps
        super().__init__(**data)

    @field_validator("steps", mode="before")
    @classmethod
    def _named_steps(cls, value: Any) -> Any:
        return _as_named(value)

    def _run(self, input: Any = NO_INPUT) -> Any:
        value = input
        for iteration in range(1, self.n + 1):
            for step in self.steps.values():
                value = _call(step, value, iteration)
        return value

    to_config = Chain.to_config


def is_composite(config: Any) -> bool:
    return isinstance(config, Chain | Loop)
