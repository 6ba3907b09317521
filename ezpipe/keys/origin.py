"""Whose code is this: the user's own files, or the standard library and packages.

Keys follow the user's own helpers and globals (they change while a project is
developed) and stop at the standard library and installed packages (they change
only with an upgrade, and following them would make every key cost a walk
through numpy). The decision is made by the file a module or function comes
from, never by its module name, which is ``__main__`` for the script that runs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import site
import sys
import sysconfig
import types
from typing import Any

_EZPIPE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# A prefix that is a whole system tree would make every project under it a library
# (Debian's python has prefix /usr, and projects live in /usr/src/app): such
# prefixes count only through their standard library and site directories.
_SHARED_PREFIXES = frozenset({"/", "/usr", "/usr/local", "/opt", os.path.expanduser("~")})


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots = {p for p in prefixes if os.path.realpath(p) not in _SHARED_PREFIXES}
    roots.add(os.path.dirname(os.__file__))  # the standard library
    paths = sysconfig.get_paths()
    roots.update(
        paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths
    )
    with contextlib.suppress(AttributeError):  # an old virtualenv's site module
        roots.update(site.getsitepackages())
    user_site = getattr(site, "getusersitepackages", lambda: None)()
    if user_site:
        roots.add(user_site)
    roots.add(_EZPIPE_DIR)
    return tuple(sorted({os.path.join(os.path.realpath(r), "") for r in roots if r}))


@functools.lru_cache(maxsize=8192)
def is_user_file(filename: str | None) -> bool:
    """True for a file of the user's project (or a notebook cell, ``<stdin>``).

    Not the standard library, not an installed package (under ``sys.prefix``, a
    ``site-packages`` or ``dist-packages`` folder), not ezpipe itself, and not code
    generated at run time (``<string>``: dataclass methods, namedtuples)."""
    if not filename:
        return False
    if filename.startswith("<"):
        return filename.startswith(("<ipython-input", "<stdin>"))
    path = os.path.realpath(filename)
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    return not any(path.startswith(root) for root in _library_roots())


def is_user_module(module: types.ModuleType) -> bool:
    filename = getattr(module, "__file__", None)
    if filename is None:  # a namespace package: judged by where it lives
        paths = list(getattr(module, "__path__", None) or ())
        return bool(paths) and all(is_user_file(os.path.join(p, "__init__.py")) for p in paths)
    return is_user_file(filename)


def is_user_function(func: Any) -> bool:
    code = getattr(func, "__code__", None)
    return isinstance(code, types.CodeType) and is_user_file(code.co_filename)


def is_user_type(cls: type) -> bool:
    module = sys.modules.get(getattr(cls, "__module__", "") or "")
    return module is not None and is_user_module(module)


def is_ezpipe_object(value: Any) -> bool:
    """A pipeline, a step function, a step: ezpipe's own objects are never data."""
    return (type(value).__module__ or "").startswith("ezpipe.")


def type_label(cls: type) -> str:
    """A type's name inside a key: the qualified name for the user's own types (the
    module of a script is ``__main__`` when it runs and its name when imported),
    module and qualified name for library types (``numpy.ndarray``)."""
    qualname = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", "?")
    if is_user_type(cls) or cls.__module__ == "__main__":
        return qualname
    return f"{cls.__module__}.{qualname}"


def _short_qualname(qualname: str) -> str:
    return qualname.rsplit("<locals>.", 1)[-1]


_NAMED = (
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.ClassMethodDescriptorType,
    types.MethodWrapperType,
)


def callable_name(func: Any) -> str:
    """A readable name for any callable a step may wrap, for logs and manifests.

    ``f``, ``Model.fit`` (a bound method), ``partial(f)``, ``Scaler`` (an instance
    with ``__call__``); never raises, unlike ``func.__qualname__``."""
    if isinstance(func, functools.partial):
        return f"partial({callable_name(func.func)})"
    if isinstance(func, types.MethodType):
        owner = func.__self__
        owner_name = owner.__qualname__ if isinstance(owner, type) else type(owner).__qualname__
        return f"{_short_qualname(owner_name)}.{getattr(func.__func__, '__name__', '?')}"
    if isinstance(func, _NAMED):
        name = getattr(func, "__qualname__", None) or getattr(func, "__name__", "?")
        return _short_qualname(str(name))
    copied = getattr(func, "__dict__", {}).get("__qualname__")  # a wrapper object
    if isinstance(copied, str):
        return _short_qualname(copied)
    return _short_qualname(type(func).__qualname__)


def decorator_name(wrapper: Any) -> str:
    """The decorator that built ``wrapper``: ``scaled`` for
    ``scaled.<locals>.decorate.<locals>.wrapper``."""
    if isinstance(wrapper, types.FunctionType):
        # functools.wraps copies the wrapped function's __qualname__ onto the wrapper;
        # the code object keeps the wrapper's own (3.11+; 3.10: the enclosing def)
        code = wrapper.__code__
        qualname = getattr(code, "co_qualname", None)
        if qualname is None:
            from .syntax import enclosing_function

            qualname = enclosing_function(code) or code.co_name
        return qualname.split(".<locals>.", 1)[0]
    return _short_qualname(type(wrapper).__qualname__)
