"""Accepting a change without recomputing: adopt stored results under new keys.

Two cases, both decided here and applied by rank 0 before a run, so the run
then reuses the adopted results like any other:

``accept=[functions]`` (``ezpipe run --accept FUNCTION``)
    a step whose current definition has no result, but which has a stored
    *passed* result whose definition differs only in the source of the named
    functions (the step function, a helper or a decorator of that name), gets
    that result under its current key. Adoption carries downstream: a step
    whose stored definition differs only by the key of an upstream step that
    was just adopted is adopted too. Recorded failures are never adopted.
``accept_scheme`` (``--accept-scheme``)
    a result computed under key scheme v1 (before ezpipe 0.2) is found under the
    step's v1 key and adopted, unless v1 was blind to part of the step (bound
    methods, decorators, globals, helpers, partials, callable objects): then it
    may be stale and is recomputed.

The adopted record says where the result came from (``adopted_from``, ``accepted``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from .graph import step_manifest
from .plan import Plan, v1_keys, v1_result
from .records import Status, StepRecord
from .steps import Step
from .store import Store

log = logging.getLogger(__name__)
SOURCE_KINDS = ("function", "helper", "decorator")


def _accepted_part(ident: str, functions: set[str]) -> bool:
    kind, _, name = ident.partition(":")
    short = name.rsplit(".", 1)[-1]
    return kind in SOURCE_KINDS and (name in functions or short in functions)


def differs_only_in(
    old: dict[str, Any], new: dict[str, Any], functions: set[str], moved: dict[str, str]
) -> bool:
    """Whether two manifests differ only in accepted source parts, or in upstream keys
    that moved by adoption (``moved``: old upstream key -> its new key)."""
    if old.get("version") != new.get("version") or old.get("scheme") != new.get("scheme"):
        return False
    old_parts, new_parts = old.get("parts", {}), new.get("parts", {})
    for ident in set(old_parts) | set(new_parts):
        before, after = old_parts.get(ident), new_parts.get(ident)
        if before is not None and after is not None and before["digest"] == after["digest"]:
            continue
        if before is not None and after is not None and _accepted_part(ident, functions):
            continue
        if (
            ident.startswith("upstream:")
            and before is not None
            and after is not None
            and moved.get(before["digest"]) == after["digest"]
        ):
            continue
        return False
    return True


def adopt(
    plan: Plan, store: Store, functions: Iterable[str] = (), *, accept_scheme: bool = False
) -> list[str]:
    """Adopt what may be adopted (rank 0, before the run); the names of adopted steps."""
    accepted = set(functions)
    if not accepted and not accept_scheme:
        return []
    order = [i for phase in plan.frozen.phases for i in phase]
    legacy = v1_keys(plan.steps, order) if accept_scheme else []
    moved: dict[str, str] = {}
    adopted: list[str] = []
    chosen = set(plan.selected)
    for index in order:
        step = plan.steps[index]
        if index not in chosen or plan.forced[index] or store.has_record(step.name, step.key):
            continue
        source = None
        manifest = step_manifest(step)
        if accepted:
            source = next(
                (
                    r
                    for r in store.records_of(step.name)
                    if r.status == Status.PASSED
                    and r.manifest is not None
                    and differs_only_in(r.manifest, manifest, accepted, moved)
                ),
                None,
            )
        if source is None and accept_scheme:
            source = _v1_source(step, store, legacy[index])
        if source is None:
            continue
        data = store.read_result_bytes(source)
        if data is None:  # damaged: recompute rather than adopt
            continue
        record = source.model_copy(
            update={
                "key": step.key,
                "manifest": manifest,
                "adopted_from": source.key,
                "accepted": sorted(accepted) if source.manifest is not None else ["scheme v1"],
                "cached": False,
            }
        )
        store.commit(record, data)
        moved[source.key] = step.key
        adopted.append(step.name)
    if adopted:
        log.info("adopted %d stored results: %s", len(adopted), ", ".join(adopted[:10]))
    return adopted


def _v1_source(step: Step, store: Store, v1_key: str) -> StepRecord | None:
    record, blind = v1_result(step, store, v1_key)
    if record is not None and blind:
        log.warning(
            "not adopting the v1 result of %r: key scheme v1 could not see its %s; it is "
            "recomputed",
            step.name,
            ", ".join(blind),
        )
        return None
    return record
