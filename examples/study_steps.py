"""The step classes of the example study (``examples/study.yaml``, ``study_config.py``).

A toy parameter study: a grid of points, a noisy simulation swept over a
wave number ``k``, an iterative refinement repeated in a loop, and a summary.
Each class is a ``ConfigStep``: its fields are the parameters (validated),
``_run`` computes, and the class is registered under ``study_steps.<Name>``
(and its short name) for study files.
"""

from __future__ import annotations

import math
import random

from pydantic import Field

from ezpipe import ConfigStep


class Grid(ConfigStep):
    """``n`` points in [0, 1): a generator (``_run`` takes no input)."""

    n: int = Field(100, ge=2)

    def _run(self) -> list[float]:
        return [i / self.n for i in range(self.n)]


class Simulate(ConfigStep):
    """A noisy wave of number ``k`` on the grid; ``workers`` cannot change the result."""

    k: float = 1.0
    noise: float = Field(0.1, ge=0)
    seed: int = 0
    workers: int = 1
    exclude_from_key = ("workers",)

    def _run(self, grid: list[float]) -> list[float]:
        rng = random.Random(self.seed)
        return [math.sin(2 * math.pi * self.k * x) + rng.gauss(0, self.noise) for x in grid]


class Refine(ConfigStep):
    """One refinement iteration: moves every value ``factor`` of the way to its square."""

    factor: float = Field(0.5, gt=0, le=1)

    def _run(self, values: list[float], iteration: int) -> list[float]:
        return [v + self.factor * (v * v - v) / iteration for v in values]


class Summarize(ConfigStep):
    """The peak of every simulation and the mean of the refined values."""

    digits: int = 4

    def _run(self, runs: list[list[float]], refined: list[float]) -> dict[str, object]:
        return {
            "peaks": [round(max(run), self.digits) for run in runs],
            "refined_mean": round(sum(refined) / len(refined), self.digits),
        }
