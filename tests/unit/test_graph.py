from __future__ import annotations

import json

import pytest

from ezpipe import CycleError, Pipeline, nonblocking
from ezpipe.graph import RANKS_ARGUMENT, freeze, key_arguments, step_manifest
from ezpipe.keys import StepRef, step_key_and_manifest


def diamond(folder):
    pipeline = Pipeline(folder, "diamond")

    @pipeline.step
    def a():
        return 1

    @pipeline.step
    def b(x):
        return x

    @pipeline.step
    def c(*xs):
        return xs

    top = a()
    left, right = b(top), b(top)
    bottom = c(left, right)
    lone = a.named("lone")()
    tail = c(bottom, lone)
    return pipeline, [top, left, right, bottom, lone, tail]


def test_phases_are_topological_generations(folder):
    pipeline, (top, left, right, bottom, lone, tail) = diamond(folder)
    frozen = pipeline.freeze()
    assert frozen.phases == [
        [top.index, lone.index],
        [left.index, right.index],
        [bottom.index],
        [tail.index],
    ]
    assert [s.phase for s in (top, left, bottom, lone, tail)] == [0, 1, 2, 0, 3]


def test_order_only_dependency_cycle_is_refused_with_names(folder):
    pipeline, steps = diamond(folder)
    steps[0].depends_on(steps[3])
    with pytest.raises(CycleError, match="form a cycle") as info:
        pipeline.freeze()
    names = str(info.value).split(": ", 1)[1].split(" -> ")
    assert names[0] == names[-1]
    assert {"a", "c"} <= set(names) <= {"a", "b", "b.1", "c"}


def test_keys_follow_upstream_keys(tmp_path):
    keys = []
    for x in (1, 1, 2):
        pipeline = Pipeline(tmp_path / "k", "k")

        @pipeline.step
        def a(v):
            return v

        @pipeline.step
        def b(v):
            return v

        first = a(x)
        second = b(first)
        pipeline.freeze()
        keys.append((first.key, second.key))
    assert keys[0] == keys[1]
    assert keys[0][0] != keys[2][0] and keys[0][1] != keys[2][1]


def test_schema_file_lists_each_phase(folder):
    pipeline, steps = diamond(folder)
    pipeline.initialize_schema()
    document = json.loads((folder / "pipeline.schema").read_text())
    assert document["pipeline"] == "diamond"
    assert list(document["phases"]) == ["0", "1", "2", "3"]
    entry = document["phases"]["2"][0]
    assert entry["name"] == "c"
    assert entry["depends_on"] == ["b", "b.1"]
    assert entry["args"] == "[<b>, <b.1>]"
    assert entry["key"] == steps[3].key and len(entry["fingerprint"]) == 64
    assert document["schema_hash"] == pipeline.freeze().schema_hash


def test_schema_hash_changes_with_arguments(tmp_path):
    hashes = []
    for x in (1, 2):
        pipeline = Pipeline(tmp_path, "h")
        pipeline.step(lambda v: v)(x)
        hashes.append(freeze(pipeline.steps).schema_hash)
    assert hashes[0] != hashes[1]


def test_missing_nested_folder_is_created(tmp_path):
    pipeline, _ = diamond(tmp_path / "a" / "b" / "c")
    pipeline.initialize_schema()
    assert (tmp_path / "a" / "b" / "c" / "pipeline.schema").is_file()


def test_an_excluded_argument_still_carries_its_upstream_key(tmp_path):
    keys = []
    for value in (1, 2):
        pipeline = Pipeline(tmp_path / "x", "x")
        up = pipeline.step(name="up")(lambda v: v)(value)

        @pipeline.step(exclude_from_key=["data"])
        def down(data):
            return data * 10

        step = down(up)
        pipeline.freeze()
        keys.append(step.key)
    assert keys[0] != keys[1]


def test_a_frozen_steps_manifest_is_the_one_its_key_was_made_with(tmp_path):
    """The manifest is built when needed (a record, the schema) from what the freeze kept:
    it names the same key, argument digests and upstream steps as computing it anew."""
    pipeline = Pipeline(tmp_path / "m", "m")
    load = pipeline.step(name="load")(lambda n: list(range(n)))(3)

    @pipeline.step(exclude_from_key=["verbose"])
    def fit(data, alpha=0.5, verbose=False):
        return sum(data) * alpha

    step = fit(load, alpha=2.0, verbose=True)
    pipeline.freeze()
    arguments = {"data": StepRef(load.key, "load"), "alpha": 2.0, "verbose": True}
    fresh = step_key_and_manifest(
        fit.func, arguments, [load.key], None, ["verbose"], upstream_names=["load"]
    )
    built = step_manifest(step)
    assert fresh.key == step.key == built["key"]
    assert built == fresh.manifest
    assert built["parts"]["argument:alpha"]["repr"] == "2.0"
    assert "argument:verbose" not in built["parts"]
    assert built["parts"]["upstream:load"]["digest"] == load.key
    assert pipeline.execute()["status"].tolist() == [0, 0]
    assert pipeline.store.read_record("fit", step.key).manifest == built  # what a record keeps


def test_every_kind_of_step_gets_the_manifest_its_key_was_made_with(tmp_path):
    """k ranks, nonblocking inputs, order-only dependencies, steps nested in arguments."""
    pipeline = Pipeline(tmp_path / "k", "k")
    source = pipeline.step(name="source")(lambda n: n)
    a, b = source.named("a")(1), source.named("b")(2)

    @pipeline.step(ranks=2)
    def wide(x, comm=None):
        return x

    @pipeline.step
    def nested(data, options=None):
        return data

    @pipeline.step
    def peek(path):
        return str(path)

    steps = [
        wide(a),
        nested({"left": [a, (b,)], "k": 3}, options={"b": b}),
        peek(nonblocking(a.cd("x.txt"))),
        nested(5).depends_on(b),
    ]
    pipeline.freeze()
    for step in steps:
        deps = step.dependencies
        fresh = step_key_and_manifest(
            step.func,
            key_arguments(step),
            [pipeline.steps[d].key for d in deps],
            step.definition.version,
            step.definition.exclude_from_key,
            upstream_names=[pipeline.steps[d].name for d in deps],
        )
        assert fresh.key == step.key and step_manifest(step) == fresh.manifest, step.name
    assert step_manifest(steps[0])["parts"][f"argument:{RANKS_ARGUMENT}"]["repr"] == "2"
    assert set(step_manifest(steps[1])["parts"]) >= {"upstream:a", "upstream:b", "argument:data"}


class Box:
    def __init__(self, items):
        self.items = items

    def __repr__(self):
        return f"Box({self.items})"


def test_a_record_shows_an_argument_as_it_was_before_the_step_changed_it(tmp_path):
    pipeline = Pipeline(tmp_path / "m", "m", echo=False, progress=False)

    @pipeline.step
    def grow(box):
        box.items.append(99)  # a step that changes its input in place
        return len(box.items)

    step = grow(Box([1, 2]))
    pipeline.execute()
    record = pipeline.store.read_record("grow", step.key)
    assert record.manifest["parts"]["argument:box"]["repr"] == "Box([1, 2])"


def test_a_frozen_sweep_holds_under_a_kilobyte_per_step(tmp_path):
    """Memory, not time: a million steps must fit in a node's memory many times over."""
    import gc
    import tracemalloc

    def sweep(n, folder):
        pipeline = Pipeline(folder, "s")
        point = pipeline.step(name="p{i}")(lambda i, inputs=(): i)
        made = []
        for i in range(n):  # every tenth step fans in the five before it
            made.append(point(i, made[-5:] if i % 10 == 9 else ()))
        return pipeline, made

    sweep(50, tmp_path / "warm")[0].freeze()  # the modules a freeze imports, not counted
    gc.collect()
    tracemalloc.start()
    pipeline, _ = sweep(20_000, tmp_path / "s")
    pipeline.freeze()
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert held / 20_000 < 1024
