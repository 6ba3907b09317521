"""A function's code as ezpipe's own canonical encoding of its syntax tree.

Why not the bytecode or ``ast.dump``: both change between Python minor versions
(``ast.dump`` changed its output in 3.13, bytecode changes in every release), so a
key built on them would recompute every result after an interpreter upgrade. The
tree itself is stable: this module walks it and writes node type names, the fields
that are set (sorted by name, so a field added by a later Python with an empty
default changes nothing) and constant values tagged by type. Comments, formatting
and spellings of one constant (``200_000`` and ``200000``) never reach the tree;
docstrings do, so they are stripped explicitly.

This module uses the standard library only, so the tests can run it under other
interpreters and check that the encoding is the same.
"""

from __future__ import annotations

import ast
import dis
import hashlib
import linecache
import os
import types
from dataclasses import dataclass

# Fields that say nothing about what code computes: type comments are comments and
# ``Constant.kind`` only records a ``u''`` prefix.
_SKIPPED_FIELDS = frozenset({"type_comment", "kind"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _constant(value: object) -> str:
    """A constant, tagged by type so that ``1``, ``1.0`` and ``True`` differ."""
    if value is None:
        return "N"
    if value is True or value is False:
        return "T" if value else "F"
    if value is Ellipsis:
        return "E"
    if isinstance(value, int):
        return f"i{value}"
    if isinstance(value, float):
        return f"f{value.hex()}"
    if isinstance(value, complex):
        return f"c{value.real.hex()},{value.imag.hex()}"
    if isinstance(value, str):
        return f"s{len(value)}:{value}"
    if isinstance(value, bytes):
        return f"b{len(value)}:{value.hex()}"
    return f"?{type(value).__name__}:{value!r}"  # no other constant exists in 3.10-3.13


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _joined_parts(values: list[ast.expr]) -> list[object]:
    """An f-string's pieces with literal text merged and empty text dropped: Python
    3.12's parser (PEP 701) splits literal text differently, and 3.12.0-3.12.1 add
    empty pieces to format specs."""
    merged: list[object] = []
    for value in values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            if not value.value:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] += value.value
            else:
                merged.append(value.value)
        else:
            merged.append(value)
    return [ast.Constant(value=v) if isinstance(v, str) else v for v in merged]


def _encode(node: object, out: list[str], top: bool) -> None:
    if isinstance(node, ast.AST):
        out.append(type(node).__name__)
        out.append("(")
        for name in sorted(node._fields):
            if name in _SKIPPED_FIELDS:
                continue
            # The step function's own decorator lines (``@pipeline.step(...)``, and any
            # other) are left out: decorators that change what runs are keyed through
            # the wrapper chain they build (``__wrapped__``), with their arguments.
            if top and name == "decorator_list":
                continue
            value = getattr(node, name, None)
            if value is None or (isinstance(value, list) and not value):
                continue
            if name == "body" and isinstance(node, _SCOPES) and value and _is_docstring(value[0]):
                value = value[1:]
            if name == "values" and isinstance(node, ast.JoinedStr):
                value = _joined_parts(value)
            out.append(name)
            out.append("=")
            _encode(value, out, False)
            out.append(";")
        out.append(")")
    elif isinstance(node, list):
        out.append("[")
        for item in node:
            _encode(item, out, False)
            out.append(",")
        out.append("]")
    else:
        out.append(_constant(node))


def canonical(node: ast.AST, *, drop_decorators: bool = True) -> str:
    """The canonical text of ``node``: what the fingerprint hashes."""
    out: list[str] = []
    _encode(node, out, drop_decorators)
    return "".join(out)


def syntax_digest(node: ast.AST, *, drop_decorators: bool = True) -> str:
    """sha256 hex digest of :func:`canonical`."""
    return hashlib.sha256(canonical(node, drop_decorators=drop_decorators).encode()).hexdigest()


def source_digest(source: str) -> str:
    """Digest of the first definition in a piece of source (tests and tools)."""
    tree = ast.parse(source)
    node = next((n for n in ast.walk(tree) if isinstance(n, _DEFINITIONS)), tree)
    return syntax_digest(node)


# -- finding a code object's definition in its file -------------------------------------------


@dataclass(frozen=True)
class _FileTree:
    lines: tuple[str, ...]
    by_line: dict[int, tuple[ast.AST, ...]]  # first line (decorators included) -> nodes


_TREES: dict[tuple[str, int, int], _FileTree | None] = {}


def _first_line(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", None)
    return decorators[0].lineno if decorators else node.lineno  # type: ignore[attr-defined]


def _file_tree(filename: str) -> _FileTree | None:
    """The parsed file, cached by name, size and modification time (an edited file is
    read again); files that only live in ``linecache`` (notebook cells) are cached by
    name."""
    try:
        stat = os.stat(filename)
        token = (filename, stat.st_size, stat.st_mtime_ns)
        linecache.checkcache(filename)
    except OSError:
        token = (filename, -1, -1)
    if token in _TREES:
        return _TREES[token]
    lines = linecache.getlines(filename)
    tree: _FileTree | None = None
    if lines:
        try:
            module = ast.parse("".join(lines))
        except (SyntaxError, ValueError):
            module = None
        if module is not None:
            by_line: dict[int, list[ast.AST]] = {}
            for node in ast.walk(module):
                if isinstance(node, _DEFINITIONS):
                    by_line.setdefault(_first_line(node), []).append(node)
            tree = _FileTree(tuple(lines), {k: tuple(v) for k, v in by_line.items()})
    _TREES[token] = tree
    return tree


def _lambda_column(code: types.CodeType) -> int | None:
    """Where a lambda's body starts (3.11+), to tell apart lambdas on one line."""
    positions = getattr(code, "co_positions", None)
    if positions is None:
        return None
    columns = [  # zero-width positions (RESUME, the implicit return) say nothing
        col
        for line, _end, col, end_col in positions()
        if line == code.co_firstlineno and col is not None and end_col is not None and end_col > col
    ]
    return min(columns) if columns else None


@dataclass(frozen=True)
class Definition:
    """Where a function or class is written, and its canonical digest."""

    node: ast.AST
    digest: str
    first_line: int
    source: str  # the text as written, decorators included, for the manifest's diffs
    filename: str


def _definition(node: ast.AST, tree: _FileTree, filename: str) -> Definition:
    first = _first_line(node)
    last = getattr(node, "end_lineno", None) or first
    source = "".join(tree.lines[first - 1 : last])
    return Definition(node, syntax_digest(node), first, source, filename)


def find_function(code: types.CodeType) -> Definition | None:
    """The definition of ``code`` in its file, or None (no source: exec, a REPL)."""
    tree = _file_tree(code.co_filename)
    if tree is None:
        return None
    candidates = [
        node
        for node in tree.by_line.get(code.co_firstlineno, ())
        if (
            isinstance(node, ast.Lambda)
            if code.co_name == "<lambda>"
            else isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name == code.co_name
        )
    ]
    if not candidates:
        return None
    node = candidates[0]
    if len(candidates) > 1:
        column = _lambda_column(code)
        if column is not None:
            inside = [n for n in candidates if n.col_offset <= column]  # type: ignore[attr-defined]
            node = max(inside, key=lambda n: n.col_offset, default=node)  # type: ignore[attr-defined]
    return _definition(node, tree, code.co_filename)


def enclosing_function(code: types.CodeType) -> str | None:
    """The name of the outermost ``def`` around ``code`` (Python 3.10 has no
    ``co_qualname``, and ``functools.wraps`` overwrites ``__qualname__``)."""
    tree = _file_tree(code.co_filename)
    if tree is None:
        return None
    line = code.co_firstlineno
    best: ast.AST | None = None
    for nodes in tree.by_line.values():
        for node in nodes:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            inside = _first_line(node) <= line <= (getattr(node, "end_lineno", None) or 0)
            if inside and (best is None or _first_line(node) < _first_line(best)):
                best = node
    return best.name if best is not None else None  # type: ignore[attr-defined]


def find_class(filename: str, first_line: int, name: str) -> Definition | None:
    """The class statement named ``name`` starting at ``first_line`` (1-based)."""
    tree = _file_tree(filename)
    if tree is None:
        return None
    for node in tree.by_line.get(first_line, ()):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return _definition(node, tree, filename)
    return None


# -- what a definition reads ------------------------------------------------------------------


def _code_objects(code: types.CodeType) -> list[types.CodeType]:
    found = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found.extend(_code_objects(const))
    return found


_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_ATTRS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})


def global_names(code: types.CodeType) -> frozenset[str]:
    """Names the code (nested functions included) reads as globals: the compiler's
    scoping decides, so a local that shadows a global is never taken for it."""
    return frozenset(
        ins.argval
        for c in _code_objects(code)
        for ins in dis.get_instructions(c)
        if ins.opname in _LOADS and isinstance(ins.argval, str)
    )


def _chain(node: ast.AST) -> tuple[str, ...] | None:
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return (node.id, *reversed(attrs))
    return None


def _body_nodes(node: ast.AST) -> list[ast.AST]:
    """What runs when the function is called: not its decorators, defaults or
    annotations (evaluated once, where it is defined)."""
    if isinstance(node, ast.Lambda):
        return [node.body]
    return list(getattr(node, "body", []))


def reads(definition: Definition | None, code: types.CodeType) -> tuple[tuple[str, ...], ...]:
    """Global name chains the function reads: ``("SCALE",)``, ``("cfg", "SCALE")``,
    ``("cfg", "helper")``, sorted. From the tree when there is one, filtered by the
    compiler's list of globals; from the bytecode otherwise."""
    names = global_names(code)
    chains: set[tuple[str, ...]] = set()
    if definition is not None:
        for top in _body_nodes(definition.node):
            for node in ast.walk(top):
                if isinstance(node, ast.Attribute | ast.Name):
                    chain = _chain(node)
                    if chain and chain[0] in names:
                        chains.add(chain)
        return tuple(sorted(chains))
    for c in _code_objects(code):
        instructions = list(dis.get_instructions(c))
        for i, ins in enumerate(instructions):
            if ins.opname in _LOADS and isinstance(ins.argval, str):
                chain = [ins.argval]
                for follower in instructions[i + 1 :]:
                    if follower.opname not in _ATTRS:
                        break
                    chain.append(follower.argval)
                chains.add(tuple(chain))
    return tuple(sorted(chains))


def self_attributes(definition: Definition | None, code: types.CodeType) -> tuple[str, ...]:
    """Attributes read on the first parameter (``self.helper()``), sorted."""
    if code.co_argcount == 0 or definition is None:
        return ()
    first = code.co_varnames[0]
    found = {
        node.attr
        for top in _body_nodes(definition.node)
        for node in ast.walk(top)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == first
    }
    return tuple(sorted(found))
