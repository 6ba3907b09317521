"""The cache folder: paths, atomic writes, and step entries in one of two layouts.

``from ezpipe.store import Store`` is the API; the modules: :mod:`.layout`
(every path), :mod:`.backend` (what a layout does), :mod:`.folder_backend`
(one folder per step), :mod:`.pack` (the frame format), :mod:`.index` (the
resume index), :mod:`.packed` (the packed layout), :mod:`.maintain`
(compaction, migration). docs/store.md describes the format.
"""

from __future__ import annotations

from .layout import (
    DRY_RUN_FILE,
    JOBS_FILE,
    LOCK_FILE,
    LOG_FILE,
    PACKS_DIR,
    RECORD_FILE,
    RESULT_FILE,
    RUN_FILE,
    SCHEMA_FILE,
    STEPS_DIR,
    SUMMARY_FILE,
    SUMMARY_JSON_FILE,
    checksum,
    write_atomic,
)
from .store import DEFAULT_LAYOUT, ENV_LAYOUT, LAYOUTS, Store

__all__ = [
    "DEFAULT_LAYOUT",
    "DRY_RUN_FILE",
    "ENV_LAYOUT",
    "JOBS_FILE",
    "LAYOUTS",
    "LOCK_FILE",
    "LOG_FILE",
    "PACKS_DIR",
    "RECORD_FILE",
    "RESULT_FILE",
    "RUN_FILE",
    "SCHEMA_FILE",
    "STEPS_DIR",
    "SUMMARY_FILE",
    "SUMMARY_JSON_FILE",
    "Store",
    "checksum",
    "write_atomic",
]
