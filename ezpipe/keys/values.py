"""Values as stable digests: arguments, closure variables, globals, ``self``.

Python's salted ``hash()`` is never used: every unordered container (dict, set,
frozenset, at any depth, also inside the user's own objects) is encoded as the
sorted digests of its items, so a key is the same under any ``PYTHONHASHSEED``.
``OrderedDict`` keeps its order (two that differ in order are different values);
a plain dict does not. Plain values, namedtuples (field by field, so a lambda in
one is keyed by its fingerprint instead of failing to pickle), enums,
dataclasses, pydantic models, numpy arrays (dtype, shape and raw buffer) and
objects of the user's own classes (their ``__dict__``) are encoded here;
anything else goes to ``joblib.hash``, the hasher behind ``joblib.Memory``.

A :class:`KeyContext` remembers digests by object identity for one freeze, so an
80 MB array passed to 50 steps is hashed once, not 50 times.
"""

from __future__ import annotations

import abc
import collections
import contextlib
import dataclasses
import enum
import functools
import hashlib
import pathlib
import sys
import types
import typing
from collections.abc import Iterator
from typing import Any

from ..errors import DefinitionError
from .origin import is_ezpipe_object, is_user_type, type_label

REPR_LIMIT = 200  # characters of a readable form in a manifest


class StepRef:
    """Stands for an upstream step inside an argument tree: hashed as its key.

    ``name`` is only shown (``<load>`` in a manifest); it never enters a digest."""

    __slots__ = ("key", "name")

    def __init__(self, key: str, name: str | None = None) -> None:
        self.key = key
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name or self.key[:16]}>"


class UnhashableValue(DefinitionError):
    """A value cannot be keyed (joblib could not pickle it, or it refers to itself)."""


@dataclasses.dataclass
class KeyContext:
    """Memos valid for one freeze pass (objects may change between two freezes).

    ``values`` maps ``id(obj)`` to ``(obj, digest)``: holding ``obj`` keeps its id from
    being reused while the context lives. ``stats`` counts the expensive work done."""

    values: dict[int, tuple[Any, bytes]] = dataclasses.field(default_factory=dict)
    functions: dict[int, tuple[Any, Any]] = dataclasses.field(default_factory=dict)
    reprs: dict[int, tuple[Any, str]] = dataclasses.field(default_factory=dict)
    manifests: dict[int, tuple[Any, dict[str, Any]]] = dataclasses.field(default_factory=dict)
    building: set[int] = dataclasses.field(default_factory=set)  # callables being described
    stats: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


_ACTIVE: list[KeyContext] = []


@contextlib.contextmanager
def key_session() -> Iterator[KeyContext]:
    """``with key_session(): ...`` around a freeze: each large value and each function
    is hashed once for all the steps of the pass. Nested sessions share the outer one."""
    if _ACTIVE:
        yield _ACTIVE[-1]
        return
    context = KeyContext()
    _ACTIVE.append(context)
    try:
        yield context
    finally:
        _ACTIVE.pop()


def current_context() -> KeyContext:
    """The active session's context, or a fresh one used for a single call."""
    return _ACTIVE[-1] if _ACTIVE else KeyContext()


# -- the encoder ------------------------------------------------------------------------------

_SCALARS = (type(None), bool, int, float, str, bytes)


class Encoder:
    """One encoding pass. ``refs`` maps upstream keys to their position among the
    step's upstream keys (a StepRef is then encoded by position; the keys
    themselves enter the step key once, as the upstream parts)."""

    __slots__ = ("active", "context", "refs", "saw_ref")

    def __init__(self, context: KeyContext, refs: dict[str, int] | None = None) -> None:
        self.context = context
        self.refs = refs
        self.active: set[int] = set()
        self.saw_ref = False

    def digest(self, value: Any) -> bytes:
        """The sha256 digest of one value; remembered by identity when it holds no
        StepRef (a StepRef's encoding depends on the step)."""
        t = type(value)
        if t is str and len(value) <= 64:
            return _short_str_digest(value)
        if t in _SCALARS:
            out: list[bytes] = []
            self.encode(value, out)
            return hashlib.sha256(b"".join(out)).digest()
        memo = self.context.values
        hit = memo.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        saw_before, self.saw_ref = self.saw_ref, False
        out = []
        self.encode(value, out)
        digest = hashlib.sha256(b"".join(out)).digest()
        if not self.saw_ref:
            memo[id(value)] = (value, digest)
        self.saw_ref = self.saw_ref or saw_before
        return digest

    def encode(self, value: Any, out: list[bytes]) -> None:
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
        elif t is StepRef:
            self.saw_ref = True
            index = None if self.refs is None else self.refs.get(value.key)
            out.append(b"R" + value.key.encode() + b";" if index is None else b"r%d;" % index)
        else:
            self._compound(value, t, out)

    def _enter(self, value: Any) -> None:
        if id(value) in self.active:
            raise UnhashableValue(
                f"a {type_label(type(value))} that contains itself (a self-referential value "
                "cannot be part of a key: pass something without the cycle, or leave it out "
                "with exclude_from_key)"
            )
        self.active.add(id(value))

    def _items(self, tag: bytes, items: Any, out: list[bytes]) -> None:
        out.append(tag + b"%d[" % len(items))
        for item in items:
            self.encode(item, out)
        out.append(b"]")

    def _unordered(self, tag: bytes, digests: list[bytes], out: list[bytes]) -> None:
        digests.sort()
        out.append(tag + b"%d{" % len(digests) + b"".join(digests) + b"}")

    def _named(self, tag: bytes, value: Any, fields: dict[str, Any], out: list[bytes]) -> None:
        out.append(tag + type_label(type(value)).encode() + b"(")
        self._unordered(b"d", [self.digest(k) + self.digest(v) for k, v in fields.items()], out)
        out.append(b")")

    def _compound(self, value: Any, t: type, out: list[bytes]) -> None:
        if isinstance(value, enum.Enum):  # before int and str: IntEnum, StrEnum
            out.append(b"E" + type_label(t).encode() + b"." + value.name.encode() + b"=")
            self.encode(value.value, out)
            return
        if t is complex:
            out.append(b"c" + value.real.hex().encode() + b"," + value.imag.hex().encode() + b";")
            return
        if t is types.FunctionType or t is types.MethodType or t is functools.partial:
            from .functions import function_fingerprint  # functions encode values too

            out.append(b"F" + function_fingerprint(value).encode() + b";")
            return
        if isinstance(value, types.BuiltinFunctionType | type | types.ModuleType):
            label = type_label(value) if isinstance(value, type) else _dotted(value)
            out.append(b"Y" + label.encode() + b";")
            owner = getattr(value, "__self__", None)
            if isinstance(value, types.BuiltinMethodType) and not (
                owner is None or isinstance(owner, types.ModuleType)
            ):  # a method of a C object (rng.random, deque.extend): its object counts
                out.append(b"@" + self.digest(owner))
            return
        if is_ezpipe_object(value):  # a pipeline or step function read as data: not data
            out.append(b"Z" + type_label(t).encode() + b";")
            return
        if isinstance(value, pathlib.PurePath):
            out.append(b"p" + type_label(t).encode() + b":" + str(value).encode() + b";")
            return
        if _is_array(value):
            out.append(b"A" + self._array(value) + b";")
            return
        self._enter(value)
        try:
            if t is list or t is tuple:
                self._items(b"l" if t is list else b"t", value, out)
            elif isinstance(value, tuple) and hasattr(t, "_fields"):  # a namedtuple
                out.append(b"n" + type_label(t).encode() + b"(")
                self._items(b"t", list(zip(t._fields, value, strict=True)), out)
                out.append(b")")
            elif t is dict:
                self._unordered(
                    b"d", [self.digest(k) + self.digest(v) for k, v in value.items()], out
                )
            elif isinstance(value, collections.OrderedDict):  # order is part of its value
                out.append(b"o" + type_label(t).encode() + b":")
                self._items(b"t", list(value.items()), out)
            elif isinstance(value, dict):
                self._named(b"m", value, value, out)
            elif isinstance(value, set | frozenset):
                tag = b"S" if isinstance(value, set) else b"z"
                self._unordered(tag, [self.digest(item) for item in value], out)
            elif isinstance(value, list | tuple):
                out.append(b"q" + type_label(t).encode() + b":")
                self._items(b"t", value, out)
            elif dataclasses.is_dataclass(value):
                fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
                self._named(b"D", value, fields, out)
            elif hasattr(t, "model_fields") and hasattr(value, "model_dump"):  # pydantic
                self._named(b"P", value, dict(value), out)
            elif _is_plain_user_class(t) and _has_state(value):
                state = _custom_state(value)
                if isinstance(state, dict):
                    self._named(b"O", value, state, out)
                else:
                    out.append(b"O" + type_label(t).encode() + b"(")
                    self.encode(state, out)
                    out.append(b")")
            else:
                out.append(b"J" + type_label(t).encode() + b":" + self._joblib(value) + b";")
        finally:
            self.active.discard(id(value))

    def _array(self, value: Any) -> bytes:
        """dtype, shape, layout and the raw buffer of a numpy array (object arrays element by
        element). Remembered by identity: the expensive case is one big array
        passed to many steps."""
        memo = self.context.values
        hit = memo.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        import numpy as np

        self.context.stats["arrays"] += 1
        # the layout counts, as for joblib: C order, Fortran order or strided view
        flags = value.flags
        layout = "C" if flags.c_contiguous else "F" if flags.f_contiguous else "N"
        head = f"{value.dtype.str}|{value.dtype.descr!r}|{value.shape}|{layout}".encode()
        if value.dtype.hasobject:
            out: list[bytes] = []
            self._enter(value)
            try:
                self._items(b"t", value.ravel().tolist(), out)
            finally:
                self.active.discard(id(value))
            body = b"".join(out)
        else:
            raw = np.ascontiguousarray(value).reshape(-1).view(np.uint8)  # any dtype, 0-d too
            body = hash_buffer(memoryview(raw))
        digest = hashlib.sha256(head + b":" + body).hexdigest().encode()
        memo[id(value)] = (value, digest)
        return digest

    def _joblib(self, value: Any) -> bytes:
        memo = self.context.values
        hit = memo.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        self.context.stats["joblib"] += 1
        try:
            import joblib  # imported on first use: plain keys need only the standard library

            digest = joblib.hash(value).encode()
        except RecursionError:
            raise
        except Exception as exc:
            raise UnhashableValue(
                f"a {type_label(type(value))} cannot be hashed ({type(exc).__name__}: {exc})"
            ) from None
        memo[id(value)] = (value, digest)
        return digest


def hash_buffer(buffer: memoryview) -> bytes:
    """Digest of a raw buffer (numpy data): one place to count and to speed up."""
    return hashlib.sha256(buffer).digest()


@functools.lru_cache(maxsize=8192)
def _short_str_digest(value: str) -> bytes:
    """Digest of a short string, remembered: parameter names recur in every key."""
    data = value.encode("utf-8", "surrogatepass")
    return hashlib.sha256(b"s%d:" % len(data) + data).digest()


def _dotted(value: Any) -> str:
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    module = getattr(value, "__module__", None) or ""
    return f"{module}.{getattr(value, '__qualname__', getattr(value, '__name__', '?'))}"


def _is_array(value: Any) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.ndarray)


_HARMLESS_BASES = (object, abc.ABC, typing.Generic)
_PLAIN_CLASSES: dict[type, bool] = {}


def _is_plain_user_class(cls: type) -> bool:
    """A class of the user's whose instances are nothing but their attributes: every
    class in its MRO is the user's own (or ``object``, ``ABC``, ``Generic``). A user
    subclass of a library class (a DataFrame, a torch module) goes to joblib,
    which knows where such objects keep their data."""
    found = _PLAIN_CLASSES.get(cls)
    if found is None:
        found = is_user_type(cls) and all(
            base in _HARMLESS_BASES or is_user_type(base) for base in cls.__mro__
        )
        _PLAIN_CLASSES[cls] = found
    return found


def _custom_state(value: Any) -> Any:
    """The object's own ``__getstate__`` when its class defines one (it says what
    matters, e.g. leaving a cache out), else its attributes."""
    getstate = getattr(type(value), "__getstate__", None)
    if getstate is not None and getstate is not getattr(object, "__getstate__", None):
        return value.__getstate__()
    return object_state(value)


def _has_state(value: Any) -> bool:
    return hasattr(value, "__dict__") or bool(getattr(type(value), "__slots__", ()))


def object_state(value: Any, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """An object's attributes (``__dict__`` and ``__slots__``) as a dict."""
    state = {k: v for k, v in getattr(value, "__dict__", {}).items() if k not in skip}
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                state.setdefault(name, getattr(value, name))
    return state


def digest_value(
    value: Any, context: KeyContext | None = None, refs: dict[str, int] | None = None
) -> bytes:
    """sha256 digest of ``value``; raises :class:`UnhashableValue` for a value that
    refers to itself, is nested too deeply or cannot be pickled by joblib."""
    encoder = Encoder(context or current_context(), refs)
    try:
        return encoder.digest(value)
    except RecursionError:
        raise UnhashableValue(
            f"a {type_label(type(value))} nested too deeply to hash (or holding a cycle "
            "through objects ezpipe cannot see into)"
        ) from None


def hash_value(value: Any) -> str:
    """Stable hex digest of a value (same value, same digest, in any process)."""
    return digest_value(value).hex()
