"""What code written for ezpyp relies on: its names, its statuses, its guards, its warnings."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from ezpipe import (
    FailedStepWarning,
    InitializationError,
    NotExecutedStepWarning,
    Pipeline,
    RepeatedStepError,
    ResultNotAvailableError,
    SchemaConflictError,
    SkippedStepWarning,
    UnrecognizedStepWarning,
    as_dill_step,
    as_pickle_step,
)
from ezpipe.steps import PlaceHolder


def chain(folder: Path, name: str = "chain") -> tuple[Pipeline, list]:
    pipeline = Pipeline(folder, name, echo=False, progress=False)

    @as_pickle_step(pipeline=pipeline, depends_on=[])
    def base():
        return 3

    first = base()

    @as_pickle_step(pipeline=pipeline, depends_on=[first])
    def square(x):
        return x**2

    second = square(PlaceHolder(first))

    @as_pickle_step(pipeline, depends_on=[second])
    def explode():
        raise RuntimeError("boom")

    third = explode()

    @as_pickle_step(pipeline, depends_on=[third])
    def after():
        return "never"

    return pipeline, [first, second, third, after()]


def test_phases_statuses_and_results(tmp_path: Path) -> None:
    pipeline, (first, second, third, fourth) = chain(tmp_path)
    assert len(pipeline.organize_steps()) == len(pipeline.phases) == 4
    assert [s.get_status() for s in pipeline.steps] == [-1, -1, -1, -1]
    pipeline.execute()
    assert [s.get_status() for s in (first, second, third, fourth)] == [0, 0, 1, 2]
    assert second.get_result() == 9 and PlaceHolder(second).get_result() == 9
    assert pipeline.summary_path.exists() and pipeline.schema_path.exists()
    assert pipeline.summary_path.read_text().startswith("Pipeline Failed @")


def test_the_schema_exists_only_once_initialized_and_then_cannot_grow(tmp_path: Path) -> None:
    pipeline, _ = chain(tmp_path)
    with pytest.raises(InitializationError, match="no schema yet"):
        pipeline.get_schema()
    pipeline.barrier()
    pipeline.initialize_schema()
    assert pipeline.get_schema()["n_steps"] == 4
    with pytest.raises(InitializationError, match="frozen"):

        @as_pickle_step(pipeline)
        def late():
            return 1

        late()
    pipeline.initialize_schema()  # again: nothing to do
    assert not pipeline.lock.held  # initializing alone does not keep the folder locked


def test_two_pipelines_of_one_process_declaring_different_schemas_conflict(
    tmp_path: Path,
) -> None:
    first, _ = chain(tmp_path, "same")
    first.initialize_schema()
    again, _ = chain(tmp_path, "same")
    again.initialize_schema()  # the same schema: no conflict
    grown, _ = chain(tmp_path, "same")
    as_pickle_step(grown)(lambda: 1)()
    with pytest.raises(SchemaConflictError, match="has not run yet"):
        grown.initialize_schema()
    first.execute()  # once the first has run, the folder takes the new definition
    assert grown.initialize_schema() is not None


def test_get_result_warns_for_ezpyp_code_and_raises_otherwise(tmp_path: Path) -> None:
    pipeline, _ = chain(tmp_path)
    with pytest.warns(NotExecutedStepWarning):
        assert pipeline.get_result("base") is None
    with pytest.raises(ResultNotAvailableError, match="has not been run"):
        pipeline.get_result("base")
    pipeline.execute()
    assert pipeline.get_result("base") == 3
    with pytest.warns(UnrecognizedStepWarning, match="did you mean 'base'"):
        assert pipeline.get_result("bse") is None
    with pytest.warns(FailedStepWarning, match="boom"):
        pipeline.get_result("explode")
    with pytest.warns(SkippedStepWarning, match="explode"):
        pipeline.get_result("after")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert pipeline.get_result("after") is None
    with pytest.raises(LookupError):  # code that knows nothing of ezpipe still catches it
        pipeline.get_result("after")


def test_a_name_used_twice_is_refused_under_ezpyp_s_name(tmp_path: Path) -> None:
    pipeline = Pipeline(tmp_path, echo=False)
    step = pipeline.step(name="same")(lambda x: x)
    step(1)
    with pytest.raises(RepeatedStepError, match="two steps are named 'same'"):
        step(2)


def test_a_dill_step_holds_what_pickle_cannot(tmp_path: Path) -> None:
    pipeline = Pipeline(tmp_path, echo=False, progress=False)

    @as_dill_step(pipeline)
    def make_power(n):
        return lambda x: x**n

    cube = make_power(3)
    pipeline.execute()
    assert cube.get_result()(2) == 8
