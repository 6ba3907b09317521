"""Who may write a pipeline folder: a warning when users other than its owner can.

Results are pickles, and loading a pickle runs code: whoever can write a file
under the folder (or replace the folder, through a writable parent) can make
the next ``get_result()``, ``lookup`` or run of a dependent step execute what
they like. ezpipe warns once per folder and process when the folder or one of
its parents is writable by every user; directories with the sticky bit (the
system temp folder) are excepted, since there only a file's owner can rename
or delete it. See docs/trust.md.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

_warned: set[Path] = set()


def open_to_others(folder: Path) -> list[Path]:
    """The folder and its existing parents that every user may write (sticky ones excepted)."""
    out = []
    for path in (folder, *folder.parents):
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue  # not created yet, or not ours to look at
        if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
            out.append(path)
    return out


def warn_if_open(folder: Path) -> bool:
    """Log a warning, once per folder, when others could plant results in it; True if so."""
    folder = folder.absolute()
    if folder in _warned:
        return False
    _warned.add(folder)
    open_paths = open_to_others(folder)
    if not open_paths:
        return False
    log.warning(
        "the pipeline folder %s can be changed by other users (%s is writable by everyone): "
        "results are pickles and loading one runs code, so anyone who can write there can "
        "run code as you; chmod o-w it, or see docs/trust.md",
        folder,
        ", ".join(map(str, open_paths)),
    )
    return True
