"""Steps written as pydantic models, chains, loops and whole pipelines from YAML/JSON.

See ``docs/config.md``. :class:`ConfigStep` (a model whose ``_run`` computes),
:class:`Chain` and :class:`Loop` live in :mod:`.model` and :mod:`.chain`;
:mod:`.build` turns them into ordinary steps of a pipeline; :mod:`.study`
reads a study file (references, sweeps, loops, overrides); :mod:`.schema`
writes the JSON schema of the registered step classes.
"""

from __future__ import annotations

from ..errors import ConfigError
from .chain import Chain, Loop
from .model import ConfigStep, registered, resolve_type

__all__ = ["Chain", "ConfigError", "ConfigStep", "Loop", "registered", "resolve_type"]
