"""ezpipe.open: a folder's records, results and verdict, without the script."""

from __future__ import annotations

from pathlib import Path

import cloudpickle
import pytest

import ezpipe
from ezpipe import Pipeline, ResultNotAvailableError, Status, StepFailedError
from ezpipe.store import Store


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


@pytest.mark.parametrize("layout", ["packed", "folder"])
def test_a_damaged_result_is_never_returned(
    tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EZPIPE_STORE_LAYOUT", layout)
    folder = tmp_path / "f"
    run(folder)
    assert ezpipe.open(folder)["total"] == 10
    where = Store(folder).result_path("total", ezpipe.open(folder).record("total").key)
    data = bytearray(where.read_bytes())
    value = cloudpickle.dumps(10)
    at = data.rfind(value)
    assert at >= 0  # the pickled result is in that file (the pack, or result.pkl)
    data[at + len(value) - 2] ^= 0xFF  # one flipped byte inside the result
    where.write_bytes(bytes(data))
    with pytest.raises(ResultNotAvailableError):
        ezpipe.open(folder)["total"]
