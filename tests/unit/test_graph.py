from __future__ import annotations

import json

import pytest

from ezpipe import CycleError, Pipeline
from ezpipe.graph import freeze


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
