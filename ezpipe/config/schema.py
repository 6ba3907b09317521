"""The JSON schema of the registered config steps and of a study file, for editors.

``ezpipe config-schema`` prints it; point an editor's YAML support at the
file (``# yaml-language-server: $schema=study.schema.json``) to complete and
check step types and fields while typing. Each step class appears once under
``$defs`` by import path, with its ``type`` as a constant (the import path or
the short name).
"""

from __future__ import annotations

from typing import Any

from .model import ConfigStep, registered

STEP_ANY: dict[str, Any] = {
    "description": "a config step: a mapping with `type`, a list (a chain) or a mapping of steps",
    "anyOf": [
        {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}},
        {"type": "array"},
        {"type": "object"},
    ],
}
META: dict[str, Any] = {
    "input": {"description": "the input of _run: a value or references like ${steps.NAME}"},
    "inputs": {"type": "object", "description": "named inputs of _run (references allowed)"},
    "sweep": {"type": "object", "description": "grid / zip of dotted paths to lists of values"},
}


def step_schema(cls: type[ConfigStep]) -> dict[str, Any]:
    """One class's schema: its fields, ``type`` as a constant, references allowed under
    ``input``/``inputs`` and a ``sweep``."""
    schema = cls.model_json_schema(ref_template="#/$defs/{model}")
    schema.pop("$defs", None)
    names = [f"{cls.__module__}.{cls.__qualname__}", cls.__name__]
    schema.setdefault("properties", {})
    schema["properties"] = {"type": {"enum": names}, **schema["properties"], **META}
    schema["required"] = ["type", *schema.get("required", [])]
    return schema


def _rewrite_refs(value: Any) -> Any:
    """Fields typed ConfigStep point at one generic definition."""
    if isinstance(value, dict):
        if value.get("$ref") == "#/$defs/ConfigStep" or value.get("x-ezpipe-step"):
            return {"$ref": "#/$defs/ConfigStep"}
        return {k: _rewrite_refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite_refs(v) for v in value]
    return value


def config_schema() -> dict[str, Any]:
    """The schema of a study file whose steps are the registered classes."""
    defs: dict[str, Any] = {"ConfigStep": STEP_ANY}
    for path, cls in sorted(registered().items()):
        full = cls.model_json_schema(ref_template="#/$defs/{model}")
        for name, sub in full.get("$defs", {}).items():
            defs.setdefault(name, sub)
        defs[path] = step_schema(cls)
    entry = {
        "anyOf": [
            *({"$ref": f"#/$defs/{path}"} for path in sorted(registered())),
            {"type": "array", "description": "a chain"},
            {"type": "object", "description": "a named chain, or a loop: {loop: N, steps: ...}"},
        ]
    }
    return _rewrite_refs(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "ezpipe study",
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "folder": {"type": "string"},
                "imports": {"type": "array", "items": {"type": "string"}},
                "options": {"type": "object"},
                "steps": {"type": "object", "additionalProperties": entry},
            },
            "required": ["steps"],
            "additionalProperties": False,
            "$defs": defs,
        }
    )
