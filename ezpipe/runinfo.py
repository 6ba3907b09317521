"""The run-level record (``run.json``) and the note that ``ezpipe run`` reads back.

Rank 0 writes ``run.json`` when a run starts (``end`` empty) and again when it
ends, so ``ezpipe status`` can tell a finished run from one still going or one
that crashed. ``ezpipe run`` cannot see the script's ``execute()`` return value,
so each execute on rank 0 appends one JSON line to the file named by
``EZPIPE_RUN_REPORT`` (when set): the folder and whether every step passed.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any

from .records import RunRecord, Status
from .store import Store

log = logging.getLogger(__name__)

ENV_RUN_REPORT = "EZPIPE_RUN_REPORT"


def ezpipe_version() -> str:
    from . import __version__

    return __version__


def started(
    store: Store, pipeline: str, ranks: int, hosts: list[str], options: Mapping[str, Any]
) -> RunRecord:
    """The record of a run that starts now, written at once (failure is only logged)."""
    record = RunRecord(
        pipeline=pipeline,
        folder=str(store.root),
        start=time.time(),
        ranks=ranks,
        hosts=sorted(set(hosts)),
        host=socket.gethostname(),
        pid=os.getpid(),
        ezpipe_version=ezpipe_version(),
        python_version=platform.python_version(),
        command=list(sys.argv),
        cwd=os.getcwd(),
        options=dict(options),
    )
    _write(store, record)
    return record


def finished(store: Store, record: RunRecord, statuses: list[int]) -> RunRecord:
    end = time.time()
    counts = {s.label.lower(): sum(1 for x in statuses if x == s) for s in Status}
    done = record.model_copy(
        update={
            "end": end,
            "duration": end - record.start,
            "counts": {k: v for k, v in counts.items() if v},
        }
    )
    _write(store, done)
    return done


def _write(store: Store, record: RunRecord) -> None:
    try:
        store.create()
        store.write_run_record(record)
    except OSError as exc:
        log.error("could not write the run record %s: %s", store.run_path, exc)


def note(folder: str, *, passed: bool, dry_run: bool = False) -> None:
    """Tell ``ezpipe run`` (if it started us) how this execute ended."""
    path = os.environ.get(ENV_RUN_REPORT)
    if not path:
        return
    line = json.dumps({"folder": folder, "passed": passed, "dry_run": dry_run})
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as exc:
        log.warning("could not write the run note for ezpipe run to %s: %s", path, exc)


def read_notes(path: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []
