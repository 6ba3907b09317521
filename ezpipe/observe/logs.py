"""ezpipe's logging: the ``ezpipe`` logger, its level from ``EZPIPE_LOG_LEVEL``.

Importing ezpipe configures nothing. A pipeline run attaches one stderr handler
to the ``ezpipe`` logger, unless the application configured logging itself, so
that warnings (a corrupt cache file, say) are seen, tagged with the MPI rank.
"""

from __future__ import annotations

import logging

from ..options import env

LOGGER_NAME = "ezpipe"


class _RankFilter(logging.Filter):
    def __init__(self, rank: int, size: int) -> None:
        super().__init__()
        self.rank, self.size = rank, size

    def filter(self, record: logging.LogRecord) -> bool:
        record.rank = self.rank
        record.size = self.size
        return True


def configure(rank: int = 0, size: int = 1) -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    level = (env("EZPIPE_LOG_LEVEL") or "WARNING").upper()
    logger.setLevel(level if isinstance(logging.getLevelName(level), int) else "WARNING")
    ours = [h for h in logger.handlers if getattr(h, "_ezpipe", False)]
    if logging.getLogger().handlers and not ours:
        return logger  # the application configured logging: propagate to it
    for handler in ours:
        logger.removeHandler(handler)
    handler = logging.StreamHandler()
    handler._ezpipe = True  # type: ignore[attr-defined]
    handler.addFilter(_RankFilter(rank, size))
    handler.setFormatter(
        logging.Formatter("ezpipe [rank %(rank)d/%(size)d] %(levelname)s %(name)s: %(message)s")
    )
    logger.addHandler(handler)
    logger.propagate = False
    return logger
