"""The architecture, checked: imports go one way, no cycles, no oversized module.

Layers, lowest first; a module may import from its own layer and the layers
below it, never above. ``engine`` and ``observe`` share a layer but must not
know each other. Cycles are checked on the imports that run (those under
``if TYPE_CHECKING:`` are for type hints only); the direction is checked on
every import, type hints included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[2] / "ezpipe"
LAYERS: list[set[str]] = [
    {"version", "errors", "records", "options", "events", "jsonfile", "bulk"},  # vocabulary
    {"names", "steps", "paths", "decorate", "keys", "graph", "steptable", "arrays"},  # definition
    {
        "store",
        "outputs",
        "lock",
        "runlog",
        "plan",
        "why",
        "adopt",
        "folderview",
        "slurm",
        "trust",
    },  # storage, policy, backends
    {"engine", "observe"},  # execution and its observers, unaware of each other
    {"session", "schema", "lookup", "pipeline", "config", "reader"},  # the user's side
    {"cli", "__main__", "__init__"},  # the command line; the package's re-exports
]
APART = {"engine": "observe", "observe": "engine"}
MAX_LINES = 420


def top(module: str) -> str:
    """``ezpipe.engine.loop`` -> ``engine``; ``ezpipe`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(name: str) -> int:
    for number, layer in enumerate(LAYERS):
        if name in layer:
            return number
    raise AssertionError(f"ezpipe.{name} belongs to no layer: add it to LAYERS")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, own: str | None = None) -> list[tuple[str, bool]]:
    """(imported ezpipe module, at run time?) for every import in the file, read as
    module ``own`` (by default the module the path is)."""
    tree = ast.parse(path.read_text())
    own = own or module_name(path)
    package = own if path.name == "__init__.py" else own.rsplit(".", 1)[0]
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            names = [stem] if node.module else [f"{stem}.{a.name}" for a in node.names]
        for name in names:
            if name == "ezpipe" or name.startswith("ezpipe."):
                found.append((name, id(node) not in typing_only))
    return found


def graph() -> tuple[nx.DiGraph, list[tuple[str, str]]]:
    runtime = nx.DiGraph()
    every: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        runtime.add_node(source)
        for target, at_run_time in imports(path):
            every.append((source, target))
            if at_run_time and top(target) != top(source):
                runtime.add_edge(top(source), top(target))
    return runtime, every


def test_every_import_goes_down_or_sideways():
    _, every = graph()
    upward = [
        f"{source} -> {target}"
        for source, target in every
        if top(source) not in ("__init__", "__main__")
        and layer_of(top(target)) > layer_of(top(source))
    ]
    assert upward == []


def test_engine_and_observers_do_not_know_each_other():
    _, every = graph()
    crossing = [f"{s} -> {t}" for s, t in every if APART.get(top(s)) == top(t)]
    assert crossing == []


def test_no_import_cycle_between_parts():
    runtime, _ = graph()
    runtime.remove_node("__init__")  # re-exports everything; nothing imports it at run time
    cycles = list(nx.simple_cycles(runtime))
    assert cycles == []


def test_no_module_is_too_long_to_hold_in_one_read():
    long = {
        path.relative_to(PACKAGE).as_posix(): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_checker_sees_upward_and_typing_only_imports(tmp_path):
    """The checks above would catch a violation: a store importing the engine."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\nfrom .engine import loop\n"
        "if TYPE_CHECKING:\n    from .pipeline import Pipeline\n"
    )
    found = imports(probe, "ezpipe.store")
    assert found == [("ezpipe.engine", True), ("ezpipe.pipeline", False)]
    assert all(layer_of(top(name)) > layer_of("store") for name, _ in found)
