"""Code objects and class attributes, analysed once per process: where a function
is written, what it reads, and which module-level values count as plain data.

Analysis of a code object cannot change while the process lives (a code object
is immutable, and an edited file gives new code objects on import), so it is
remembered by identity. Values (globals, closures) are read anew at each freeze.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import hashlib
import inspect
import os
import pathlib
import re
import types
from typing import Any

from . import syntax

# Attributes functools.update_wrapper copies onto a wrapper object: not its state.
WRAPPER_ATTRIBUTES = frozenset(
    (*functools.WRAPPER_ASSIGNMENTS, "__wrapped__", "__dict__", "__signature__")
)


# -- code objects, analysed once per process ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CodeInfo:
    definition: syntax.Definition | None
    digest: str
    chains: tuple[tuple[str, ...], ...]
    self_attributes: tuple[str, ...]


# By identity: equal code objects of two files (code equality ignores the file name)
# must not share a definition. The code object is held, so its id stays unique.
_STATIC: dict[int, tuple[types.CodeType, CodeInfo]] = {}


def _code_fallback(code: types.CodeType, out: list[bytes]) -> None:
    """Without source (exec of a string) only the bytecode identifies a function."""
    out.append(code.co_code)
    out.append(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_fallback(const, out)
        else:
            out.append(repr(const).encode())


def code_info(code: types.CodeType) -> CodeInfo:
    hit = _STATIC.get(id(code))
    if hit is not None and hit[0] is code:
        return hit[1]
    definition = syntax.find_function(code)
    if definition is not None:
        digest = definition.digest
    else:
        out = [code.co_name.encode()]
        _code_fallback(code, out)
        digest = hashlib.sha256(b"\x00".join(out)).hexdigest()
    found = CodeInfo(
        definition,
        digest,
        syntax.reads(definition, code),
        syntax.self_attributes(definition, code),
    )
    _STATIC[id(code)] = (code, found)
    return found


_PLAIN_TYPES = (bool, int, float, complex, str, bytes, range, decimal.Decimal, fractions.Fraction)
_PLAIN_BASES = (pathlib.PurePath, datetime.date, datetime.time, datetime.timedelta, re.Pattern)


def is_plain(value: Any, depth: int = 0) -> bool:
    """Data a global may hold and still be keyed: it cannot change behind the key's back."""
    if depth > 20:
        return False
    t = type(value)
    if value is None or t in _PLAIN_TYPES or isinstance(value, _PLAIN_BASES):
        return True
    if t.__module__ == "numpy" and hasattr(value, "dtype") and not hasattr(value, "__len__"):
        return True  # a numpy scalar
    if isinstance(value, enum.Enum):
        return True
    if isinstance(value, tuple | frozenset):
        return all(is_plain(item, depth + 1) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        params = getattr(t, "__dataclass_params__", None)
        return bool(params and params.frozen) and all(
            is_plain(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        )
    return False


def wrapped_chain(func: Any) -> list[Any]:
    """``func`` and what ``functools.wraps`` says it wraps, outermost first."""
    chain = [func]
    seen = {id(func)}
    while len(chain) < 100:
        inner = getattr(chain[-1], "__dict__", {}).get("__wrapped__")
        if inner is None or not callable(inner) or id(inner) in seen:
            break
        seen.add(id(inner))
        chain.append(inner)
    return chain


def functions_of(attribute: Any) -> list[types.FunctionType]:
    """The functions behind a class attribute (methods, static/class methods, properties)."""
    if isinstance(attribute, staticmethod | classmethod):
        attribute = attribute.__func__
    if isinstance(attribute, property):
        return [f for f in (attribute.fget, attribute.fset, attribute.fdel) if f is not None]
    return [attribute] if isinstance(attribute, types.FunctionType) else []


def call_method(obj: Any) -> Any:
    """The ``__call__`` defined by ``obj``'s class (a function for the user's classes)."""
    return inspect.getattr_static(type(obj), "__call__", None)


def basename(definition: syntax.Definition | None) -> str | None:
    return os.path.basename(definition.filename) if definition is not None else None


def find_class_definition(cls: type) -> syntax.Definition | None:
    try:
        filename = inspect.getsourcefile(cls)
    except TypeError:
        return None
    if not filename:
        return None
    first = getattr(cls, "__firstlineno__", None)  # 3.13
    if first is None:
        try:
            first = inspect.getsourcelines(cls)[1]
        except (OSError, TypeError):
            return None
    return syntax.find_class(filename, first, cls.__name__)
