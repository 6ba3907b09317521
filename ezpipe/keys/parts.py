"""The parts a key is made of, and the warnings a key can carry.

A key is a digest of parts (each function's code, each argument, each global, ...)
rather than of one opaque blob, so that a manifest can say which part changed.
"""

from __future__ import annotations

from dataclasses import dataclass

# What each kind of part is called in ``explain``'s sentences, in the order they are told.
KINDS = (
    "function",
    "decorator",
    "closure",
    "self",
    "partial",
    "helper",
    "class",
    "global",
    "argument",
    "upstream",
)


@dataclass(frozen=True)
class Part:
    """One input of a key.

    ``digest`` is the full hex digest that enters the key; ``text`` a short readable
    form (a repr, at most 200 characters); ``source`` and ``line`` the code as
    written and its first line in the file, for function-like parts, so that a
    change can be named by line numbers."""

    kind: str
    name: str
    digest: str
    text: str | None = None
    source: str | None = None
    line: int | None = None
    file: str | None = None

    @property
    def ident(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class KeyWarning:
    """Something the key cannot see (a global that is a dict, an unpicklable ``self``).

    Returned, never printed: the caller warns once, at freeze time, naming the step."""

    function: str  # the function that reads it
    kind: str  # "global", "closure", "self", "partial"
    name: str
    type: str
    reason: str = ""

    def message(self, step: str | None = None) -> str:
        where = f"step {step!r}" if step else f"function {self.function}"
        what = f"{self.kind} {self.name} ({self.type})"
        if self.kind == "global" and step and self.function != step:
            what += f", read by {self.function}"
        reason = f": {self.reason}" if self.reason else ""
        return (
            f"{where}: {what} cannot be part of its key{reason}; a change to it will not "
            "recompute the step: pass it as an argument, or bump version= when it changes"
        )
