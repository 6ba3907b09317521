"""``ConfigStep``: a step written as a pydantic model (exca's ``Step``).

Fields are the parameters, validated when the model is built; ``_run`` computes.
A ``_run(self)`` without an input is a generator; ``_run(self, input)`` a
transformer (named inputs ``_run(self, a, b)`` work too). Subclassing
registers the class under its import path (``mypkg.steps.Scale``) and its
short name (``Scale``), so a dict with a ``type`` key becomes that subclass:
that is what lets a whole pipeline come from YAML. A field typed
``ConfigStep`` accepts an instance, a dict with ``type``, a list (a chain) or
a dict of dicts (a named chain).

What enters a step's content key is :func:`identity`: the class and its
validated fields, minus those declared not to change the result
(``exclude_from_key = ("n_jobs",)`` on the class, or
``Field(json_schema_extra={"exclude_from_key": True})``), nested steps
reduced the same way; ``version`` (a class attribute) invalidates old results.
Resource defaults (``ranks``, ``threads``, ``gpus``, ``memory``, ``timeout``)
are class attributes too: they say where a step runs, never what it computes,
so they are not in the key.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from typing_extensions import Self

from ..errors import ConfigError

_BY_PATH: dict[str, type[ConfigStep]] = {}
_BY_SHORT: dict[str, dict[str, type[ConfigStep]]] = {}
RESOURCES = ("ranks", "threads", "gpus", "memory", "timeout")


def type_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def registered() -> dict[str, type[ConfigStep]]:
    """Every registered config step class by import path (a copy)."""
    return dict(_BY_PATH)


def resolve_type(name: Any, base: type[ConfigStep] | None = None) -> type[ConfigStep]:
    """The class a ``type`` value names: an import path, else a unique short name.

    An import path not yet registered is imported (``mypkg.steps.Scale`` imports
    ``mypkg.steps``). An unknown or ambiguous name is an error saying what is known.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"'type' must be the name of a step class, got {name!r}")
    cls = _BY_PATH.get(name)
    if cls is None:
        candidates = _BY_SHORT.get(name, {})
        if len(candidates) > 1:
            raise ValueError(
                f"step type {name!r} is ambiguous: {sorted(candidates)}; write its import path"
            )
        cls = next(iter(candidates.values()), None)
    if cls is None and "." in name:
        cls = _import(name)
    if cls is None:
        known = sorted({*_BY_SHORT, *_BY_PATH})
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"unknown step type {name!r}{hint} (a ConfigStep subclass, by import path "
            "like 'mypkg.steps.Scale' or by the name of an imported class)"
        )
    if base is not None and not issubclass(cls, base):
        raise ValueError(f"step type {name!r} is a {cls.__name__}, not a {base.__name__}")
    return cls


def _import(path: str) -> type[ConfigStep] | None:
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {module_name!r} for step type {path!r}: {exc}"
        ) from None
    found = getattr(module, attr, None)
    if not (isinstance(found, type) and issubclass(found, ConfigStep)):
        raise ValueError(f"{path!r} is not a ConfigStep subclass (found {found!r})")
    return found


class ConfigStep(BaseModel):
    """Base class of steps written as pydantic models; see the module docstring."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    exclude_from_key: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str | int | None] = None
    cache_mode: ClassVar[str | None] = None  # the class's cache mode ("force", ...)
    ranks: ClassVar[int | None] = None
    threads: ClassVar[int | None] = None
    gpus: ClassVar[int | None] = None
    memory: ClassVar[str | None] = None
    timeout: ClassVar[float | str | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        path = type_path(cls)
        _BY_PATH[path] = cls  # a redefinition (a re-run cell, a test) replaces the old one
        _BY_SHORT.setdefault(cls.__name__, {})[path] = cls
        unknown = set(cls.exclude_from_key) - set(cls.model_fields)
        if unknown:
            raise TypeError(f"{cls.__name__}.exclude_from_key names no field: {sorted(unknown)}")

    @model_validator(mode="wrap")
    @classmethod
    def _dispatch(cls, value: Any, handler: Any) -> Any:
        """A dict with ``type`` becomes that subclass; a list or a dict of step dicts
        becomes a :class:`~ezpipe.config.chain.Chain` where a chain is accepted."""
        if isinstance(value, Mapping) and "type" in value:
            target = resolve_type(value["type"], cls)
            rest = {k: v for k, v in value.items() if k != "type"}
            if target is not cls:
                return target.model_validate(rest)
            value = rest
        elif isinstance(value, list | tuple) and cls in (ConfigStep, _chain_class()):
            return _chain_class()(steps=value)
        elif isinstance(value, Mapping) and cls is ConfigStep:
            if value and _all_steps(value):  # a dict of step dicts: a named chain
                return _chain_class()(steps=value)
            raise ValueError("a step needs a 'type' (the name of its class)")
        return handler(value)

    # -- computing ------------------------------------------------------------------------------
    def _run(self, *inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define _run()")

    def run(self, *inputs: Any, **named: Any) -> Any:
        """Compute in this process, without a pipeline or cache (for trying a config)."""
        return self._run(*inputs, **named)

    # -- configuration --------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """The config as a plain dict with ``type`` keys: what a file would hold."""
        out: dict[str, Any] = {"type": type_path(type(self))}
        for name in type(self).model_fields:
            out[name] = _dump(getattr(self, name))
        return out

    def clone(self, patch: Mapping[str, Any] | None = None, **fields: Any) -> Self:
        """A validated copy with dotted paths replaced (``{"steps.scale.coeff": 3.0}``).

        A path that names nothing is an error naming it; so is a value that does
        not validate (with its path).
        """
        data = self.to_config()
        for path, value in {**(patch or {}), **fields}.items():
            set_path(data, path, value)
        return validate(type(self), data)

    def excluded_fields(self) -> set[str]:
        """Fields left out of the key: the class's list and fields marked in ``Field``."""
        out = set(type(self).exclude_from_key)
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("exclude_from_key"):
                out.add(name)
        return out

    @classmethod
    def setting(cls, name: str) -> Any:
        """A class-level setting (``version``, ``ranks``, ...); None where the class made
        that name a field instead (then it is a parameter like any other)."""
        if name in cls.model_fields:
            return None
        return getattr(cls, name, None)

    @classmethod
    def resources(cls) -> dict[str, Any]:
        """The class's resource defaults that are set (for the step options)."""
        values = {name: cls.setting(name) for name in RESOURCES}
        return {name: value for name, value in values.items() if value is not None}


def _all_steps(value: Mapping[str, Any]) -> bool:
    return all(isinstance(v, Mapping | ConfigStep | list) for v in value.values())


def _chain_class() -> type[ConfigStep]:
    from .chain import Chain  # a subclass defined beside: imported when first needed

    return Chain


def _dump(value: Any) -> Any:
    if isinstance(value, ConfigStep):
        return value.to_config()
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    return value


def identity(value: Any) -> Any:
    """What a config contributes to a content key: type and kept fields, recursively."""
    if isinstance(value, ConfigStep):
        excluded = value.excluded_fields()
        fields = {
            name: identity(getattr(value, name))
            for name in type(value).model_fields
            if name not in excluded
        }
        return {"type": type_path(type(value)), "version": type(value).setting("version"), **fields}
    if isinstance(value, dict):
        return {k: identity(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(identity(v) for v in value)
    return value


def set_path(data: Any, path: str, value: Any, *, create: bool = False) -> None:
    """Replace the value at dotted ``path`` in nested dicts and lists, in place.

    ``create``: the last key may be new (a field left at its default in a file;
    validation then refuses a field the class does not have, naming its path).
    """
    parts = path.split(".")
    node = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[: depth + 1])
        if isinstance(node, dict) and (part in node or (create and last)):
            if last:
                node[part] = value
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            if last:
                node[int(part)] = value
            node = node[int(part)]
        else:
            options = list(node) if isinstance(node, dict) else None
            close = difflib.get_close_matches(part, options or [], n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            where = f" (there: {', '.join(map(str, options))})" if options and not close else ""
            raise ConfigError(f"{path}: no such path ({here!r} names nothing{hint}){where}")


def describe_errors(
    exc: ValidationError, prefix: str = "", rename: Mapping[str, str | None] | None = None
) -> str:
    """One line per problem: ``steps.scale.coeff: input should be a number, got 'x'``.

    ``rename`` maps the first element of a location to how the file spells it
    (None: the file has no such level, as for a chain written as a bare list).
    """
    lines = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"] if not _noise(p)]
        if rename and loc and loc[0] in rename:
            new = rename[loc[0]]
            loc = loc[1:] if new is None else [new, *loc[1:]]
        path = ".".join([prefix, *loc] if prefix else loc) or "(top)"
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        elif error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "field required"
        else:
            message = message.split(", unable to")[0]
        message = message.replace("a valid integer", "an integer").replace("a valid ", "a ")
        message = message[:1].lower() + message[1:]
        got = error.get("input")
        shown = "" if error["type"] == "missing" or isinstance(got, dict) else f", got {got!r}"
        lines.append(f"{path}: {message}{shown}")
    return "\n".join(dict.fromkeys(lines))


def _noise(part: Any) -> bool:
    """Pydantic's names of inner validators in error locations (not paths in a file)."""
    return isinstance(part, str) and ("function-" in part or part.startswith(("list[", "dict[")))


def validate(
    cls: type[ConfigStep],
    data: Any,
    prefix: str = "",
    rename: Mapping[str, str | None] | None = None,
) -> Any:
    """``cls.model_validate(data)``, a :class:`ConfigError` with paths when it fails."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, prefix, rename)) from None
