"""``ezpipe config-schema``: the JSON schema of the registered config steps."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from ..errors import ConfigError
from . import EXIT_ERROR, EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "config-schema",
        help="print the JSON schema of the registered config steps (for editors)",
        description="Print the JSON schema of a study file whose steps are the ConfigStep "
        "classes that are registered once MODULEs (and a STUDY's imports and step types) "
        "are imported. Point an editor's YAML support at it.",
    )
    p.add_argument("study", nargs="?", metavar="STUDY", help="a study file to take modules from")
    p.add_argument(
        "-m", "--module", action="append", default=[], help="a module to import; repeatable"
    )
    p.add_argument("--output", metavar="FILE", help="write the schema to FILE")
    p.set_defaults(handler=cmd_schema)


def cmd_schema(args: argparse.Namespace) -> int:
    from ..config.model import resolve_type  # pydantic and yaml: only this command needs them
    from ..config.schema import config_schema
    from ..config.study import load_document

    sys.path.insert(0, str(Path.cwd()))
    try:
        for module in args.module:
            importlib.import_module(module)
        if args.study:
            doc, base = load_document(args.study)
            if base is not None:
                sys.path.insert(0, str(base))
            for module in doc.get("imports") or []:
                importlib.import_module(str(module))
            for entry in (doc.get("steps") or {}).values():
                if isinstance(entry, dict) and isinstance(entry.get("type"), str):
                    resolve_type(entry["type"])
    except (ImportError, ValueError, ConfigError) as exc:
        print(f"ezpipe config-schema: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    text = json.dumps(config_schema(), indent=1)
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    return EXIT_OK
