"""The content key of one step, and the manifest that explains it.

Key scheme v2 hashes, in this order: the scheme tag, the callable's fingerprint
(its parts: code, decorators, helpers, globals, ...), the decorator's
``version``, the arguments by parameter name (``exclude_from_key`` removed, in
no particular order) and the upstream keys in dependency order. An upstream
step inside an argument is encoded by its position among the upstream keys, so
that a changed upstream is reported once ("upstream load changed"), not also as
a changed argument. :func:`step_key` and :func:`step_key_and_manifest` give the
same key for the same inputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from .functions import Description, describe
from .manifest import DIGEST_CHARS, SCHEME, Manifest, part_entry
from .parts import KeyWarning
from .readable import short_repr
from .values import (
    KeyContext,
    UnhashableValue,
    _short_str_digest,
    current_context,
    digest_value,
)

SCHEME_TAG = b"ezpipe-key-" + SCHEME.encode()
DIGEST_BYTES = 32  # sha256


class KeyResult(NamedTuple):
    key: str
    manifest: Manifest
    warnings: tuple[KeyWarning, ...]


class KeyDigests(NamedTuple):
    """A key and what its manifest is built from later: a frozen step keeps these
    (about 100 bytes), not its manifest (about 2 KB), and builds the manifest when a
    record or the schema needs it."""

    key: str
    description: Description  # shared by every step of one function
    digests: bytes  # each kept argument's sha256 digest, in argument order
    warnings: tuple[KeyWarning, ...]


def _positions(upstream: Sequence[str]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for index, key in enumerate(upstream):
        positions.setdefault(key, index)
    return positions


def _arguments(
    arguments: dict[str, Any],
    exclude: Iterable[str],
    upstream: Sequence[str],
    context: KeyContext,
    step_name: str | None,
) -> list[tuple[str, bytes, Any]]:
    excluded = set(exclude)
    refs = _positions(upstream)
    digests = []
    for name, value in arguments.items():
        if name in excluded:
            continue
        try:
            digests.append((name, digest_value(value, context, refs), value))
        except UnhashableValue as exc:
            where = f"step {step_name!r}: " if step_name else ""
            raise UnhashableValue(
                f"{where}argument {name} cannot be part of the key: {exc}"
            ) from None
    return digests


def _compose(
    fingerprint: str,
    version: str | None,
    arguments: list[tuple[str, bytes, Any]],
    upstream: Sequence[str],
) -> str:
    digest = hashlib.sha256(SCHEME_TAG + b"\x00" + fingerprint.encode() + b"\x00")
    digest.update(b"N" if version is None else b"s" + str(version).encode())
    digest.update(b"\x00")
    for item in sorted(_short_str_digest(name) + value for name, value, _ in arguments):
        digest.update(item)
    digest.update(b"\x00")
    for key in upstream:
        digest.update(key.encode() + b";")
    return digest.hexdigest()


def step_key(
    fingerprint: str | Callable[..., Any],
    arguments: dict[str, Any],
    upstream_keys: Iterable[str],
    version: str | None,
    exclude: Iterable[str] = (),
    *,
    step_name: str | None = None,
) -> str:
    """The content key of one step (a full sha256 hex digest).

    ``fingerprint`` is :func:`function_fingerprint` of the step's callable, or the
    callable itself. Raises :class:`~ezpipe.errors.DefinitionError` for an argument
    that cannot be keyed (it contains itself, joblib cannot pickle it)."""
    context = current_context()
    if not isinstance(fingerprint, str):
        fingerprint = describe(fingerprint, context).fingerprint
    upstream = list(upstream_keys)
    digests = _arguments(arguments, exclude, upstream, context, step_name)
    return _compose(fingerprint, version, digests, upstream)


def step_key_and_digests(
    func: Callable[..., Any],
    arguments: dict[str, Any],
    upstream_keys: Sequence[str],
    version: str | None,
    exclude: Iterable[str] = (),
    *,
    step_name: str | None = None,
) -> KeyDigests:
    """The key of one step with what :func:`build_manifest` needs to explain it later."""
    context = current_context()
    description = describe(func, context)
    digests = _arguments(arguments, exclude, upstream_keys, context, step_name)
    key = _compose(description.fingerprint, version, digests, upstream_keys)
    return KeyDigests(key, description, b"".join(d for _, d, _ in digests), description.warnings)


def build_manifest(
    made: KeyDigests,
    arguments: dict[str, Any],
    upstream_keys: Sequence[str],
    version: str | None,
    exclude: Iterable[str] = (),
    *,
    upstream_names: Sequence[str] | None = None,
) -> Manifest:
    """The manifest of a key made by :func:`step_key_and_digests` from the same
    ``arguments`` (their digests are not computed again: a large array is hashed once).

    ``upstream_names`` (parallel to ``upstream_keys``) names upstream parts ("upstream
    load changed"); without it they are ``#0``, ``#1``, ...
    """
    context = current_context()
    description = made.description
    entries = dict(_function_entries(description, context))
    excluded = set(exclude)
    kept = [name for name in arguments if name not in excluded]
    if len(kept) * DIGEST_BYTES != len(made.digests):
        raise ValueError(
            f"{len(made.digests) // DIGEST_BYTES} argument digests for the arguments {kept}: "
            "not the arguments the key was made from"
        )
    for position, name in enumerate(kept):
        digest = made.digests[position * DIGEST_BYTES : (position + 1) * DIGEST_BYTES]
        entries[f"argument:{name}"] = {
            "digest": digest.hex()[:DIGEST_CHARS],
            "repr": short_repr(arguments[name], context),
        }
    names = list(upstream_names) if upstream_names is not None else []
    seen: set[str] = set()
    for index, upstream_key in enumerate(upstream_keys):
        name = names[index] if index < len(names) else f"#{index}"
        if name in seen:
            name = f"{name}#{index}"
        seen.add(name)
        entries[f"upstream:{name}"] = {"digest": upstream_key, "repr": upstream_key[:16]}
    return {
        "scheme": SCHEME,
        "key": made.key,
        "fingerprint": description.fingerprint,
        "version": version,
        "parts": entries,
    }


def step_key_and_manifest(
    func: Callable[..., Any],
    arguments: dict[str, Any],
    upstream_keys: Iterable[str],
    version: str | None,
    exclude: Iterable[str] = (),
    *,
    upstream_names: Sequence[str] | None = None,
    step_name: str | None = None,
) -> KeyResult:
    """``(key, manifest, warnings)`` of one step; the key equals :func:`step_key`'s.

    ``warnings`` lists what the key cannot see (a global dict, an unpicklable
    ``self``): the caller warns once per step function, with :meth:`KeyWarning.message`.
    """
    upstream = list(upstream_keys)
    made = step_key_and_digests(func, arguments, upstream, version, exclude, step_name=step_name)
    manifest = build_manifest(
        made, arguments, upstream, version, exclude, upstream_names=upstream_names
    )
    return KeyResult(made.key, manifest, made.warnings)


def _function_entries(description: Description, context: KeyContext) -> dict[str, Any]:
    """The manifest entries of a callable's parts, built once per session: a sweep of
    100,000 steps shares them (manifests are read-only; they are written as JSON)."""
    hit = context.manifests.get(id(description))
    if hit is not None and hit[0] is description:
        return hit[1]
    entries = {part.ident: part_entry(part) for part in description.parts}
    context.manifests[id(description)] = (description, entries)
    return entries
