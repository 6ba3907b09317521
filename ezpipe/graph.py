"""Freezing a pipeline: the DAG, its validation, phases, content keys and the schema.

Everything here is pure and deterministic, so every rank computes the same
frozen pipeline from the same script, and a definition error is raised on
every rank alike (nobody is left waiting in a collective).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import networkx as nx

from . import jsonfile
from .bulk import no_gc
from .errors import CycleError, DefinitionError
from .keys import (
    KeyDigests,
    Manifest,
    StepRef,
    build_manifest,
    compact_parts,
    hash_value,
    key_session,
    step_key_and_digests,
)
from .keys import short_repr as key_repr
from .steps import Step, substitute
from .version import __version__

REPR_LIMIT = 200
# A k-rank step's key hashes k as one more argument, under a name no parameter can
# have; a 1-rank step hashes none, so every key made before ranks= existed stays valid.
RANKS_ARGUMENT = "\x00ranks"
T = TypeVar("T")


@dataclass(frozen=True)
class FrozenGraph:
    """The validated DAG of a pipeline; nodes are step indices.

    The networkx graph is dropped once phases are known (it was 0.6 KB a step); what
    a run needs is the dependencies, which the steps hold already.
    """

    dependencies: list[tuple[int, ...]]  # per step, the indices it waits for
    phases: list[list[int]]
    schema_hash: str
    key_warnings: tuple[str, ...] = ()  # what keys cannot see, once per step function

    def descendants(self, index: int) -> set[int]:
        dependents: list[list[int]] = [[] for _ in self.dependencies]
        for child, parents in enumerate(self.dependencies):
            for parent in parents:
                dependents[parent].append(child)
        return reachable([index], dependents.__getitem__) - {index}


def reachable(roots: Iterable[T], neighbours: Callable[[T], Iterable[T]]) -> set[T]:
    """``roots`` and everything reachable from them (used on step indices and on names
    read back from a folder, where no frozen graph exists)."""
    seen: set[T] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(neighbours(node))
    return seen


def build_graph(deps: Sequence[Sequence[int]]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(deps)))
    graph.add_edges_from((d, index) for index, ds in enumerate(deps) for d in ds)
    return graph


def phases_of(graph: nx.DiGraph, steps: Sequence[Step]) -> list[list[int]]:
    """The DAG's topological generations, each sorted; a cycle is named step by step."""
    try:
        return [sorted(generation) for generation in nx.topological_generations(graph)]
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(graph)
        names = " -> ".join(steps[u].name for u, _ in cycle) + f" -> {steps[cycle[0][0]].name}"
        raise CycleError(f"the pipeline's dependencies form a cycle: {names}") from None


def key_arguments(step: Step) -> dict[str, Any]:
    """The arguments a step's key hashes: upstream steps as references to their keys,
    and a k-rank step's k."""
    arguments = step.bound
    if step.upstream or step.key_after:
        arguments = substitute(arguments, lambda s: StepRef(s.key, s.name))
    if step.definition.resources.ranks > 1:  # a decomposition can change the result
        arguments = {**arguments, RANKS_ARGUMENT: step.definition.resources.ranks}
    return arguments


def assign_keys(steps: Sequence[Step], order: Sequence[int]) -> list[str]:
    """Content keys, in topological order so upstream keys exist when needed; returns
    the key warnings, once per step function (call inside ``key_session()``: each
    function and each large value is then hashed once)."""
    warned: dict[tuple[int, str], str] = {}
    for index in order:
        step = steps[index]
        definition = step.definition
        arguments = key_arguments(step)
        try:  # every upstream key counts, also those exclude_from_key leaves out
            made = step_key_and_digests(
                definition.func,
                arguments,
                [steps[d].key for d in step.dependencies],
                definition.version,
                definition.exclude_from_key,
                step_name=step.name,
            )
        except Exception as exc:
            raise unhashable(step, arguments, exc) from exc
        step.key, step.digests, step.described = made.key, made.digests, made.description
        for warning in made.warnings:
            warned.setdefault((id(definition), warning.name), warning.message(step.name))
    return list(warned.values())


def step_manifest(step: Step) -> Manifest:
    """The manifest of a frozen step's key: what a record stores and ``why`` compares."""
    if step.described is None:
        raise DefinitionError(f"step {step.name!r} has no key yet: freeze the pipeline first")
    steps = step.registry.steps
    deps = step.dependencies
    definition = step.definition
    made = KeyDigests(step.key, step.described, step.digests, ())
    return build_manifest(
        made,
        key_arguments(step),
        [steps[d].key for d in deps],
        definition.version,
        definition.exclude_from_key,
        upstream_names=[steps[d].name for d in deps],
    )


def unhashable(step: Step, arguments: dict[str, Any], exc: Exception) -> DefinitionError:
    """The error for an argument the content key cannot hash (a lock, an open file):
    it names the step and the parameter, and the way out."""
    excluded = set(step.definition.exclude_from_key)
    for parameter, value in arguments.items():
        if parameter in excluded:
            continue
        try:
            hash_value(value)
        except Exception as error:
            return DefinitionError(
                f"argument {parameter!r} of step {step.name!r} ({step.function_name}) cannot "
                f"be hashed into the step's cache key: {type(error).__name__}: {error}. If it "
                f"cannot change the result, leave it out of the key with "
                f"exclude_from_key=[{parameter!r}] in the step's decorator; else pass a "
                "picklable value (a path, the settings) and build the object inside the step"
            )
    return DefinitionError(
        f"the cache key of step {step.name!r} ({step.function_name}) cannot be computed: "
        f"{type(exc).__name__}: {exc}"
    )


def freeze(steps: Sequence[Step]) -> FrozenGraph:
    """Validate the DAG, compute phases (topological generations) and keys."""
    with no_gc():  # its passes over a million live steps find nothing: a tenth of a freeze
        return _freeze(steps)


def _freeze(steps: Sequence[Step]) -> FrozenGraph:
    # Shared with the steps where they can be: a million steps, a million tuples.
    deps = [step.upstream if not step.after else tuple(step.dependencies) for step in steps]
    graph = build_graph(deps)
    phases = phases_of(graph, steps)
    for number, phase in enumerate(phases):
        for index in phase:
            steps[index].phase = number
    order = [i for phase in phases for i in phase]
    if any(step.key_after for step in steps):  # nonblocking: keys still go upstream first
        keyed = build_graph([[*step.dependencies, *step.key_after] for step in steps])
        order = [i for phase in phases_of(keyed, steps) for i in phase]
    with key_session():
        warnings = assign_keys(steps, order)
    digest = hashlib.sha256()
    for step, ds in zip(steps, deps, strict=True):
        digest.update(f"{step.name}\x00{step.key}\x00{list(ds)}\n".encode())
    return FrozenGraph(deps, phases, digest.hexdigest(), tuple(warnings))


class _Ref:
    """Shows an upstream step inside an argument repr as ``<name>``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


def short_repr(value: Any) -> str:
    """A bounded repr of arguments, upstream steps shown as ``<name>``."""
    return _bounded(repr(substitute(value, lambda s: _Ref(s.name))))


def argument_reprs(step: Step) -> tuple[str, str]:
    """The bounded reprs of a step's positional and keyword arguments, upstream steps
    shown as ``<name>`` (the schema's and the summary's ``args`` and ``kwargs``). A step
    without upstream steps has none in its arguments: no copy to make (a third of
    writing a million steps' schema)."""
    if step.upstream or step.key_after:
        return short_repr(list(step.args)), short_repr(step.kwargs)
    return _bounded(repr(list(step.args))), _bounded(repr(step.kwargs))


def _bounded(text: str) -> str:
    return text if len(text) <= REPR_LIMIT else text[: REPR_LIMIT - 3] + "..."


def step_entry(step: Step, steps: Sequence[Step], sources: dict[str, Any]) -> dict[str, Any]:
    definition = step.definition
    manifest = step_manifest(step)
    args, kwargs = argument_reprs(step)
    return {
        "name": step.name,
        "function": step.function_name,
        "module": getattr(definition.func, "__module__", None),
        "args": args,
        "kwargs": kwargs,
        "depends_on": [steps[d].name for d in step.dependencies],
        "key": step.key,
        "fingerprint": manifest["fingerprint"],
        "version": definition.version,
        "parts": compact_parts(manifest, sources),
    }


def schema_document(
    name: str, folder: str, steps: Sequence[Step], frozen: FrozenGraph
) -> dict[str, Any]:
    """``pipeline.schema``: each phase's steps with what identifies them and the parts
    of their keys (for ``ezpipe why``), sources shared in one table."""
    sources: dict[str, Any] = {}
    with key_session():  # one memo of reprs and function parts for every manifest
        phases = {
            f"{number}": [step_entry(steps[i], steps, sources) for i in phase]
            for number, phase in enumerate(frozen.phases)
        }
    return {
        "pipeline": name,
        "folder": folder,
        "schema_hash": frozen.schema_hash,
        "n_steps": len(steps),
        "phases": phases,
        "sources": sources,
    }


def schema_identity(name: str, folder: str, steps: Sequence[Step], frozen: FrozenGraph) -> str:
    """A digest of everything :func:`schema_document` writes: ``schema_hash`` (names, keys,
    dependencies), and what keys leave out: the pipeline's name and folder; each function's
    name, module, version and the parts of its key as written (source text, first line,
    file: a comment moves lines, not keys; the reprs of what it reads); every step's
    argument reprs, whole and one by one (an argument excluded from the key changes them,
    not the key; a dict's order, not its digest); ezpipe's version (the document's
    format). A fraction of building the document: an unchanged re-run writes none."""
    digest = hashlib.sha256(
        f"{__version__}\x00{name}\x00{folder}\x00{frozen.schema_hash}\n".encode()
    )
    seen: set[int] = set()
    with key_session() as context:
        for step in steps:
            definition, described = step.definition, step.described
            if id(definition) not in seen:
                seen.add(id(definition))
                module = getattr(definition.func, "__module__", None)
                digest.update(
                    f"f\x00{step.function_name}\x00{module}\x00{definition.version}\n".encode()
                )
            if described is not None and id(described) not in seen:
                seen.add(id(described))
                digest.update(repr(described.parts).encode())  # every field of each Part
            args, kwargs = argument_reprs(step)
            each = [key_repr(value, context) for value in key_arguments(step).values()]
            digest.update(f"{args}\x00{kwargs}\x00{each}\n".encode())
    return digest.hexdigest()


def dumps_schema(document: dict[str, Any]) -> str:
    """The schema's text: one line per step (and per shared source)."""
    return jsonfile.dumps(document, levels=3)
