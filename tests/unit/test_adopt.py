"""Adopting results: accepted code changes and results of key scheme v1."""

from __future__ import annotations

from pathlib import Path

import cloudpickle

from ezpipe import Pipeline
from ezpipe.plan import Plan, dry_run_rows, v1_keys
from ezpipe.records import Status, StepRecord

SCALE = 2.0


def build(folder: Path, calls: list[str]) -> Pipeline:
    pipeline = Pipeline(folder, "adopt", echo=False, progress=False)

    @pipeline.step(name="plain_{k}")
    def plain(k):
        calls.append(f"plain_{k}")
        return k + 1

    @pipeline.step(name="scaled_{k}")
    def scaled(k):  # reads a module global: key scheme v1 was blind to it
        calls.append(f"scaled_{k}")
        return k * SCALE

    for k in range(3):
        plain(k)
        scaled(k)
    return pipeline


def store_as_v1(pipeline: Pipeline, value_of: dict[str, object]) -> None:
    """What an ezpipe before key scheme v2 left in the folder: results under v1 keys."""
    frozen = pipeline.freeze()
    order = [i for phase in frozen.phases for i in phase]
    keys = v1_keys(pipeline.steps, order)
    pipeline.store.create()
    for step in pipeline.steps:
        record = StepRecord(name=step.name, key=keys[step.index], status=Status.PASSED)
        pipeline.store.commit(record, cloudpickle.dumps(value_of[step.name]))


def test_accept_scheme_adopts_v1_results_where_v1_saw_everything(tmp_path: Path) -> None:
    folder, calls = tmp_path / "f", []
    old = build(folder, calls)
    store_as_v1(old, {s.name: ("old", s.name) for s in old.steps})
    plan = Plan.make(old.steps, old.freeze(), old.options)
    rows = {r["name"]: r for r in dry_run_rows(plan, old.store)}
    assert "--accept-scheme adopts it" in rows["plain_0"]["reason"]
    assert "could not see its global" in rows["scaled_0"]["reason"]

    pipeline = build(folder, calls)
    pipeline.execute(accept_scheme=True)
    assert sorted(calls) == ["scaled_0", "scaled_1", "scaled_2"]  # blind to SCALE: recomputed
    assert pipeline.get_result("plain_1") == ("old", "plain_1")  # adopted, not recomputed
    assert pipeline.get_result("scaled_1") == 2.0
    adopted = pipeline.record("plain_1")
    assert adopted is not None and adopted.accepted == ["scheme v1"] and adopted.adopted_from


def test_without_accept_scheme_v1_results_are_recomputed(tmp_path: Path) -> None:
    folder, calls = tmp_path / "f", []
    old = build(folder, calls)
    store_as_v1(old, {s.name: "old" for s in old.steps})
    build(folder, calls).execute()
    assert len(calls) == 6
