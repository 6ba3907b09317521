"""Content keys: what a step's result depends on, as a stable hex digest.

A key hashes the function's fingerprint, the call's arguments (bound by
parameter name, ``exclude_from_key`` removed), the keys of upstream steps and
the decorator's ``version``. Python's salted ``hash()`` is never used.

Arguments made of plain values (None, bool, int, float, str, bytes and lists,
tuples, dicts and sets of them) are encoded by a small tagged encoder, which is
fast enough for 100,000-step sweeps. Dataclasses and pydantic models are
reduced to their type name and fields. Everything else (numpy arrays, pandas
objects, ...) is hashed with ``joblib.hash``, the well-kept hasher behind
``joblib.Memory``, which handles numpy buffers efficiently and orders dicts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import textwrap
import types
from collections.abc import Callable, Iterable
from typing import Any

KEY_LENGTH = 16  # hex digits kept in folder names; the full digest is in the record


class StepRef:
    """Stands for an upstream step inside an argument tree: hashed as its key."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


def _encode(value: Any, out: list[bytes]) -> None:
    """Append a tagged, order-independent encoding of ``value`` to ``out``."""
    t = type(value)
    if value is None:
        out.append(b"N")
    elif t is bool:
        out.append(b"T" if value else b"F")
    elif t is int:
        out.append(b"i%d;" % value)
    elif t is float:
        out.append(b"f" + value.hex().encode() + b";")
    elif t is str:
        data = value.encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(data) + data)
    elif t is bytes:
        out.append(b"b%d:" % len(value) + value)
    elif t is list or t is tuple:
        out.append(b"l%d[" % len(value) if t is list else b"t%d[" % len(value))
        for item in value:
            _encode(item, out)
        out.append(b"]")
    elif t is dict:
        items = sorted((_digest(k), _digest(v)) for k, v in value.items())
        out.append(b"d%d{" % len(items) + b"".join(k + v for k, v in items) + b"}")
    elif t is set or t is frozenset:
        out.append(b"S%d{" % len(value) + b"".join(sorted(map(_digest, value))) + b"}")
    elif t is StepRef:
        out.append(b"R" + value.key.encode() + b";")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        out.append(b"D" + _type_name(value).encode() + b"(")
        _encode(fields, out)
        out.append(b")")
    elif _is_pydantic_model(value):
        out.append(b"P" + _type_name(value).encode() + b"(")
        _encode(dict(value), out)  # field values, nested models kept as models
        out.append(b")")
    elif isinstance(value, types.FunctionType):
        out.append(b"C" + function_fingerprint(value).encode() + b";")
    else:
        import joblib  # here, not at the top: `ezpipe status` reads keys and never hashes

        out.append(b"J" + _type_name(value).encode() + b":" + joblib.hash(value).encode() + b";")


def _digest(value: Any) -> bytes:
    if type(value) is str and len(value) <= 64:
        return _name_digest(value)
    out: list[bytes] = []
    _encode(value, out)
    return hashlib.sha256(b"".join(out)).digest()


@functools.lru_cache(maxsize=4096)
def _name_digest(value: str) -> bytes:
    """Digest of a short string, remembered: parameter names recur in every key."""
    out: list[bytes] = []
    _encode(value, out)
    return hashlib.sha256(b"".join(out)).digest()


def _type_name(value: Any) -> str:
    t = type(value)
    return f"{t.__module__}.{t.__qualname__}"


def _is_pydantic_model(value: Any) -> bool:
    return hasattr(type(value), "model_fields") and hasattr(value, "model_dump")


def hash_value(value: Any) -> str:
    """Stable hex digest of a value (same value, same digest, in any process)."""
    return _digest(value).hex()


def _code_bytes(code: types.CodeType, out: list[bytes]) -> None:
    """Bytecode and constants, recursing into nested functions; no line numbers."""
    out.append(code.co_code)
    out.append(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_bytes(const, out)
        else:
            out.append(repr(const).encode())


def _source_without_decorators(func: Callable[..., Any]) -> str:
    """The function's source from its ``def`` line: decorator options (mode, name) are
    not part of what it computes, and ``version=`` enters the key on its own."""
    source = textwrap.dedent(inspect.getsource(func))
    lines = source.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if line.startswith(("def ", "async def ")):
            return "".join(lines[number:])
    return source


def _closure_value(cell: types.CellType) -> bytes:
    """A closure variable is an input like an argument (factories: ``make_step(k)``).

    Values that cannot be hashed (open files, locks, the pipeline itself) count by
    their type only."""
    try:
        value = cell.cell_contents
    except ValueError:  # an empty cell: the variable is not assigned yet
        return b"<empty>"
    if type(value).__module__.startswith("ezpipe"):  # a pipeline or step: not data
        return _type_name(value).encode()
    try:
        return _digest(value)
    except Exception:
        return _type_name(value).encode()


_FINGERPRINTS: dict[Callable[..., Any], str] = {}


def function_fingerprint(func: Callable[..., Any]) -> str:
    """Digest of a function's source text (where available) and bytecode with constants."""
    cached = _FINGERPRINTS.get(func)
    if cached is not None:
        return cached
    target = inspect.unwrap(func)
    out = [f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}".encode()]
    # Built at run time (exec, REPL) there is no source: the bytecode below still identifies it.
    with contextlib.suppress(OSError, TypeError):
        out.append(_source_without_decorators(target).encode())
    code = getattr(target, "__code__", None)
    if code is not None:
        _code_bytes(code, out)
        for cell in getattr(target, "__closure__", None) or ():
            out.append(_closure_value(cell))
    else:
        out.append(repr(target).encode())
    digest = hashlib.sha256(b"\x00".join(out)).hexdigest()
    with contextlib.suppress(TypeError):  # an unhashable callable is fingerprinted each time
        _FINGERPRINTS[func] = digest
    return digest


def step_key(
    fingerprint: str,
    arguments: dict[str, Any],
    upstream_keys: Iterable[str],
    version: str | None,
    exclude: Iterable[str] = (),
) -> str:
    """The content key of one step (a full sha256 hex digest)."""
    excluded = set(exclude)
    kept = {k: v for k, v in arguments.items() if k not in excluded}
    out = [b"ezpipe-key-v1", fingerprint.encode(), (version or "").encode()]
    _encode(kept, out)
    out.extend(k.encode() for k in upstream_keys)
    return hashlib.sha256(b"\x00".join(out)).hexdigest()
