"""Steering one run: ``dry_run``, ``run_only``, ``from_step``, ``max_concurrent``.

Pure functions of the frozen steps (every rank computes the same answer), plus
the environment variables through which ``ezpipe run`` passes its options to a
script whose ``pipeline.execute()`` call it cannot edit. A value set in the
environment wins over the one in the script: the command line is the later,
more specific wish.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import DefinitionError
from .graph import reachable
from .records import Mode, Status
from .steps import Step

ENV_DRY_RUN = "EZPIPE_DRY_RUN"
ENV_RUN_ONLY = "EZPIPE_RUN_ONLY"  # JSON list of regular expressions
ENV_FROM_STEP = "EZPIPE_FROM_STEP"  # JSON list of step names
ENV_MAX_CONCURRENT = "EZPIPE_MAX_CONCURRENT"
ENV_MODE = "EZPIPE_MODE"


@dataclass
class Options:
    dry_run: bool = False
    run_only: list[str] | None = None
    from_step: list[str] | None = None
    max_concurrent: int | None = None
    mode: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v not in (None, False)}


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _env_list(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return [raw]
    return _as_list(value)


def resolve_options(
    dry_run: bool = False,
    run_only: str | Iterable[str] | None = None,
    from_step: str | Iterable[str] | None = None,
    max_concurrent: int | None = None,
    mode: Mode | str | None = None,
) -> Options:
    """The run's options: the call's, overridden by ``ezpipe run``'s environment."""
    options = Options(
        dry_run,
        _as_list(run_only),
        _as_list(from_step),
        max_concurrent,
        None if mode is None else Mode.parse(mode).value,
    )
    if os.environ.get(ENV_MODE):
        options.mode = Mode.parse(os.environ[ENV_MODE]).value
    if os.environ.get(ENV_DRY_RUN, "").lower() in ("1", "true", "yes"):
        options.dry_run = True
    options.run_only = _env_list(ENV_RUN_ONLY) or options.run_only
    options.from_step = _env_list(ENV_FROM_STEP) or options.from_step
    if os.environ.get(ENV_MAX_CONCURRENT, "").isdigit():
        options.max_concurrent = int(os.environ[ENV_MAX_CONCURRENT])
    if options.max_concurrent is not None and options.max_concurrent < 1:
        raise DefinitionError(f"max_concurrent must be at least 1, got {options.max_concurrent}")
    return options


def environment(options: Options) -> dict[str, str]:
    """The variables that pass ``options`` to a script started by ``ezpipe run``."""
    env: dict[str, str] = {}
    if options.dry_run:
        env[ENV_DRY_RUN] = "1"
    if options.run_only:
        env[ENV_RUN_ONLY] = json.dumps(options.run_only)
    if options.from_step:
        env[ENV_FROM_STEP] = json.dumps(options.from_step)
    if options.max_concurrent is not None:
        env[ENV_MAX_CONCURRENT] = str(options.max_concurrent)
    if options.mode is not None:
        env[ENV_MODE] = options.mode
    return env


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


def dry_run_rows(
    steps: Sequence[Step],
    order: Sequence[int],
    todo: Sequence[int] | None,
    modes: Sequence[Mode],
    forced: Sequence[bool],
    reusable: Any,
    previous: Any,
) -> list[dict[str, Any]]:
    """What a run would do with each step (visited in topological ``order``).

    ``reusable(i)`` and ``previous(i)`` read the cache. A step below a cached
    failure would be skipped; below a step that would run, nothing is known yet.
    """
    selected = None if todo is None else set(todo)
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
        elif (record := reusable(i)) is not None:
            action = CACHED if record.status == Status.PASSED else CACHED_FAILURE
        elif modes[i] == Mode.READ_ONLY and not forced[i]:
            action = MISSING
        else:
            action = WOULD_RUN
            last = previous(i)
            if forced[i]:
                reason = "forced"
            elif last is not None and last.status == Status.FAILED:
                reason = "failed last time"
            elif last is not None and last.status == Status.SKIPPED:
                reason = "skipped last time"
            else:
                reason = "not cached"
        rows[i] = {
            "name": step.name,
            "phase": step.phase,
            "action": action,
            "reason": reason,
            "key": step.key[:16],
        }
    return [rows[s.index] for s in steps]


def dry_run_text(rows: Sequence[dict[str, Any]], folder: str) -> str:
    """The dry run's report: one line per step, then the totals."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["action"]] = counts.get(row["action"], 0) + 1
    totals = ", ".join(f"{n} {action}" for action, n in counts.items())
    width = max((len(r["name"]) for r in rows), default=4)
    lines = [f"Dry run @ {folder}: nothing was run ({len(rows)} steps: {totals})"]
    lines.append(f"{'step':<{width}}  phase  {'action':<19} reason")
    for r in rows:
        lines.append(f"{r['name']:<{width}}  {r['phase']:>5}  {r['action']:<19} {r['reason']}")
    return "\n".join(lines) + "\n"
