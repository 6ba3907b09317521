"""The plan of a run: run_only, from_step, the run-or-reuse decision, the dry-run rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from ezpipe import DefinitionError, Pipeline, plan


def _pipeline(tmp_path: Path) -> Pipeline:
    pipeline = Pipeline(tmp_path / "p", echo=False, progress=False)

    @pipeline.step
    def a(x):
        return x

    @pipeline.step(name="b_{k}")
    def b(v, k):
        return v + k

    @pipeline.step
    def c(values):
        return sum(values)

    first = a(1)
    c([b(first, k) for k in range(3)])
    pipeline.freeze()
    return pipeline


def test_run_only_selects_matches_and_their_dependencies(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    names = lambda todo: sorted(p.steps[i].name for i in todo)  # noqa: E731
    assert plan.select(p.steps, None) is None
    assert names(plan.select(p.steps, ["b_1"])) == ["a", "b_1"]
    assert names(plan.select(p.steps, [r"^b_[02]$"])) == ["a", "b_0", "b_2"]
    assert names(plan.select(p.steps, ["^c$"])) == ["a", "b_0", "b_1", "b_2", "c"]
    with pytest.raises(DefinitionError, match="matches no step"):
        plan.select(p.steps, ["nothing"])
    with pytest.raises(DefinitionError, match="bad regular expression"):
        plan.select(p.steps, ["(unclosed"])


def test_from_step_names_are_checked_with_suggestions(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    assert plan.resolve_names(p.steps, ["b_1", "a"]) == [2, 0]
    with pytest.raises(DefinitionError, match=r"did you mean \['b_1'"):
        plan.resolve_names(p.steps, ["b1"])


def test_read_only_reports_a_recorded_failure_as_that_failure(tmp_path: Path) -> None:
    pipeline = Pipeline(tmp_path / "p", echo=False, progress=False)

    @pipeline.step
    def fails():
        raise ArithmeticError("the recorded one")

    step = fails()
    pipeline.execute()
    frame = pipeline.execute(mode="read-only").set_index("name")
    assert frame.loc["fails", "cached"]  # the recorded failure, reused
    assert "the recorded one" in frame.loc["fails", "error"]
    assert "no cached result" not in frame.loc["fails", "error"]
    assert step.status.label == "FAIL"


@pytest.mark.parametrize("layout", ["packed", "folder"])
def test_a_dry_run_of_a_new_folder_answers_each_mode_as_a_full_look_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """Steps with nothing stored under their name are answered without store look-ups:
    the same answers as the look-ups give (one step stored, the others new)."""
    monkeypatch.setenv("EZPIPE_STORE_LAYOUT", layout)
    p = _pipeline(tmp_path)
    p.execute(run_only=["^a$"])
    rows = lambda **kw: {  # noqa: E731
        r["name"]: (r["action"], r["reason"])
        for r in p.execute(dry_run=True, **kw).to_dict("records")
    }
    never = plan.why.NEVER_RUN
    assert rows() == {
        "a": ("cached", ""),
        "b_0": ("run", never),
        "b_1": ("run", never),
        "b_2": ("run", never),
        "c": ("run", never),
    }
    read_only = rows(mode="read-only")
    assert read_only["a"] == ("cached", "") and read_only["b_1"] == ("missing (read-only)", "")
    assert read_only["c"] == ("skip", "upstream 'b_0' would not pass")
    assert set(rows(mode="force").values()) == {("run", "forced")}
    assert rows(from_step=["b_1"])["c"] == ("run", "forced")
    assert rows(from_step=["b_1"])["b_0"] == ("run", never)


def test_expected_reuse_is_what_reusable_would_take(tmp_path: Path) -> None:
    """The batching hint agrees with the decision on a finished, a half-changed and a
    forced run, and asks nothing of a per-step folder (it has no index)."""
    from ezpipe.options import RunOptions
    from ezpipe.records import Mode

    p = _pipeline(tmp_path)
    p.execute()
    store = p.store
    for options in (
        RunOptions(),
        RunOptions(mode=Mode.FORCE),
        RunOptions(from_step=["b_1"]),
    ):
        made = plan.Plan.make(p.steps, p.freeze(), options)
        hinted = plan.expected_reuse(made, store)
        decided = {s.index for s in p.steps if plan.reusable(made, store, s.index)}
        assert hinted == decided
    everything = plan.Plan.make(p.steps, p.freeze(), RunOptions())
    assert plan.expected_reuse(everything, store) == set(range(len(p.steps)))
    assert not plan.expected_reuse(
        plan.Plan.make(p.steps, p.freeze(), RunOptions(mode=Mode.FORCE)), store
    )


def test_expected_reuse_is_empty_for_a_per_step_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ezpipe.options import RunOptions

    monkeypatch.setenv("EZPIPE_STORE_LAYOUT", "folder")
    p = _pipeline(tmp_path)
    p.execute()
    assert p.store.layout == "folder"
    assert plan.expected_reuse(plan.Plan.make(p.steps, p.freeze(), RunOptions()), p.store) == set()


def test_expected_reuse_leaves_out_steps_with_an_output_folder(tmp_path: Path) -> None:
    """Checking an output folder hashes its files: never counted as a quick check."""
    from ezpipe.options import RunOptions

    pipeline = Pipeline(tmp_path / "p", echo=False, progress=False)

    @pipeline.step
    def writes(output_dir):
        (output_dir / "out.txt").write_text("x")
        return 1

    @pipeline.step
    def plain():
        return 2

    writes(), plain()
    pipeline.execute()
    made = plan.Plan.make(pipeline.steps, pipeline.freeze(), RunOptions())
    assert {pipeline.steps[i].name for i in plan.expected_reuse(made, pipeline.store)} == {"plain"}
    assert plan.reusable(made, pipeline.store, 0) is not None  # reused all the same
