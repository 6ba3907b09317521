"""run_only, from_step, the options passed through the environment, the dry-run rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from ezpipe import DefinitionError, Pipeline, control


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
    assert control.select(p.steps, None) is None
    assert names(control.select(p.steps, ["b_1"])) == ["a", "b_1"]
    assert names(control.select(p.steps, [r"^b_[02]$"])) == ["a", "b_0", "b_2"]
    assert names(control.select(p.steps, ["^c$"])) == ["a", "b_0", "b_1", "b_2", "c"]
    with pytest.raises(DefinitionError, match="matches no step"):
        control.select(p.steps, ["nothing"])
    with pytest.raises(DefinitionError, match="bad regular expression"):
        control.select(p.steps, ["(unclosed"])


def test_from_step_names_are_checked_with_suggestions(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    assert control.resolve_names(p.steps, ["b_1", "a"]) == [2, 0]
    with pytest.raises(DefinitionError, match=r"did you mean \['b_1'"):
        control.resolve_names(p.steps, ["b1"])


def test_the_environment_overrides_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    options = control.Options(True, ["x", "y"], ["s"], 3, "retry")
    env = control.environment(options)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    resolved = control.resolve_options(False, None, "other", 7, "cached")
    assert resolved == options
    monkeypatch.setenv(control.ENV_MAX_CONCURRENT, "0")
    with pytest.raises(DefinitionError, match="at least 1"):
        control.resolve_options()


def test_the_call_stands_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in control.environment(control.Options(True, ["x"], ["s"], 1, "force")):
        monkeypatch.delenv(key, raising=False)
    options = control.resolve_options(False, "^b", "a", 2, "force")
    assert options == control.Options(False, ["^b"], ["a"], 2, "force")
    assert options.as_dict() == {
        "run_only": ["^b"],
        "from_step": ["a"],
        "max_concurrent": 2,
        "mode": "force",
    }
