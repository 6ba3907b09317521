"""A key's manifest and ``explain``: what a key was made of, and why two differ.

A record stores the manifest of its key: for each part a short digest and a
readable form (``1000`` for an argument, the source text and first line number
for a function). Comparing the manifest of the current definition with the
stored one names what changed in the words a user reads in the dry run and in
``ezpipe why``: ``argument n_samples: 1000 -> 2000``, ``source of mc_volume
changed (lines 12-14)``, ``global SCALE: 1.0 -> 10.0``, ``upstream load
changed``, ``version 1 -> 2``. Manifests are plain JSON and stay small: readable
forms are capped at 200 characters and a long source is kept as line digests.
"""

from __future__ import annotations

import difflib
import hashlib
from typing import Any

from .parts import KINDS, Part

SCHEME = "v2"
DIGEST_CHARS = 16  # a part's digest in a manifest: enough to tell a change
SOURCE_LIMIT = 20_000  # characters of source kept as text; beyond, digests per line

Manifest = dict[str, Any]


def part_entry(part: Part) -> dict[str, Any]:
    """A part's JSON form (the kind and name are in its identifier)."""
    entry: dict[str, Any] = {
        "digest": part.digest if part.kind == "upstream" else part.digest[:DIGEST_CHARS]
    }
    if part.text is not None:
        entry["repr"] = part.text
    if part.source is not None:
        entry["line"] = part.line
        if len(part.source) <= SOURCE_LIMIT:
            entry["source"] = part.source
        else:
            entry["line_digests"] = [_line_digest(line) for line in part.source.splitlines()]
    if part.file is not None:
        entry["file"] = part.file
    return entry


def legacy_manifest(key: str | None = None) -> Manifest:
    """What stands for a record of scheme v1 (which stored no manifest)."""
    return {"scheme": "v1", "key": key, "parts": {}}


# -- explain ----------------------------------------------------------------------------------


def _line_digest(line: str) -> str:
    return hashlib.sha256(line.rstrip().encode()).hexdigest()[:8]


def _is_code(line: str) -> bool:
    text = line.strip()
    return bool(text) and not text.startswith("#")


def changed_lines(old: dict[str, Any], new: dict[str, Any]) -> list[int]:
    """Line numbers (in the new file) of code lines that differ; comments and blank
    lines are left out, since they never change a key."""
    new_text = new.get("source")
    if "source" in old and new_text is not None:
        a = [line.rstrip() for line in old["source"].splitlines()]
        b = [line.rstrip() for line in new_text.splitlines()]
        code = [_is_code(line) for line in b]
        texts = True
    elif "line_digests" in new or "line_digests" in old:
        a = old.get("line_digests") or [_line_digest(x) for x in old.get("source", "").splitlines()]
        b = new.get("line_digests") or [_line_digest(x) for x in (new_text or "").splitlines()]
        code = [True] * len(b)
        texts = False
    else:
        return []
    first = new.get("line") or 1
    found: set[int] = set()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if j1 == j2:  # lines deleted: name the line they were deleted before
            if not texts or any(_is_code(line) for line in a[i1:i2]):
                found.add(first + min(j1, max(len(b) - 1, 0)))
            continue
        found.update(first + j for j in range(j1, j2) if code[j])
    return sorted(found)


def format_lines(lines: list[int]) -> str:
    """``line 12``, ``lines 12-14``, ``lines 3, 12-14``."""
    if not lines:
        return ""
    ranges: list[list[int]] = []
    for number in lines:
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)
    return f"line {text}" if len(ranges) == 1 and ranges[0][0] == ranges[0][1] else f"lines {text}"


def _value_change(label: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    if old is None:
        return f"{label} added"
    if new is None:
        return f"{label} removed"
    before, after = old.get("repr"), new.get("repr")
    if before is not None and after is not None and before != after:
        return f"{label}: {before} -> {after}"
    return f"{label} changed"


def _sentence(kind: str, name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    if kind == "function":
        if old is None or new is None:
            return f"function {name} {'added' if old is None else 'removed'}"
        where = format_lines(changed_lines(old, new))
        return f"source of {name} changed" + (f" ({where})" if where else "")
    if kind in ("decorator", "helper", "class", "upstream"):
        state = "added" if old is None else "removed" if new is None else "changed"
        return f"{kind} {name} {state}"
    if kind == "closure":
        function, _, variable = name.rpartition(".")
        return _value_change(f"closure {variable} of {function}", old, new)
    if kind == "self":
        return _value_change(f"self of {name}", old, new)
    if kind == "partial":
        function, _, argument = name.rpartition(".")
        return _value_change(f"partial argument {argument} of {function}", old, new)
    return _value_change(f"{kind} {name}", old, new)  # global, argument


def _kind_order(ident: str) -> int:
    kind = ident.split(":", 1)[0]
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def explain(old: Manifest | None, new: Manifest) -> list[str]:
    """Why ``new`` is not ``old``, one reason per changed part, in user-facing words
    (empty when nothing differs). ``old`` None: there is nothing to compare with."""
    if old is None:
        return ["no stored definition"]
    reasons: list[str] = []
    old_scheme, new_scheme = old.get("scheme", "v1"), new.get("scheme", SCHEME)
    if old_scheme != new_scheme:
        reasons.append(f"key scheme {old_scheme} -> {new_scheme}")
        if not old.get("parts"):
            return reasons
    if old.get("version") != new.get("version"):
        reasons.append(f"version {_version(old.get('version'))} -> {_version(new.get('version'))}")
    old_parts: dict[str, Any] = dict(old.get("parts", {}))
    new_parts: dict[str, Any] = dict(new.get("parts", {}))
    _pair_renamed_function(old_parts, new_parts)
    idents = list(new_parts) + [ident for ident in old_parts if ident not in new_parts]
    for ident in sorted(idents, key=_kind_order):
        before, after = old_parts.get(ident), new_parts.get(ident)
        if before is not None and after is not None and before.get("digest") == after.get("digest"):
            continue
        kind, _, name = ident.partition(":")
        reasons.append(_sentence(kind, name, before, after))
    if not reasons and old.get("key") != new.get("key"):
        reasons.append("definition changed")
    return reasons


def _pair_renamed_function(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A step function that was renamed is the same part under a new name."""
    old_f = [i for i in old if i.startswith("function:")]
    new_f = [i for i in new if i.startswith("function:")]
    if len(old_f) == 1 and len(new_f) == 1 and old_f != new_f:
        old[new_f[0]] = old.pop(old_f[0])


def _version(value: Any) -> str:
    return "none" if value is None else str(value)


def compact_parts(manifest: dict[str, Any], sources: dict[str, Any]) -> dict[str, Any]:
    """A manifest's parts without repeating sources: entries that carry source text go
    to the shared ``sources`` table under their digest (a sweep shares one function)."""
    out: dict[str, Any] = {}
    for ident, entry in manifest["parts"].items():
        if "source" in entry or "lines" in entry:
            sources.setdefault(entry["digest"], entry)
            out[ident] = entry["digest"]
        else:
            out[ident] = entry
    return out


def expand_manifest(entry: dict[str, Any], sources: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a schema entry (the inverse of :func:`compact_parts`)."""
    parts = {
        ident: sources.get(value, {"digest": value}) if isinstance(value, str) else value
        for ident, value in entry.get("parts", {}).items()
    }
    return {
        "scheme": "v2",
        "key": entry.get("key"),
        "fingerprint": entry.get("fingerprint"),
        "version": entry.get("version"),
        "parts": parts,
    }
