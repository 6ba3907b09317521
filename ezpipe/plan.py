"""The plan of one run: which steps run, in which cache mode, and the one run-or-reuse decision.

Pure functions of the frozen steps and the run's options, so every rank
derives the same :class:`Plan`. :func:`reusable` is the single place that
decides whether a step's stored outcome is reused instead of running it: the
executor asks it, and the dry run predicts with it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import why
from .errors import DefinitionError
from .graph import FrozenGraph, reachable, step_manifest
from .keys import StepRef, legacy_function_fingerprint_v1, legacy_step_key_v1, v1_blind_spots
from .options import RunOptions
from .outputs import record_matches
from .records import Mode, Status, StepRecord
from .steps import Step, substitute
from .store import Store


@dataclass
class Plan:
    """Everything every rank must agree on before running (all derived identically)."""

    steps: Sequence[Step]
    frozen: FrozenGraph
    modes: list[Mode]
    forced: list[bool]
    policy: str = "dag"
    max_concurrent: int | None = None
    todo: list[int] | None = None  # the selected steps (run_only); None: every step
    tee_output: bool = True  # echo each step's captured output, prefixed, to the job output

    @classmethod
    def make(cls, steps: Sequence[Step], frozen: FrozenGraph, options: RunOptions) -> Plan:
        todo = select(steps, options.run_only)
        force = resolve_names(steps, options.from_step)
        modes, forced = plan_modes(steps, frozen, options.mode, force)
        return cls(
            steps,
            frozen,
            modes,
            forced,
            policy=options.policy,
            max_concurrent=options.max_concurrent,
            todo=todo,
            tee_output=options.tee_output,
        )

    @property
    def selected(self) -> Sequence[int]:
        return range(len(self.steps)) if self.todo is None else self.todo


def plan_modes(
    steps: Sequence[Step], frozen: FrozenGraph, run_mode: Mode, force: Sequence[int] = ()
) -> tuple[list[Mode], list[bool]]:
    """Each step's cache mode (its own, else the run's); force spreads downstream.

    ``force`` lists steps recomputed whatever their mode (``from_step``).
    """
    modes = [step.definition.mode or run_mode for step in steps]
    forced = [mode == Mode.FORCE for mode in modes]
    for index in force:
        forced[index] = True
    for phase in frozen.phases:  # topological order: parents settle before children
        for index in phase:
            if not forced[index] and any(forced[d] for d in steps[index].dependencies):
                forced[index] = True
    return modes, forced


def reusable(plan: Plan, store: Store, index: int) -> StepRecord | None:
    """The stored record a run of ``plan`` reuses for the step instead of running it."""
    if plan.forced[index]:
        return None
    step = plan.steps[index]
    cached = store.valid_record(step.name, step.key, fresh=False)  # a miss looks again
    if cached is not None and not record_matches(store, cached):
        return None  # its output folder was changed or lost: never used, recomputed
    if cached is not None and _reused_status(cached.status, plan.modes[index]):
        return cached
    return None


def _reused_status(status: Status, mode: Mode) -> bool:
    """Whether a verified record of this status is reused in this mode: a pass always; a
    recorded failure is what the cache holds, reused as exca does, unless retrying."""
    return status == Status.PASSED or (
        status == Status.FAILED and mode in (Mode.CACHED, Mode.READ_ONLY)
    )


def expected_reuse(plan: Plan, store: Store) -> frozenset[int]:
    """Steps the packed store's index holds a record for that :func:`reusable` would
    take, were it to verify: a cost estimate for batching on rank 0 (a re-run of 100,000
    reused steps then makes one round trip per batch, not per step), never the decision,
    which the worker makes. Empty for the per-step layout: it has no index to ask. A step
    with an output folder is left out: checking it hashes the folder's files."""
    if store.layout != "packed":
        return frozenset()
    steps = [
        step
        for step in plan.steps
        if not plan.forced[step.index] and "output_dir" not in step.definition.signature.parameters
    ]
    found = store.statuses([(step.name, step.key) for step in steps])
    return frozenset(
        step.index
        for step, status in zip(steps, found, strict=True)
        if status is not None and _reused_status(status, plan.modes[step.index])
    )


def stored_passes(plan: Plan, store: Store) -> dict[int, StepRecord]:
    """Steps left out of the run whose current definition has a verified passed result:
    the pipeline counts them as passed (from the cache), not as "not run"."""
    if plan.todo is None:
        return {}
    chosen = set(plan.todo)
    out = {}
    for step in plan.steps:
        if step.index not in chosen:
            record = store.valid_record(step.name, step.key)
            if record is not None and record.status == Status.PASSED:
                out[step.index] = record
    return out


def v1_keys(steps: Sequence[Step], order: Iterable[int]) -> list[str]:
    """Every step's key under scheme v1 (upstream keys being v1 keys too)."""
    keys = [""] * len(steps)
    for index in order:
        step = steps[index]
        definition = step.definition
        arguments = (
            substitute(step.bound, lambda s: StepRef(keys[s.index]))
            if step.upstream
            else step.bound
        )
        keys[index] = legacy_step_key_v1(
            legacy_function_fingerprint_v1(definition.func),
            arguments,
            [keys[d] for d in step.dependencies],
            definition.version,
            definition.exclude_from_key,
        )
    return keys


def v1_result(step: Step, store: Store, v1_key: str) -> tuple[StepRecord | None, tuple[str, ...]]:
    """A passed result of the step stored under key scheme v1 (None: there is none), and
    what v1 could not see in it (a result with blind spots must not be adopted)."""
    record = store.valid_record(step.name, v1_key)
    if record is None or record.status != Status.PASSED or record.manifest is not None:
        return None, ()
    return record, v1_blind_spots(step.definition.func)


def computed_under_v1(step: Step, store: Store, v1_key: str) -> str | None:
    """The dry run's note for a step whose result exists under scheme v1, else None."""
    record, blind = v1_result(step, store, v1_key)
    if record is None:
        return None
    if blind:
        return f"computed under key scheme v1, which could not see its {', '.join(blind)}"
    return "computed under key scheme v1 (--accept-scheme adopts it)"


def ancestors(steps: Sequence[Step], indices: Iterable[int]) -> set[int]:
    """The given steps and every step they depend on, transitively."""
    return reachable(indices, lambda index: steps[index].dependencies)


def select(steps: Sequence[Step], run_only: Sequence[str] | None) -> list[int] | None:
    """Steps whose name matches any pattern (``re.search``) and their dependencies."""
    if not run_only:
        return None
    try:
        patterns = [re.compile(p) for p in run_only]
    except re.error as exc:
        raise DefinitionError(f"run_only: bad regular expression: {exc}") from None
    matched = [s.index for s in steps if any(p.search(s.name) for p in patterns)]
    if not matched:
        raise DefinitionError(
            f"run_only {list(run_only)} matches no step; steps are named like "
            f"{[s.name for s in steps[:8]]}"
        )
    return sorted(ancestors(steps, matched))


def resolve_names(steps: Sequence[Step], names: Sequence[str] | None) -> list[int]:
    """Indices of the named steps; an unknown name is an error with suggestions."""
    by_name = {s.name: s.index for s in steps}
    out = []
    for name in names or ():
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=5)
            hint = f"; did you mean {close}?" if close else ""
            raise DefinitionError(f"from_step: the pipeline has no step named {name!r}{hint}")
        out.append(by_name[name])
    return out


# -- dry run ------------------------------------------------------------------------------------
WOULD_RUN = "run"
CACHED = "cached"
CACHED_FAILURE = "cached failure"
NOT_SELECTED = "not selected"
MISSING = "missing (read-only)"
WOULD_SKIP = "skip"


def dry_run_rows(plan: Plan, store: Store) -> list[dict[str, Any]]:
    """What a run of ``plan`` would do with each step, read from ``store``.

    A step below a cached failure would be skipped; below a step that would
    run, nothing is known yet.
    """
    steps, todo, modes, forced = plan.steps, plan.todo, plan.modes, plan.forced
    order = [i for phase in plan.frozen.phases for i in phase]
    selected = None if todo is None else set(todo)
    stored = store.names()  # a name not in it has no record of any key
    legacy: list[str] | None = None  # v1 keys, computed only if some step would run
    rows: dict[int, dict[str, Any]] = {}
    for i in order:
        step = steps[i]
        reason = ""
        blocked = [
            steps[d].name
            for d in step.dependencies
            if rows[d]["action"] in (CACHED_FAILURE, MISSING, WOULD_SKIP)
        ]
        if selected is not None and i not in selected:
            action = NOT_SELECTED
        elif blocked:
            action, reason = WOULD_SKIP, f"upstream {blocked[0]!r} would not pass"
        elif step.name not in stored:  # the answers below, without asking the store
            if forced[i]:
                action, reason = WOULD_RUN, "forced"
            elif modes[i] == Mode.READ_ONLY:
                action = MISSING
            else:
                action, reason = WOULD_RUN, why.NEVER_RUN
        elif (record := reusable(plan, store, i)) is not None:
            action = CACHED if record.status == Status.PASSED else CACHED_FAILURE
        elif modes[i] == Mode.READ_ONLY and not forced[i]:
            action = MISSING
        else:
            action = WOULD_RUN
            last = store.read_record(step.name, step.key)
            if forced[i]:
                reason = "forced"
            elif last is not None and last.status == Status.FAILED:
                reason = "failed last time"
            elif last is not None and last.status == Status.SKIPPED:
                reason = "skipped last time"
            else:
                if legacy is None:
                    legacy = v1_keys(steps, order)
                reason = computed_under_v1(step, store, legacy[i]) or why.reasons(
                    step_manifest(step), store.records_of(step.name)
                )
        rows[i] = {
            "name": step.name,
            "phase": step.phase,
            "action": action,
            "reason": reason,
            "key": step.key[:16],
        }
    return [rows[s.index] for s in steps]


DRY_RUN_SHOWN = 50  # steps the console lists one by one; a larger plan is shown grouped
SHOWN_GROUPS = 12
REASON_WIDTH = 60


def _headline(rows: Sequence[dict[str, Any]], folder: str) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["action"]] = counts.get(row["action"], 0) + 1
    totals = ", ".join(f"{n} {action}" for action, n in counts.items())
    return f"Dry run @ {folder}: nothing was run ({len(rows)} steps: {totals})"


def dry_run_digest(rows: Sequence[dict[str, Any]], folder: str, report: str) -> str:
    """What the console shows: a small plan's whole report; for a larger one, each
    (action, reason) with its number of steps and the first of them, largest first,
    and where the line of every step is (``report``: ``pipeline.dryrun``)."""
    if len(rows) <= DRY_RUN_SHOWN:
        return dry_run_text(rows, folder)
    groups: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        groups.setdefault((row["action"], row["reason"]), []).append(row["name"])
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    lines = [_headline(rows, folder), f"{'steps':>8}  {'action':<19} reason (first steps)"]
    for (action, reason), names in ordered[:SHOWN_GROUPS]:
        if len(reason) > REASON_WIDTH:
            reason = reason[: REASON_WIDTH - 3] + "..."
        first = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        lines.append(f"{len(names):>8}  {action:<19} {reason or '-'} ({first})")
    if len(ordered) > SHOWN_GROUPS:
        lines.append(f"{'':>8}  and {len(ordered) - SHOWN_GROUPS} more (action, reason) groups")
    lines.append(f"Every step, one line each: {report}")
    return "\n".join(lines) + "\n"


def dry_run_text(rows: Sequence[dict[str, Any]], folder: str) -> str:
    """The dry run's report: the totals, then one line per step."""
    width = max((len(r["name"]) for r in rows), default=4)
    lines = [_headline(rows, folder)]
    lines.append(f"{'step':<{width}}  phase  {'action':<19} reason")
    for r in rows:
        lines.append(f"{r['name']:<{width}}  {r['phase']:>5}  {r['action']:<19} {r['reason']}")
    return "\n".join(lines) + "\n"


HISTORY_LIMIT = 5_000  # steps; a larger plan (sweeps of short steps) skips the reading


def durations(plan: Plan, store: Store) -> dict[int, float]:
    """Seconds earlier runs took, per step of ``plan`` that is to run (rank 0, at plan time).

    A step's own newest record of any key counts (a changed definition usually
    takes about as long); a step without one takes the mean of its function's.
    The critical path and gang scheduling weigh steps by these, so a long point
    defined last in a sweep still starts first.
    """
    selected = list(plan.selected)
    if len(selected) > HISTORY_LIMIT:
        return {}
    own: dict[int, float] = {}
    by_function: dict[str, list[float]] = {}
    for index in selected:
        step = plan.steps[index]
        for record in store.records_of(step.name):  # newest first, in either layout
            if record.duration is not None and not record.cached:
                own[index] = record.duration
                by_function.setdefault(step.function_name, []).append(record.duration)
                break
    for index in selected:
        runs = by_function.get(plan.steps[index].function_name)
        if index not in own and runs:
            own[index] = sum(runs) / len(runs)
    return own
