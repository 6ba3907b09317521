"""Step names are folder names: what a file system can hold, and readable names of callables.

A name is checked when the step is defined, so a name no file system can hold
(a path separator, a component over NAME_MAX bytes) is refused with the limit
in the message, instead of a step that runs and then cannot store even its
failure.
"""

from __future__ import annotations

import re

from .errors import DefinitionError

UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")  # replaced by '_' in automatic names


NAME_MAX_BYTES = 255  # NAME_MAX of Linux, macOS and Lustre/GPFS: one path component


def check_name(name: str) -> str:
    """A step name becomes a folder name: refuse what a file system cannot hold, at
    definition (rather than a run whose step cannot store even its failure)."""
    if not isinstance(name, str) or not name.strip():
        raise DefinitionError(f"a step name must be a non-empty string, got {name!r}")
    if "/" in name or "\\" in name or "\x00" in name or name in (".", "..") or name[0] == ".":
        raise DefinitionError(
            f"step name {name!r} cannot be used as a folder name "
            "(no '/', '\\', NUL, and no leading '.')"
        )
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise DefinitionError(f"step name {name[:60]!r}... is not valid text: {exc}") from None
    if size > NAME_MAX_BYTES:
        raise DefinitionError(
            f"step name {name[:40]!r}... is {size} bytes in UTF-8 ({len(name)} characters); "
            f"a step name is a folder name, at most {NAME_MAX_BYTES} bytes: give the step a "
            "shorter name (name= or a shorter name template)"
        )
    return name
