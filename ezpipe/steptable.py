"""The schema's step table: what the ``ezpipe`` commands read of ``pipeline.schema``.

``pipeline.schema`` is written for people and for ``ezpipe why``: every step with the
parts of its key, about 580 bytes a step, and 0.22 s to parse at 100,000 steps, a
quarter of ``ezpipe status``'s second. What ``status``, ``show``, ``clean`` and the
pictures list is each step's name, function, phase, key and dependencies: this
table (``.ezpipe.steps``, written with the schema, one JSON document of flat
columns) holds exactly that and parses in a tenth of the time.

The schema stays the truth. The table names the schema it was made from (the
pipeline's name, its ``schema_hash`` and step count, checked against the schema's
first lines), and the declaration removes the old table before it replaces the
schema. A table that is missing, unreadable or made from another schema (a crash
between the two writes, an older ezpipe rewrote the schema) is not used: the
reader parses the schema. The table also records the identity of the definition
(:func:`~ezpipe.graph.schema_identity`) and the schema file it was written with,
so that a re-run of an unchanged definition writes neither (:func:`current`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .graph import FrozenGraph
    from .steps import Step

FORMAT = 1
HEAD_BYTES = 1 << 16  # the schema's first lines: name, folder (a path: < 4 KB), hash, count
_STRING = rb'"(?:[^"\\]|\\.)*"'  # a JSON string on one line
_HEAD = re.compile(  # the schema's first lines, as graph.dumps_schema writes them
    rb'\{\n "pipeline": (' + _STRING + rb"),\n"
    rb' "folder": ' + _STRING + rb",\n"
    rb' "schema_hash": "([0-9a-f]+)",\n'
    rb' "n_steps": (\d+),\n'
)
_TABLE_HEAD = re.compile(
    rb'\{"format":%d,"identity":"([0-9a-f]+)","schema_file":(\[[0-9,]+\]),' % FORMAT
)


class StepTable(NamedTuple):
    """The steps in the schema's order (by phase), their dependencies by name."""

    pipeline: str
    names: list[str]
    functions: list[str]
    phases: list[int]
    keys: list[str]
    depends_on: list[list[str]]


def dumps(
    name: str, steps: Sequence[Step], frozen: FrozenGraph, identity: str, schema_path: Path
) -> str:
    """The table of ``steps`` as :func:`~ezpipe.graph.schema_document` orders them, for the
    schema just written at ``schema_path`` from a definition of ``identity``
    (:func:`~ezpipe.graph.schema_identity`)."""
    order = [i for phase in frozen.phases for i in phase]
    position = {index: pos for pos, index in enumerate(order)}
    named: dict[int, str] = {}  # a function's name, once per function (not per step)
    functions = []
    depends_on = []
    for i in order:
        step = steps[i]
        function = named.get(id(step.definition))
        if function is None:
            function = named[id(step.definition)] = step.function_name
        functions.append(function)
        deps = step.dependencies
        depends_on.append([position[d] for d in deps] if deps else deps)
    table = {
        "format": FORMAT,
        "identity": identity,
        "schema_file": _stat(schema_path),
        "pipeline": name,
        "schema_hash": frozen.schema_hash,
        "n_steps": len(order),
        "phase_sizes": [len(phase) for phase in frozen.phases],
        "names": [steps[i].name for i in order],
        "functions": functions,
        "keys": [steps[i].key for i in order],
        "depends_on": depends_on,
    }
    return json.dumps(table, ensure_ascii=False, separators=(",", ":"))


def current(path: Path, schema_path: Path, identity: str) -> bool:
    """Whether the schema at ``schema_path`` and the table at ``path`` are the ones written
    for a definition of ``identity``: the same file (inode, size, modification time) as when
    the table was written, so nothing has replaced it since. A re-run of an unchanged
    pipeline then writes neither (1.8 s at 100,000 steps, a 58 MB file on every resume)."""
    try:
        with open(path, "rb") as table:
            head = _TABLE_HEAD.match(table.read(512))
        return (
            head is not None
            and head.group(1).decode() == identity
            and json.loads(head.group(2)) == _stat(schema_path)
        )
    except (OSError, ValueError):
        return False


def _stat(path: Path) -> list[int]:
    info = os.stat(path)
    return [info.st_ino, info.st_size, info.st_mtime_ns]


def read(path: Path, schema_path: Path) -> StepTable | None:
    """The table at ``path`` if it is there, whole and made from the schema at
    ``schema_path``; else None. Raises FileNotFoundError when the schema is missing."""
    with open(schema_path, "rb") as schema:
        head = _HEAD.match(schema.read(HEAD_BYTES))
    try:
        doc = json.loads(path.read_bytes())
        if (
            head is None
            or doc["format"] != FORMAT
            or doc["pipeline"] != json.loads(head.group(1))
            or doc["schema_hash"] != head.group(2).decode()
            or doc["n_steps"] != int(head.group(3))
        ):
            return None
        names: list[str] = doc["names"]
        phases = [number for number, size in enumerate(doc["phase_sizes"]) for _ in range(size)]
        columns = (names, doc["functions"], doc["keys"], doc["depends_on"], phases)
        if any(len(column) != doc["n_steps"] for column in columns):
            return None
        depends_on = [[names[d] for d in deps] if deps else [] for deps in doc["depends_on"]]
        pipeline = str(doc["pipeline"])
        return StepTable(pipeline, names, doc["functions"], phases, doc["keys"], depends_on)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
