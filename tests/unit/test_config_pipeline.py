"""Config steps inside a Pipeline: ordinary steps with the same keys, cache and names."""

from __future__ import annotations

import pytest
from config_steps import Load, Scale, Total, Train

from ezpipe import Chain, ConfigError, ConfigStep, DefinitionError, Loop, Pipeline


def computed(frame) -> list[str]:
    """Names of the steps this run computed (not reused from the cache)."""
    return [row["name"] for _, row in frame.iterrows() if not row["cached"]]


def test_a_config_step_is_an_ordinary_cached_step(folder):
    pipeline = Pipeline(folder, echo=False)
    load = pipeline.add(Load(n=3), name="load")
    total = pipeline.add(Chain([Scale(coeff=2), Total()]), load, name="post")
    frame = pipeline.execute()
    assert [s.name for s in pipeline.steps] == ["load", "post.0", "post.1"]
    assert pipeline.get_result(total) == 6.0
    assert list(frame["status"]) == [0, 0, 0] and computed(frame) == ["load", "post.0", "post.1"]
    again = Pipeline(folder, echo=False)
    again.add(Load(n=3), name="load")
    again.add(Chain([Scale(coeff=2), Total()]), again["load"], name="post")
    assert computed(again.execute()) == []


def test_editing_one_field_recomputes_that_step_and_what_is_downstream(folder):
    def build(coeff: float, n_jobs: int = 1, device: str = "cpu") -> Pipeline:
        pipeline = Pipeline(folder, echo=False)
        load = pipeline.add(Load(n=3), name="load")
        side = pipeline.add(Total(), load, name="side")
        scaled = pipeline.add(Scale(coeff=coeff, n_jobs=n_jobs, device=device), load, name="s")
        pipeline.add(Total(), scaled, name="total")
        assert side.name == "side"
        return pipeline

    assert len(computed(build(2.0).execute())) == 4
    assert computed(build(2.0, n_jobs=8, device="cuda").execute()) == []  # excluded fields
    frame = build(5.0).execute()
    assert computed(frame) == ["s", "total"]
    assert build(5.0).get_result("total") == 15.0


def test_default_names_are_the_class_names(folder):
    pipeline = Pipeline(folder, echo=False)
    first = pipeline.add(Load(n=1))
    second = pipeline.add(Load(n=2))
    chain = pipeline.add(Chain(steps={"scale": Scale(), "sum": Total()}), second)
    assert [first.name, second.name, chain.name] == ["Load", "Load.1", "sum"]
    assert pipeline["scale"].function_name == "Scale"


def test_a_loop_names_iterations_and_growing_it_computes_only_the_new_ones(folder):
    def build(n: int) -> Pipeline:
        pipeline = Pipeline(folder, echo=False)
        start = pipeline.add(Load(n=1), name="start")
        pipeline.add(Loop(n, [Train()]), start, name="train")
        return pipeline

    first = build(10)
    frame = first.execute()
    assert [s.name for s in first.steps][1:] == [f"train@{i}" for i in range(1, 11)]
    assert len(computed(frame)) == 11
    keys = {s.name: s.key for s in first.steps}
    grown = build(12)
    assert computed(grown.execute()) == ["train@11", "train@12"]
    assert all(keys[s.name] == s.key for s in grown.steps if s.name in keys)
    assert grown.get_result("train@12") == [0, *range(1, 13)]
    # iteration i waits for iteration i-1
    assert grown["train@3"].dependencies == [grown["train@2"].index]


def test_a_loop_of_several_steps_feeds_each_iteration_from_the_last(folder):
    pipeline = Pipeline(folder, echo=False)
    loop = Loop(2, {"scale": Scale(coeff=3), "again": Scale(coeff=1)})
    last = pipeline.add(loop, pipeline.add(Load(n=2), name="load"), name="grow")
    pipeline.execute()
    assert [s.name for s in pipeline.steps][1:] == [
        "grow.scale@1",
        "grow.again@1",
        "grow.scale@2",
        "grow.again@2",
    ]
    assert pipeline.get_result(last) == [0.0, 9.0]


def test_a_transformer_needs_an_input_and_a_generator_takes_none(folder):
    pipeline = Pipeline(folder, echo=False)
    with pytest.raises(ConfigError, match=r"Scale\._run takes an input"):
        pipeline.add(Scale(), name="lonely")
    load = pipeline.add(Load(), name="load")
    with pytest.raises(ConfigError, match="Load takes no input"):
        pipeline.add(Chain([Load(), Load()]), load, name="twice")
    with pytest.raises(ConfigError, match="takes a ConfigStep"):
        pipeline.add({"type": "Load"})  # type: ignore[arg-type]


def test_the_class_version_is_part_of_the_key(folder):
    class Versioned(ConfigStep):
        version = 1

        def _run(self) -> int:
            return 1

    one = Pipeline(folder, echo=False).add(Versioned())
    one.pipeline.freeze()
    Versioned.version = 2
    two = Pipeline(folder, echo=False).add(Versioned())
    two.pipeline.freeze()
    assert one.key != two.key


def test_resource_defaults_reach_the_step_definition(folder):
    class Heavy(ConfigStep):
        ranks = 4
        memory = "8G"

        def _run(self, comm) -> int:  # a k-rank step takes its communicator, as functions do
            return comm.size

    step = Pipeline(folder, echo=False).add(Heavy())
    assert step.definition.config_resources == {"ranks": 4, "memory": "8G"}
    assert step.definition.resources.ranks == 4 and step.definition.resources.memory == 8 << 30

    class Forgot(ConfigStep):
        ranks = 2

        def _run(self) -> int:
            return 1

    with pytest.raises(DefinitionError, match="parameter named 'comm'"):
        Pipeline(folder, echo=False).add(Forgot())


def test_editing_run_changes_the_key(folder):
    def key_of(cls: type[ConfigStep]) -> str:
        step = Pipeline(folder, echo=False).add(cls())
        step.pipeline.freeze()
        return step.key

    class Edited(ConfigStep):
        def _run(self) -> int:
            return 1

    first = key_of(Edited)

    class Edited(ConfigStep):  # the same class, its code edited
        def _run(self) -> int:
            return 2

    assert key_of(Edited) != first


def test_resources_go_to_whatever_form_the_step_options_take(monkeypatch):
    from ezpipe import options as options_module
    from ezpipe.config import build

    monkeypatch.setattr(build, "_step_options", lambda: frozenset({"version", "ranks"}))
    assert build.step_resources({"ranks": 4, "memory": "8G"}) == {"ranks": 4}

    class FakeOptions:
        @staticmethod
        def make(**given):
            return ("options", given)

    monkeypatch.setattr(build, "_step_options", lambda: frozenset({"version", "resources"}))
    monkeypatch.setattr(options_module, "StepOptions", FakeOptions, raising=False)
    assert build.step_resources({"ranks": 4}) == {"resources": ("options", {"ranks": 4})}
    assert build.step_resources({}) == {}
