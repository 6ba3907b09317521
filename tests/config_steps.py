"""Config step classes shared by the config tests and their subprocess runs.

Importable as ``config_steps`` (``tests`` is on the path of the suite and of
the scripts it starts), so study files name them ``config_steps.Scale``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from ezpipe.config import ConfigStep


class Load(ConfigStep):
    n: int = 4

    def _run(self) -> list[int]:
        return list(range(self.n))


class Scale(ConfigStep):
    coeff: float = 2.0
    n_jobs: int = 1
    device: str = Field("cpu", json_schema_extra={"exclude_from_key": True})
    exclude_from_key = ("n_jobs",)

    def _run(self, input: list[float]) -> list[float]:
        return [x * self.coeff for x in input]


class Total(ConfigStep):
    def _run(self, input: list[float]) -> float:
        return float(sum(input))


class Fit(ConfigStep):
    alpha: float = 1.0
    seed: int = 0
    tag: str = ""

    def _run(self, input: list[float]) -> float:
        return sum(input) * self.alpha + self.seed


class Train(ConfigStep):
    """One iteration: appends its number to what the previous one produced."""

    lr: float = 0.1

    def _run(self, input: Any, iteration: int) -> list[Any]:
        previous = input if isinstance(input, list) else [input]
        return [*previous, iteration]


class Report(ConfigStep):
    def _run(self, fits: list[float], model: Any) -> dict[str, Any]:
        return {"fits": fits, "model": model}


class Holder(ConfigStep):
    """A step whose field is a step (exca's Experiment): it runs it in-process."""

    label: str = "exp"
    pipeline: ConfigStep

    def _run(self) -> Any:
        return self.pipeline.run()


class Checkpointed(ConfigStep):
    """Writes one checkpoint per epoch to its output folder and resumes from them.

    ``stop_at``: on the first attempt (no ``resume_dir``), signal this process with
    the job's stop signal (SIGUSR1) after that many epochs.
    """

    epochs: int = 4
    stop_at: int = -1

    def _run(self, output_dir: Path, resume_dir: Path | None) -> dict[str, Any]:
        done = sorted(p.name for p in output_dir.glob("epoch*.ckpt"))
        start = len(done)
        for epoch in range(start, self.epochs):
            if resume_dir is None and epoch == self.stop_at:
                os.kill(os.getpid(), signal.SIGUSR1)
                time.sleep(30)
            (output_dir / f"epoch{epoch}.ckpt").write_text(f"weights after epoch {epoch}")
        return {"resumed_from": start, "resumed": resume_dir is not None}


class SlowWriter(ConfigStep):
    """Writes ``files`` files, one per ``pause`` seconds, noting in ``control`` what its
    output folder held when it started (a killed run must leave nothing it can see)."""

    control: str
    files: int = 3
    pause: float = 0.0

    def _run(self, output_dir: Path) -> int:
        with open(self.control, "a") as handle:
            handle.write(",".join(sorted(p.name for p in output_dir.iterdir())) + "\n")
        for number in range(self.files):
            (output_dir / f"part{number}.txt").write_text(f"part {number}")
            time.sleep(self.pause)
        return self.files


class ReadText(ConfigStep):
    """Reads the file an upstream output path points to."""

    def _run(self, input: Path) -> str:
        return Path(input).read_text()


class Accumulate(ConfigStep):
    """A loop body with fixed data: appends ``sum(data)`` to the previous result."""

    def _run(self, previous: list[int], data: list[int]) -> list[int]:
        return [*previous, sum(data)]
