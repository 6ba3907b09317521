from __future__ import annotations

import pytest

from ezpipe import (
    DefinitionError,
    DuplicateStepNameError,
    ForeignStepError,
    FrozenPipelineError,
    Pipeline,
    PlaceHolder,
    Step,
    as_pickle_step,
)
from ezpipe.steps import find_steps, substitute


def test_calling_a_step_records_it_and_runs_nothing(folder):
    pipeline = Pipeline(folder)
    calls = []

    @as_pickle_step(pipeline)
    def alpha(x):
        calls.append(x)
        return x

    step = alpha(3)
    assert isinstance(step, Step)
    assert calls == []
    assert step.name == "alpha"
    assert step.get_status() == -1
    assert not folder.exists()  # defining touches no disk


def test_sweep_names_are_unique_stable_and_readable(folder):
    pipeline = Pipeline(folder)

    @pipeline.step
    def f(x):
        return x

    names = [f(i).name for i in range(1000)]
    assert names[:3] == ["f", "f.1", "f.2"]
    assert len(set(names)) == 1000
    again = Pipeline(folder)
    g = again.step(f.func)
    assert [g(i).name for i in range(1000)] == names


def test_name_templates_and_explicit_names(folder):
    pipeline = Pipeline(folder)

    @pipeline.step(name="train_lr{lr}_b{batch}")
    def train(lr, batch=32):
        return lr

    assert train(0.1).name == "train_lr0.1_b32"
    assert train(0.2, batch=8).name == "train_lr0.2_b8"
    assert train.named("special")(0.3).name == "special"
    with pytest.raises(DuplicateStepNameError, match=r"train_lr0\.1_b32"):
        train(0.1)


def test_explicit_name_colliding_with_an_automatic_one_is_refused(folder):
    pipeline = Pipeline(folder)

    @pipeline.step
    def a():
        return 1

    a()
    with pytest.raises(DuplicateStepNameError, match="'a'"):
        a.named("a")()


def test_auto_names_skip_names_already_taken(folder):
    pipeline = Pipeline(folder)

    @pipeline.step
    def a():
        return 1

    a.named("a.1")()
    assert [a().name, a().name] == ["a", "a.2"]


def test_bad_names_are_refused(folder):
    pipeline = Pipeline(folder)

    @pipeline.step
    def a():
        return 1

    for bad in ["", "x/y", "..", ".hidden"]:
        with pytest.raises(DefinitionError):
            a.named(bad)


def test_dependencies_are_implied_by_placeholders_and_bare_steps_anywhere(folder):
    pipeline = Pipeline(folder)

    @pipeline.step
    def src(i):
        return i

    @pipeline.step
    def use(*args, **kwargs):
        return args, kwargs

    s = [src(i) for i in range(6)]
    step = use(PlaceHolder(s[0]), [s[1], (s[2],)], key={"k": s[3]}, other={s[4]})
    assert sorted(step.upstream) == [0, 1, 2, 3, 4]
    assert step.after == ()
    in_frozenset = use(frozenset([s[5]]))
    assert in_frozenset.upstream == (5,)
    pipeline.execute()
    args, kwargs = step.get_result()
    assert args == (0, [1, (2,)]) and kwargs == {"key": {"k": 3}, "other": {4}}
    assert in_frozenset.get_result() == ((frozenset([5]),), {})


def test_depends_on_adds_order_only_dependencies(folder):
    pipeline = Pipeline(folder)

    @pipeline.step
    def a():
        return 1

    step_a = a()

    @as_pickle_step(pipeline, depends_on=[step_a])
    def b():
        return 2

    step_b = b()
    assert step_b.upstream == ()
    assert step_b.dependencies == [step_a.index]
    with pytest.raises(DefinitionError, match="takes steps"):
        as_pickle_step(pipeline, depends_on=[42])(lambda: 1)


def test_steps_of_another_pipeline_are_refused(tmp_path):
    one, two = Pipeline(tmp_path / "one", "one"), Pipeline(tmp_path / "two", "two")

    @one.step
    def a():
        return 1

    @two.step
    def b(x):
        return x

    with pytest.raises(ForeignStepError, match="belongs to pipeline 'one'"):
        b(a())


def test_no_steps_after_freezing(folder):
    pipeline = Pipeline(folder)

    @pipeline.step
    def a():
        return 1

    first = a()
    pipeline.freeze()
    with pytest.raises(FrozenPipelineError):
        a()
    with pytest.raises(FrozenPipelineError):
        first.depends_on(first)


def test_wrong_arguments_fail_at_definition(folder):
    pipeline = Pipeline(folder)

    @pipeline.step
    def a(x, y):
        return x + y

    with pytest.raises(DefinitionError, match="bad arguments for step"):
        a(1, 2, 3)
    with pytest.raises(DefinitionError, match="not parameters"):
        pipeline.step(exclude_from_key=["nope"])(lambda x: x)


def test_placeholder_needs_a_step():
    with pytest.raises(DefinitionError, match="takes a step"):
        PlaceHolder(3)


def test_find_and_substitute_rebuild_containers(folder):
    pipeline = Pipeline(folder)

    @pipeline.step
    def a():
        return 1

    s = a()
    value = {"x": [s, (PlaceHolder(s), 2)], "y": frozenset([3])}
    found: dict = {}
    find_steps(value, found)
    assert list(found.values()) == [s]
    assert substitute(value, lambda step: 10) == {"x": [10, (10, 2)], "y": frozenset([3])}
