"""Value encoding and step keys: joblib's hashing properties applied to ezpipe's keys."""

from __future__ import annotations

import collections
import dataclasses
import enum
import pickle
import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import NamedTuple

import numpy as np
import pandas as pd
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ezpipe.keys.values as values_module
from ezpipe.errors import DefinitionError
from ezpipe.keys import (
    KEY_LENGTH,
    StepRef,
    function_fingerprint,
    hash_value,
    key_session,
    step_key,
    step_key_and_manifest,
)


@dataclasses.dataclass
class Config:
    lr: float
    layers: tuple[int, ...]


class Model(pydantic.BaseModel):
    name: str
    size: int = 3


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Pair(NamedTuple):
    name: str
    func: object


class Holder:
    def __init__(self, groups: object) -> None:
        self.groups = groups


def test_key_length_is_kept():
    assert KEY_LENGTH == 16


def test_dict_and_set_order_never_change_a_key():
    assert hash_value({"a": 1, "b": 2}) == hash_value({"b": 2, "a": 1})
    assert hash_value({3, 1, 2}) == hash_value({2, 3, 1})


def test_types_and_values_are_distinguished():
    values = [1, 1.0, True, "1", b"1", [1], (1,), {1}, frozenset({1}), None, 0, -0.0, 0.0]
    values += [[], (), {}, 1 + 0j, np.int64(1), np.float64(1.0), Color.RED]
    assert len({hash_value(v) for v in values}) == len(values)


def test_floats_are_exact():
    assert hash_value(0.1 + 0.2) != hash_value(0.3)
    assert hash_value(1e-300) != hash_value(1.0000000000000001e-300 * 1.0000001)
    assert hash_value(float("inf")) != hash_value(float("-inf"))
    assert hash_value(-0.0) != hash_value(0.0)


def test_rich_values_hash_by_content():
    assert hash_value(np.arange(5)) == hash_value(np.arange(5))
    assert hash_value(np.arange(5)) != hash_value(np.arange(5) + 1)
    assert hash_value(np.arange(5)) != hash_value(np.arange(5).astype(float))
    assert hash_value(np.arange(6).reshape(2, 3)) != hash_value(np.arange(6).reshape(3, 2))
    assert hash_value(np.arange(6)[::2]) == hash_value(np.arange(6)[::2])
    assert hash_value(np.arange(6)[::2]) != hash_value(np.array([0, 2, 4]))  # layout, as joblib
    assert hash_value(np.arange(6)[::2].copy()) == hash_value(np.array([0, 2, 4]))
    assert hash_value(np.array([1, "a"], dtype=object)) != hash_value(
        np.array([1, "b"], dtype=object)
    )
    frame = pd.DataFrame({"a": [1, 2]})
    assert hash_value(frame) == hash_value(frame.copy())
    assert hash_value(frame) != hash_value(frame.assign(a=[1, 3]))
    assert hash_value(pd.Series([1, 2])) != hash_value(pd.Series([1, 2], index=[5, 6]))
    assert hash_value(Config(0.1, (1, 2))) == hash_value(Config(0.1, (1, 2)))
    assert hash_value(Config(0.1, (1, 2))) != hash_value(Config(0.2, (1, 2)))
    assert hash_value(Model(name="x")) == hash_value(Model(name="x", size=3))
    assert hash_value(Model(name="x")) != hash_value(Model(name="x", size=4))


def test_joblib_hashing_properties_hold():
    """Properties from joblib's own hashing tests, applied to ezpipe's digests."""
    rng = np.random.RandomState(0)
    arr1 = rng.random_sample((10, 10))
    arr2 = arr1.copy()
    arr3 = arr2.copy()
    arr3[0] += 1
    for a in (arr1, arr2, arr3):
        for b in (arr1, arr2, arr3):
            assert (hash_value(a) == hash_value(b)) == bool(np.all(a == b))
    assert hash_value(arr1) != hash_value(arr1.T)
    assert hash_value(arr1) != hash_value(np.asfortranarray(arr1))
    strided = np.asarray(np.arange(6000).reshape((1000, 2, 3)), order="F")[:, :1, :]
    assert hash_value(strided) != hash_value(np.ascontiguousarray(strided))
    assert hash_value(strided) != hash_value(np.asfortranarray(strided))
    assert hash_value(np.array(0)) != hash_value(np.array([0]))
    assert hash_value(np.zeros(3, "datetime64[s]")) != hash_value(np.zeros(3, "datetime64[D]"))
    assert hash_value(np.float64(2.0)) != hash_value(np.float64(3.0))
    objects = np.array([np.arange(i) for i in range(6)], dtype=object)
    assert hash_value(objects) == hash_value(
        np.array([np.arange(i) for i in range(6)], dtype=object)
    )
    one, other = collections.deque(range(10)), collections.deque(range(9))
    assert hash_value(one.extend) != hash_value(other.extend)
    assert hash_value(one.extend) == hash_value(collections.deque(range(10)).extend)
    assert hash_value({Decimal(0), Decimal("NaN")}) == hash_value({Decimal("NaN"), Decimal(0)})
    dtype = np.dtype([("name", np.str_, 16), ("grades", np.float64, (2,))])
    assert hash_value(dtype) == hash_value(pickle.loads(pickle.dumps(dtype)))
    values = [1, 2, 1.0, 2.0, 1 + 1j, 2.0 + 1j, "a", "b", (1,), (1, 1), [1], [1, 1], {1: 1}]
    values += [{1: 2}, {2: 1}, None, len, [1].append]
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            assert (hash_value(a) == hash_value(b)) == (i == j), (a, b)


def test_enums_are_keyed_by_member():
    assert hash_value(Color.RED) == hash_value(Color(1))
    assert hash_value(Color.RED) != hash_value(Color.GREEN)
    assert hash_value(Color.RED) != hash_value(1)


def test_ordered_dicts_keep_their_order_and_plain_dicts_do_not():
    a = collections.OrderedDict([("x", 1), ("y", 2)])
    b = collections.OrderedDict([("y", 2), ("x", 1)])
    assert hash_value(a) != hash_value(b)
    assert hash_value(a) == hash_value(collections.OrderedDict([("x", 1), ("y", 2)]))
    assert hash_value(dict(a)) == hash_value(dict(b))
    assert hash_value(a) != hash_value(dict(a))


def test_namedtuple_holding_a_lambda_is_keyed_by_its_fingerprint():
    first = Pair("a", lambda x: x + 1)
    same = Pair("a", lambda x: x + 1)
    other = Pair("a", lambda x: x + 2)
    assert hash_value(first) == hash_value(same)
    assert hash_value(first) != hash_value(other)
    assert hash_value(first) != hash_value(("a", first.func))  # the type counts
    assert hash_value(Pair("a", 1)) != hash_value(Pair("b", 1))


def test_self_referential_argument_is_a_clear_definition_error():
    loop: list[object] = [1]
    loop.append(loop)
    with pytest.raises(DefinitionError, match=r"argument data .*contains itself"):
        step_key("fp", {"data": loop}, [], None)
    mapping: dict[str, object] = {}
    mapping["me"] = mapping
    with pytest.raises(DefinitionError, match="contains itself"):
        hash_value(mapping)
    holder = Holder(None)
    holder.groups = [holder]
    with pytest.raises(DefinitionError, match="Holder that contains itself"):
        hash_value(holder)
    shared = [1, 2]
    assert hash_value([shared, shared]) == hash_value([[1, 2], [1, 2]])  # sharing is no cycle


def test_deep_nesting_is_a_definition_error_not_a_recursion_error():
    deep: list[object] = []
    for _ in range(sys.getrecursionlimit() * 2):
        deep = [deep]
    with pytest.raises(DefinitionError, match="nested too deeply"):
        hash_value(deep)


def test_unpicklable_argument_names_the_argument():
    import threading

    with pytest.raises(DefinitionError, match="step 'fit': argument lock cannot be part"):
        step_key("fp", {"lock": threading.Lock()}, [], None, step_name="fit")


def _digests_under_seeds(code: str) -> set[str]:
    return {
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3", "4")
    }


def test_keys_are_stable_across_processes():
    code = (
        "from ezpipe.keys import hash_value;"
        "print(hash_value({'b': [1.5, 'x', {3, 1}], 'a': (None, True)}))"
    )
    digests = _digests_under_seeds(code)
    assert digests == {hash_value({"a": (None, True), "b": [1.5, "x", {1, 3}]})}


def test_an_object_holding_a_set_of_frozensets_has_one_key_under_any_hash_seed(tmp_path):
    (tmp_path / "holders.py").write_text(
        "class Holder:\n    def __init__(self, groups):\n        self.groups = groups\n"
    )
    code = f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from holders import Holder
        from ezpipe.keys import hash_value
        groups = {{frozenset({{"alpha", "beta"}}), frozenset({{"gamma"}}), frozenset("def")}}
        print(hash_value(Holder(groups)) + hash_value(groups))
    """
    digests = _digests_under_seeds(code)
    assert len(digests) == 1
    changed = code.replace('"gamma"', '"delta"')
    assert _digests_under_seeds(changed) != digests


def test_user_objects_are_keyed_by_their_state():
    assert hash_value(Holder([1, 2])) == hash_value(Holder([1, 2]))
    assert hash_value(Holder([1, 2])) != hash_value(Holder([2, 1]))
    assert hash_value(Holder({"a"})) != hash_value(Holder({"b"}))


class Cached:
    def __init__(self, value: int) -> None:
        self.value = value
        self.cache: dict[int, int] = {}

    def __getstate__(self) -> dict[str, int]:
        return {"value": self.value}


class Table(pd.DataFrame):
    pass


def test_user_objects_follow_getstate_and_library_subclasses_go_to_joblib():
    one, other = Cached(1), Cached(1)
    other.cache[3] = 4
    assert hash_value(one) == hash_value(other)
    assert hash_value(one) != hash_value(Cached(2))
    assert hash_value(Table({"a": [1]})) != hash_value(Table({"a": [2]}))
    assert hash_value(Table({"a": [1]})) == hash_value(Table({"a": [1]}))


def test_step_key_parts():
    base = step_key("fp", {"x": 1, "threads": 4}, [], None, ["threads"])
    assert base == step_key("fp", {"x": 1, "threads": 64}, [], None, ["threads"])
    assert base != step_key("fp", {"x": 2, "threads": 4}, [], None, ["threads"])
    assert base != step_key("fp2", {"x": 1, "threads": 4}, [], None, ["threads"])
    assert base != step_key("fp", {"x": 1, "threads": 4}, [], "2", ["threads"])
    assert base != step_key("fp", {"x": 1, "threads": 4}, ["k"], None, ["threads"])
    assert base != step_key("fp", {"y": 1, "threads": 4}, [], None, ["threads"])  # names count
    assert step_key("f", {"x": StepRef("a")}, [], None) != step_key(
        "f", {"x": StepRef("b")}, [], None
    )
    assert step_key("f", {}, [], None) != step_key("f", {}, [], "")  # no version is not ""


def test_upstream_steps_in_arguments_are_keyed_by_position_and_upstream_key():
    a, b = "a" * 64, "b" * 64
    ab = step_key("f", {"x": StepRef(a), "y": StepRef(b)}, [a, b], None)
    ba = step_key("f", {"x": StepRef(b), "y": StepRef(a)}, [a, b], None)
    assert ab != ba
    assert ab != step_key("f", {"x": StepRef(a), "y": StepRef(b)}, [a, "c" * 64], None)
    assert ab == step_key("f", {"x": StepRef(a, "load"), "y": StepRef(b)}, [a, b], None)


def test_step_key_with_fingerprint_or_callable_and_manifest_agree():
    def f(x, y=2):
        return x + y

    arguments = {"x": np.arange(3), "y": [1, {"z": 2}]}
    key = step_key(function_fingerprint(f), arguments, ["k" * 64], "3")
    assert key == step_key(f, arguments, ["k" * 64], "3")
    assert key == step_key_and_manifest(f, arguments, ["k" * 64], "3").key


def test_a_large_value_is_hashed_once_per_session(monkeypatch):
    calls: list[int] = []
    original = values_module.hash_buffer

    def counting(buffer):
        calls.append(len(buffer))
        return original(buffer)

    monkeypatch.setattr(values_module, "hash_buffer", counting)
    data = np.random.default_rng(0).random(10_000)

    def f(data, i):
        return data[i]

    with key_session() as context:
        keys = {step_key(f, {"data": data, "i": i}, [], None) for i in range(50)}
        listed = {step_key(f, {"data": [data], "i": i}, [], None) for i in range(50)}
    assert len(keys) == 50 and len(listed) == 50
    assert len(calls) == 1
    assert context.stats["arrays"] == 1 and context.stats["fingerprints"] == 1
    calls.clear()
    for i in range(5):
        step_key(f, {"data": data, "i": i}, [], None)
    assert len(calls) == 5  # without a session nothing is remembered
    with key_session():
        first = step_key(f, {"data": data, "i": 0}, [], None)
        data[0] += 1  # a new session sees the change
    with key_session():
        assert step_key(f, {"data": data, "i": 0}, [], None) != first


def test_session_memo_does_not_mix_up_upstream_positions():
    a, b = "a" * 64, "b" * 64
    shared = {"u": StepRef(a)}
    with key_session():
        first = step_key("f", {"x": shared}, [a, b], None)
        second = step_key("f", {"x": shared}, [b, a], None)
    assert first == step_key("f", {"x": shared}, [a, b], None)
    assert second == step_key("f", {"x": shared}, [b, a], None)
    assert first != second


# -- properties -------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=5), children, max_size=4),
        st.frozensets(st.one_of(st.integers(), st.text(max_size=4)), max_size=4),
    ),
    max_leaves=20,
)


def typed(value):
    """A type-aware canonical form: equal exactly when two trees are the same value."""
    t = type(value)
    if t is float:
        return ("f", value.hex())
    if t in (list, tuple):
        return (t.__name__, tuple(typed(v) for v in value))
    if t is dict:
        return ("d", frozenset((k, typed(v)) for k, v in value.items()))
    if t is frozenset:
        return ("z", frozenset(typed(v) for v in value))
    return (t.__name__, value)


@given(st.dictionaries(st.text(max_size=5), trees, max_size=6))
def test_dict_insertion_order_is_irrelevant(mapping):
    reordered = dict(reversed(list(mapping.items())))
    assert hash_value(mapping) == hash_value(reordered)


@given(trees, trees)
def test_digests_are_equal_exactly_when_values_are(a, b):
    assert (hash_value(a) == hash_value(b)) == (typed(a) == typed(b))


@given(st.dictionaries(st.text(max_size=5), trees, min_size=1, max_size=6), st.data())
def test_any_value_change_changes_the_key(mapping, data):
    name = data.draw(st.sampled_from(sorted(mapping)))
    changed = dict(mapping)
    changed[name] = [mapping[name]]
    assert step_key("f", mapping, [], None) != step_key("f", changed, [], None)
