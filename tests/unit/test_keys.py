from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd
import pydantic
from hypothesis import given
from hypothesis import strategies as st

from ezpipe.keys import StepRef, function_fingerprint, hash_value, step_key


@dataclasses.dataclass
class Config:
    lr: float
    layers: tuple[int, ...]


class Model(pydantic.BaseModel):
    name: str
    size: int = 3


def test_dict_and_set_order_never_change_a_key():
    assert hash_value({"a": 1, "b": 2}) == hash_value({"b": 2, "a": 1})
    assert hash_value({3, 1, 2}) == hash_value({2, 3, 1})


def test_types_and_values_are_distinguished():
    values = [1, 1.0, True, "1", b"1", [1], (1,), {1}, None, 0, -0.0, 0.0, [], ()]
    assert len({hash_value(v) for v in values}) == len(values)


def test_rich_values_hash_by_content():
    assert hash_value(np.arange(5)) == hash_value(np.arange(5))
    assert hash_value(np.arange(5)) != hash_value(np.arange(5) + 1)
    assert hash_value(np.arange(5)) != hash_value(np.arange(5).astype(float))
    frame = pd.DataFrame({"a": [1, 2]})
    assert hash_value(frame) == hash_value(frame.copy())
    assert hash_value(frame) != hash_value(frame.assign(a=[1, 3]))
    assert hash_value(Config(0.1, (1, 2))) == hash_value(Config(0.1, (1, 2)))
    assert hash_value(Config(0.1, (1, 2))) != hash_value(Config(0.2, (1, 2)))
    assert hash_value(Model(name="x")) == hash_value(Model(name="x", size=3))
    assert hash_value(Model(name="x")) != hash_value(Model(name="x", size=4))


def test_keys_are_stable_across_processes():
    code = (
        "from ezpipe.keys import hash_value;"
        "print(hash_value({'b': [1.5, 'x', {3, 1}], 'a': (None, True)}))"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert digests == {hash_value({"a": (None, True), "b": [1.5, "x", {1, 3}]})}


def test_step_key_parts():
    base = step_key("fp", {"x": 1, "threads": 4}, [], None, ["threads"])
    assert base == step_key("fp", {"x": 1, "threads": 64}, [], None, ["threads"])
    assert base != step_key("fp", {"x": 2, "threads": 4}, [], None, ["threads"])
    assert base != step_key("fp2", {"x": 1, "threads": 4}, [], None, ["threads"])
    assert base != step_key("fp", {"x": 1, "threads": 4}, [], "2", ["threads"])
    assert base != step_key("fp", {"x": 1, "threads": 4}, ["k"], None, ["threads"])
    assert step_key("f", {"x": StepRef("a")}, [], None) != step_key(
        "f", {"x": StepRef("b")}, [], None
    )


def test_function_fingerprint_follows_code_and_constants():
    def f(x):
        return x + 1

    def g(x):
        return x + 2

    def h(x):
        return x + 1

    assert function_fingerprint(f) == function_fingerprint(f)
    assert function_fingerprint(f) != function_fingerprint(g)
    assert function_fingerprint(f) != function_fingerprint(h)  # same code, other name


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(), st.binary()
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=5), children, max_size=4),
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=5), trees, max_size=6))
def test_dict_insertion_order_is_irrelevant(mapping):
    reordered = dict(reversed(list(mapping.items())))
    assert hash_value(mapping) == hash_value(reordered)


@given(trees, trees)
def test_different_values_give_different_digests(a, b):
    if hash_value(a) == hash_value(b):
        assert repr(a) == repr(b) or a == b


def test_decorator_options_do_not_change_the_fingerprint(tmp_path):
    fingerprints = []
    for number, decorator in enumerate(["", "@deco(mode='force')\n", "@deco(name='g{x}')\n"]):
        path = tmp_path / f"module{number}.py"
        path.write_text(f"{decorator}def f(x):\n    return x\n")
        namespace = {"deco": lambda **options: lambda func: func}
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        fingerprints.append(function_fingerprint(namespace["f"]))
    assert len(set(fingerprints)) == 1
    path = tmp_path / "changed.py"
    path.write_text("def f(x):\n    return x + 0\n")
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    assert function_fingerprint(namespace["f"]) not in fingerprints


def test_closure_variables_are_part_of_the_fingerprint():
    def make(k):
        def scaled(x):
            return x * k

        return scaled

    assert function_fingerprint(make(2)) == function_fingerprint(make(2))
    assert function_fingerprint(make(2)) != function_fingerprint(make(3))
