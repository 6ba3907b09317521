"""Readable forms of values for manifests: short, bounded, free of addresses.

A manifest shows each argument and global as its user would write it
(``n_samples: 1000``); a repr is capped at 200 characters, containers show their
first items, arrays and frames their shape, and objects with the default repr
(which holds a memory address, and ``__main__``) their attributes.
"""

from __future__ import annotations

import functools
import reprlib
import types
from typing import Any

from .origin import callable_name, type_label
from .values import (
    _SCALARS,
    REPR_LIMIT,
    KeyContext,
    _has_state,
    _is_array,
    current_context,
    object_state,
)


class _Repr(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = REPR_LIMIT
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 12

    def repr_instance(self, obj: Any, level: int) -> str:
        if _is_array(obj):
            return f"array(shape={obj.shape}, dtype={obj.dtype})"
        module = type(obj).__module__ or ""
        if module.startswith("pandas") and hasattr(obj, "shape"):
            return f"{type(obj).__name__}(shape={obj.shape})"
        if isinstance(obj, types.FunctionType | functools.partial | types.MethodType):
            return callable_name(obj)
        if type(obj).__repr__ is object.__repr__ and _has_state(obj):
            # the default repr holds a memory address (and ``__main__``): show the state
            fields = ", ".join(
                f"{k}={self.repr1(v, level - 1)}" for k, v in list(object_state(obj).items())[:12]
            )
            return f"{callable_name(type(obj))}({fields})"
        try:
            return super().repr_instance(obj, level)
        except Exception:
            return f"<{type_label(type(obj))}>"


_REPR = _Repr()


def short_repr(value: Any, context: KeyContext | None = None) -> str:
    """A bounded readable form (at most ``REPR_LIMIT`` characters), remembered by
    identity like digests."""
    if type(value) in _SCALARS and not isinstance(value, str | bytes):
        return repr(value)
    memo = (context or current_context()).reprs
    hit = memo.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    try:
        text = _REPR.repr(value)
    except Exception:
        text = f"<{type_label(type(value))}>"
    if len(text) > REPR_LIMIT:
        text = text[: REPR_LIMIT - 3] + "..."
    memo[id(value)] = (value, text)
    return text
