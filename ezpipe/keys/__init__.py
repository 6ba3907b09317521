"""Content keys: what a step's result depends on, as a stable hex digest.

A key (scheme v2) hashes the step callable's fingerprint, the call's arguments
(bound by parameter name, ``exclude_from_key`` removed), the keys of upstream
steps and the decorator's ``version``. The fingerprint is built from the syntax
tree of the step function (comments, docstrings and formatting do not count),
the decorators wrapped around it with their arguments, ``self`` of a bound
method, the arguments of a ``functools.partial``, the state of a callable
object, and, transitively, the plain-data globals and the user's own helper
functions it reads. Python's salted ``hash()`` is never used, and nothing
depends on the script being ``__main__`` or imported.

Every key comes with a manifest (:func:`step_key_and_manifest`) that names its
parts, so :func:`explain` can say why a result is recomputed. Around a freeze,
``with key_session():`` hashes each large value and each function once.

For the engine (graph.py): inside ``with key_session():`` call, per step,
``step_key_and_manifest(func, arguments, upstream_keys, version, exclude,
upstream_names=..., step_name=...)`` with upstream steps in the arguments as
``StepRef(key, name)``; store ``manifest`` in the record; warn once per step
function with ``warning.message(step_name)``. ``step_key(function_fingerprint(f),
...)`` gives the same key without a manifest. Manifests share entries between
steps of one session: treat them as read-only.

Modules: :mod:`.syntax` (canonical syntax trees), :mod:`.values` (value
encoding, the session memo), :mod:`.functions` (callables as parts),
:mod:`.stepkey` (the key), :mod:`.manifest` (manifest and explain),
:mod:`.code` (code objects analysed once), :mod:`.readable` (readable forms),
:mod:`.legacy` (scheme v1, for adopting old results), :mod:`.origin` (user code
or library code, display names).
"""

from __future__ import annotations

from .functions import Description, describe, function_fingerprint, v1_blind_spots
from .legacy import LEGACY_SCHEME, legacy_function_fingerprint_v1, legacy_step_key_v1
from .manifest import (
    SCHEME,
    Manifest,
    compact_parts,
    expand_manifest,
    explain,
    legacy_manifest,
)
from .origin import callable_name, is_user_file
from .parts import KeyWarning, Part
from .readable import short_repr
from .stepkey import (
    KeyDigests,
    KeyResult,
    build_manifest,
    step_key,
    step_key_and_digests,
    step_key_and_manifest,
)
from .values import (
    REPR_LIMIT,
    KeyContext,
    StepRef,
    UnhashableValue,
    current_context,
    hash_value,
    key_session,
)

KEY_LENGTH = 16  # hex digits kept in folder names; the full digest is in the record

__all__ = [
    "KEY_LENGTH",
    "LEGACY_SCHEME",
    "REPR_LIMIT",
    "SCHEME",
    "Description",
    "KeyContext",
    "KeyDigests",
    "KeyResult",
    "KeyWarning",
    "Manifest",
    "Part",
    "StepRef",
    "UnhashableValue",
    "build_manifest",
    "callable_name",
    "compact_parts",
    "current_context",
    "describe",
    "expand_manifest",
    "explain",
    "function_fingerprint",
    "hash_value",
    "is_user_file",
    "key_session",
    "legacy_function_fingerprint_v1",
    "legacy_manifest",
    "legacy_step_key_v1",
    "short_repr",
    "step_key",
    "step_key_and_digests",
    "step_key_and_manifest",
    "v1_blind_spots",
]
