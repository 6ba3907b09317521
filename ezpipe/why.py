"""Why a step runs again: its key's parts against the stored definition nearest to it.

Every record carries the manifest of its key (:mod:`ezpipe.keys`); the schema
carries the current definition's. The stored definition *nearest* to the
current one is the one with the fewest changed parts, and those parts, in
:func:`ezpipe.keys.explain`'s words (``argument n: 1000 -> 2000``, ``source of
f changed (lines 12-14)``, ``global SCALE: 1.0 -> 10.0``, ``upstream load
changed``, ``version 1 -> 2``), are the reasons the dry run and ``ezpipe why``
give.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .keys import explain, legacy_manifest
from .records import StepRecord

NEVER_RUN = "never computed: no stored definition of this step"


def nearest(
    current: dict[str, Any], stored: Iterable[StepRecord]
) -> tuple[StepRecord | None, list[str]]:
    """The stored record nearest to ``current`` (its own record excluded) and what
    differs from it."""
    best: tuple[StepRecord | None, list[str]] = (None, [NEVER_RUN])
    for record in stored:
        if record.key == current.get("key"):
            continue
        old = record.manifest or legacy_manifest(record.key)
        reasons = explain(old, current)
        if best[0] is None or len(reasons) < len(best[1]):
            best = (record, reasons)
    return best


def reasons(current: dict[str, Any], stored: Iterable[StepRecord]) -> str:
    """The reasons as one line for a table (the dry run's reason column)."""
    return "; ".join(nearest(current, stored)[1]) or "unchanged"
