"""ezpipe.open: a folder's records, results and verdict, without the script."""

from __future__ import annotations

from pathlib import Path

import pytest

import ezpipe
from ezpipe import Pipeline, ResultNotAvailableError, Status, StepFailedError


def run(folder: Path) -> None:
    pipeline = Pipeline(folder, "reader", echo=False, progress=False)

    @pipeline.step(name="point_{k}")
    def point(k):
        if k == 2:
            raise ValueError("two is bad")
        return k * 10

    @pipeline.step
    def total(values):
        return sum(values)

    total([point(k) for k in range(2)])
    point(2)
    pipeline.execute()


def test_a_folder_reads_back_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    run(folder)
    reader = ezpipe.open(folder)
    assert set(reader) == {"point_0", "point_1", "point_2", "total"} and len(reader) == 4
    assert reader["total"] == 10 and reader.result("point_1") == 10
    assert reader.status("point_2") == Status.FAILED
    with pytest.raises(StepFailedError, match="two is bad"):
        reader["point_2"]
    with pytest.raises(ResultNotAvailableError, match="did you mean 'total'"):
        reader["totl"]
    assert reader.results() == {"point_0": 0, "point_1": 10, "total": 10}
    assert reader.tally.word == "Failed" and "4 steps" in repr(reader)
    assert reader.summary.set_index("name").loc["total", "status"] == 0


def test_a_damaged_result_is_never_returned(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    run(folder)
    for result in folder.glob("steps/total/*/result.pkl"):
        result.write_bytes(b"not a pickle")
    with pytest.raises(ResultNotAvailableError, match="missing or corrupt"):
        ezpipe.open(folder)["total"]
