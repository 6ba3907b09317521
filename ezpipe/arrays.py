"""``as_numpy_step``: array results kept as ``.npy`` files, read memory-mapped downstream.

A pickled result is read, checked and unpickled whole by every consumer, so a
result of several GB costs several times its size in memory. A numpy step
writes its array with ``numpy.save`` into its own output folder (see
:mod:`ezpipe.outputs`: checksummed in the record, committed with the step)
and stores only a tiny marker as its result; a consumer receives
``numpy.load(path, mmap_mode="c")``: pages are read when touched and a write
stays private to that consumer (copy-on-write), so steps may still change
their inputs freely. ``Pipeline.get_result`` returns the same memory map.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .decorate import StepFunction, as_pickle_step
from .steps import Owner, PlaceHolder, Step

ARRAY_FILE = "result.npy"


class NumpyResult:
    """The stored result of a numpy step: where its array lies in its output folder."""

    __slots__ = ("dtype", "file", "shape")

    def __init__(self, file: str, shape: tuple[int, ...], dtype: str) -> None:
        self.file = file
        self.shape = shape
        self.dtype = dtype

    def __getstate__(self) -> tuple[str, tuple[int, ...], str]:
        return self.file, self.shape, self.dtype

    def __setstate__(self, state: tuple[str, tuple[int, ...], str]) -> None:
        self.file, self.shape, self.dtype = state

    def __ezpipe_load__(self, folder: Path) -> Any:
        import numpy as np

        return np.load(folder / self.file, mmap_mode="c", allow_pickle=False)

    def __repr__(self) -> str:
        return f"<numpy result {self.file} {self.dtype}{list(self.shape)}>"


def _numpy_wrapper(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with its array written to ``output_dir``; keyed as ``func`` itself
    (``__wrapped__``), and marked so that the sandbox passes ``output_dir``."""

    @functools.wraps(func)
    def run(*args: Any, output_dir: Path, **kwargs: Any) -> NumpyResult:
        import numpy as np

        value = func(*args, **kwargs)
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"a numpy step must return a numpy array, {func.__qualname__} returned "
                f"{type(value).__qualname__}"
            )
        if value.dtype.hasobject:
            raise TypeError("a numpy step cannot store an array of Python objects")
        np.save(output_dir / ARRAY_FILE, value, allow_pickle=False)
        return NumpyResult(ARRAY_FILE, tuple(value.shape), value.dtype.str)

    run.__ezpipe_wants__ = ("output_dir",)  # type: ignore[attr-defined]
    return run


def as_numpy_step(
    pipeline: Owner,
    depends_on: Iterable[Step | PlaceHolder] | None = None,
    **options: Any,
) -> Callable[[Callable[..., Any]], StepFunction]:
    """Decorator like :func:`ezpipe.as_pickle_step` (same options) for functions that
    return one numpy array: it is saved as ``result.npy`` in the step's output folder
    and consumers get it memory-mapped (copy-on-write)."""
    decorate = as_pickle_step(pipeline, depends_on, **options)
    return lambda func: decorate(_numpy_wrapper(func))
