"""What a step's callable computes with, as parts of its key.

A step's result depends on more than the text of its function: on the decorators
wrapped around it (``@scaled(2)``), on ``self`` for a bound method, on the
arguments frozen in a ``functools.partial``, on the state of a callable object,
on the module-level values it reads (``SCALE``, ``cfg.SCALE``) and on the
functions of the user's own files it calls, transitively. Each of these becomes
one :class:`Part`, so that a manifest can say which one changed. Code is keyed
by its syntax tree (:mod:`.syntax`); nothing in a part depends on the module
being ``__main__`` or imported.

Code outside the user's files (standard library, installed packages, ezpipe)
is not followed: it changes only with an upgrade, which ``version=`` covers.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import logging
import types
from typing import Any

from . import syntax
from .code import (
    WRAPPER_ATTRIBUTES,
    CodeInfo,
    basename,
    call_method,
    code_info,
    find_class_definition,
    functions_of,
    is_plain,
    wrapped_chain,
)
from .origin import (
    callable_name,
    decorator_name,
    is_ezpipe_object,
    is_user_function,
    is_user_module,
    is_user_type,
    type_label,
)
from .parts import KeyWarning, Part
from .readable import short_repr
from .values import (
    KeyContext,
    UnhashableValue,
    current_context,
    digest_value,
    object_state,
)


@dataclasses.dataclass(frozen=True)
class Description:
    """Everything a callable contributes to a key."""

    name: str
    parts: tuple[Part, ...]
    warnings: tuple[KeyWarning, ...]
    blind: frozenset[str]  # the categories key scheme v1 could not see
    fingerprint: str


class _Builder:
    """One walk from a step's callable through everything it reads, cycle-safe."""

    def __init__(self, context: KeyContext) -> None:
        self.context = context
        self.parts: dict[str, Part] = {}
        self.warnings: list[KeyWarning] = []
        self.blind: set[str] = set()
        self.seen: set[int] = set()
        self.keep: list[Any] = []  # what ``seen`` names stays alive, so no id is reused
        self.queue: list[tuple[types.FunctionType, str, type | None]] = []
        self.chain: set[int] = set()

    def _first_visit(self, obj: Any) -> bool:
        if id(obj) in self.seen:
            return False
        self.seen.add(id(obj))
        self.keep.append(obj)
        return True

    def add(self, part: Part, reader: str = "") -> None:
        ident = part.ident
        existing = self.parts.get(ident)
        if existing is not None:
            if existing.digest == part.digest:
                return
            part = dataclasses.replace(part, name=f"{part.name} (in {reader or '?'})")
            ident = part.ident
            number = 2
            while ident in self.parts:
                ident = f"{part.ident}#{number}"
                number += 1
        self.parts[ident] = part

    def warn(self, function: str, kind: str, name: str, value: Any, reason: str) -> None:
        self.warnings.append(KeyWarning(function, kind, name, type_label(type(value)), reason))

    def digest(self, value: Any, function: str, kind: str, name: str) -> str:
        try:
            return digest_value(value, self.context).hex()
        except UnhashableValue as exc:
            self.warn(function, kind, name, value, str(exc))
            return hashlib.sha256(f"unkeyed {type_label(type(value))}".encode()).hexdigest()

    # -- the step's callable ----------------------------------------------------------------
    def root(self, func: Any, self_type: type | None = None) -> None:
        if isinstance(func, functools.partial):
            self.blind.add("partial")
            name = callable_name(func.func)
            for number, value in enumerate(func.args):
                digest = self.digest(value, name, "partial", f"#{number}")
                self.add(Part("partial", f"{name}.#{number}", digest, short_repr(value)))
            for keyword, value in sorted(func.keywords.items()):
                digest = self.digest(value, name, "partial", keyword)
                self.add(Part("partial", f"{name}.{keyword}", digest, short_repr(value)))
            self.root(func.func, self_type)
            return
        if isinstance(func, types.MethodType):
            self.blind.add("bound method")
            owner = func.__self__
            name = callable_name(func)
            self.add(
                Part("self", name, self.digest(owner, name, "self", "self"), short_repr(owner))
            )
            self.root(func.__func__, owner if isinstance(owner, type) else type(owner))
            return
        chain = wrapped_chain(func)
        if len(chain) > 1:
            self.blind.add("decorator")
            self.chain.update(id(link) for link in chain)
            for wrapper in chain[:-1]:
                self.decorator(wrapper)
            self.root(chain[-1], self_type)
            return
        if isinstance(func, types.FunctionType):
            self.function(func, "function", callable_name(func), self_type)
        elif isinstance(func, type):
            self.cls(func, "function")
        elif isinstance(call_method(func), types.FunctionType):
            self.blind.add("callable object")
            self.instance(func, "function")
        else:  # a builtin, a ufunc: known by name (it changes only with an upgrade)
            label = f"{getattr(func, '__module__', '')}.{callable_name(func)}"
            self.add(Part("function", callable_name(func), _sha(label), label))
        self.drain()

    def decorator(self, wrapper: Any) -> None:
        if isinstance(wrapper, types.FunctionType):
            self.function(wrapper, "decorator", decorator_name(wrapper), None)
        elif isinstance(call_method(wrapper), types.FunctionType):
            self.instance(wrapper, "decorator")
        else:
            label = type_label(type(wrapper))
            self.add(Part("decorator", decorator_name(wrapper), _sha(label), label))

    def instance(self, obj: Any, kind: str) -> None:
        """A callable object: its class's ``__call__`` (with what it reads) and its state."""
        cls = type(obj)
        name = callable_name(obj) if kind == "function" else decorator_name(obj)
        call = call_method(obj)
        static = code_info(call.__code__)
        state = object_state(obj, WRAPPER_ATTRIBUTES)
        state_digest = self.digest(state, name, "self", "state")
        definition = static.definition
        if kind == "function":  # the state is its own part: "self of Scaler: ... -> ..."
            self.add(Part("self", name, state_digest, short_repr(obj, self.context)))
        self.add(
            Part(
                kind,
                name,
                static.digest if kind == "function" else _sha(static.digest + state_digest),
                None if kind == "function" or not state else short_repr(state, self.context),
                definition.source if definition else None,
                definition.first_line if definition else None,
                basename(definition),
            )
        )
        self.seen.add(id(call))
        self.keep.append(call)
        if is_user_function(call):
            self.reads(call, static, name)
            self.self_attributes(static, cls, name)

    # -- functions and classes ----------------------------------------------------------------
    def function(
        self, func: types.FunctionType, kind: str | None, name: str, self_type: type | None
    ) -> None:
        """One function's part (``kind`` None: its code is inside a class part already)
        and, for the user's own code, what it reads."""
        if not self._first_visit(func):
            return
        static = code_info(func.__code__)
        pieces = [static.digest]
        for value in (*(func.__defaults__ or ()), *sorted((func.__kwdefaults__ or {}).items())):
            pieces.append(self.digest(value, name, "default", "default"))
        texts = []
        cells = zip(func.__code__.co_freevars, func.__closure__ or (), strict=False)
        for variable, cell in cells:
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell: the variable is not assigned yet
                continue
            if id(content) in self.chain or is_ezpipe_object(content):
                continue
            if isinstance(content, types.FunctionType) and is_user_function(content):
                self.queue.append((content, callable_name(content), None))
                pieces.append(f"helper {variable}")
                continue
            if isinstance(content, type) and is_user_type(content):
                self.cls(content)
                pieces.append(f"class {variable}")
                continue
            digest = self.digest(content, name, "closure", variable)
            if kind == "decorator":
                pieces.append(f"{variable}={digest}")
                texts.append(f"{variable}={short_repr(content)}")
            else:
                self.add(Part("closure", f"{name}.{variable}", digest, short_repr(content)))
        if kind is not None:
            definition = static.definition
            self.add(
                Part(
                    kind,
                    name,
                    _sha("\x00".join(pieces)),
                    ", ".join(texts)[:200] if texts else None,
                    definition.source if definition else None,
                    definition.first_line if definition else None,
                    basename(definition),
                )
            )
        if is_user_function(func):
            self.reads(func, static, name)
            if self_type is not None:
                self.self_attributes(static, self_type, name)

    def cls(self, cls: type, kind: str = "class") -> None:
        """A class of the user's: its whole statement (decorators included: ``@dataclass``
        changes behaviour) and what its methods read; user base classes too."""
        if not self._first_visit(cls):
            return
        definition = find_class_definition(cls)
        digest = _sha(type_label(cls))
        if definition is not None:
            digest = syntax.syntax_digest(definition.node, drop_decorators=False)
        self.add(
            Part(
                kind,
                callable_name(cls),
                digest,
                None,
                definition.source if definition else None,
                definition.first_line if definition else None,
                basename(definition),
            )
        )
        for base in cls.__mro__[1:]:
            if is_user_type(base):
                self.cls(base)
        for attribute in list(vars(cls).values()):
            for func in functions_of(attribute):
                if is_user_function(func):
                    self.function(func, None, f"{callable_name(cls)}.{func.__name__}", cls)

    def self_attributes(self, static: CodeInfo, self_type: type, reader: str) -> None:
        for attribute in static.self_attributes:
            try:
                raw = inspect.getattr_static(self_type, attribute)
            except AttributeError:
                continue
            functions = functions_of(raw)
            for func in functions:
                if is_user_function(func):
                    name = f"{callable_name(self_type)}.{func.__name__}"
                    self.queue.append((func, name, self_type))
            if not functions and is_plain(raw) and is_user_type(self_type):
                # a class attribute read through self: not in the instance's state
                name = f"{callable_name(self_type)}.{attribute}"
                digest = self.digest(raw, reader, "global", name)
                self.add(Part("global", name, digest, short_repr(raw, self.context)), reader)

    def reads(self, func: types.FunctionType, static: CodeInfo, reader: str) -> None:
        """Module-level names the function reads: plain data becomes a ``global`` part,
        the user's functions and classes are followed; through user modules too."""
        namespace = func.__globals__
        for chain in static.chains:
            if chain[0] not in namespace:
                continue  # a builtin, or not defined yet
            value = namespace[chain[0]]
            walked = [chain[0]]
            for attribute in chain[1:]:
                if not (isinstance(value, types.ModuleType) and is_user_module(value)):
                    break
                if not hasattr(value, attribute):
                    break
                value = getattr(value, attribute)
                walked.append(attribute)
            name = ".".join(walked)
            try:
                self.global_value(name, value, reader)
            except Exception as exc:  # a global ezpipe cannot analyse must not stop a freeze
                self.warn(reader, "global", name, value, f"{type(exc).__name__}: {exc}")

    def global_value(self, name: str, value: Any, reader: str) -> None:
        if isinstance(value, types.ModuleType) or is_ezpipe_object(value):
            return
        if isinstance(value, types.FunctionType):
            if is_user_function(value):
                self.queue.append((value, callable_name(value), None))
            return
        if isinstance(value, type):
            if is_user_type(value):
                self.cls(value)
            return
        if isinstance(value, functools.partial | types.MethodType) or (
            callable(value) and is_user_type(type(value))
        ):
            if isinstance(value, types.MethodType) and not is_user_function(value.__func__):
                return
            if isinstance(value, functools.partial) and not is_user_function(value.func):
                return
            self.helper_value(name, value, reader)
            return
        if callable(value) and any(is_user_function(f) for f in wrapped_chain(value)[1:]):
            # a helper behind a wrapper object (functools.lru_cache, a jit)
            self.helper_value(name, value, reader)
            return
        if is_plain(value):
            digest = self.digest(value, reader, "global", name)
            self.add(Part("global", name, digest, short_repr(value, self.context)), reader)
        elif callable(value) or isinstance(value, logging.Logger):
            return  # a library's function or object: not followed
        else:
            self.warn(reader, "global", name, value, "it is not plain data")

    def helper_value(self, name: str, value: Any, reader: str) -> None:
        """A callable global that is not a plain function (a partial, a bound method, a
        wrapper object): described on its own, its warnings carried along."""
        described = describe(value, self.context)
        self.warnings.extend(w for w in described.warnings if w not in self.warnings)
        self.add(Part("helper", name, described.fingerprint), reader)

    def drain(self) -> None:
        while self.queue:
            func, name, self_type = self.queue.pop(0)
            self.function(func, "helper", name, self_type)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def describe(func: Any, context: KeyContext | None = None) -> Description:
    """The parts of ``func``'s fingerprint, remembered for the session."""
    context = context or current_context()
    hit = context.functions.get(id(func))
    if hit is not None and hit[0] is func:
        return hit[1]
    if id(func) in context.building:  # it reaches itself through a value (a global partial)
        name = callable_name(func)
        return Description(name, (), (), frozenset(), _sha(f"cycle {name}"))
    context.stats["fingerprints"] += 1
    builder = _Builder(context)
    context.building.add(id(func))
    try:
        builder.root(func)
        builder.drain()
    finally:
        context.building.discard(id(func))
    parts = tuple(builder.parts.values())
    if any(p.kind == "global" for p in parts):
        builder.blind.add("global")
    if any(p.kind in ("helper", "class") for p in parts):
        builder.blind.add("helper")
    fingerprint = _sha("\n".join(sorted(f"{p.ident}={p.digest}" for p in parts)))
    description = Description(
        callable_name(func), parts, tuple(builder.warnings), frozenset(builder.blind), fingerprint
    )
    context.functions[id(func)] = (func, description)
    return description


def function_fingerprint(func: Any, context: KeyContext | None = None) -> str:
    """Hex digest of everything ``func`` computes with (see :func:`describe`)."""
    return describe(func, context).fingerprint


def v1_blind_spots(func: Any) -> tuple[str, ...]:
    """What key scheme v1 did not see in ``func``: ``bound method``, ``callable object``,
    ``decorator``, ``global``, ``helper``, ``partial``. Empty: a v1 key of ``func`` is
    as trustworthy as the definition it names, and an old result may be adopted."""
    return tuple(sorted(describe(func).blind))
