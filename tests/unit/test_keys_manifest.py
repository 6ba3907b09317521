"""Manifests, explain(), the scheme version and the v1 algorithm kept for old records."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap

import numpy as np
import pytest

from ezpipe.keys import (
    SCHEME,
    StepRef,
    explain,
    legacy_function_fingerprint_v1,
    legacy_manifest,
    legacy_step_key_v1,
    step_key,
    step_key_and_manifest,
    v1_blind_spots,
)
from ezpipe.keys.manifest import changed_lines, format_lines

_counter = iter(range(10**6))

PIPELINE = """
import functools

SCALE = {scale}

def scaled(factor):
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            return func(*args, **kwargs) * factor
        return wrapper
    return decorate

def sample(n):
    return list(range(n))

@scaled({factor})
def mc_volume(n_samples, seed=0):
    # estimate the volume
    points = sample(n_samples)
    total = sum(points)
    return total * SCALE{extra}
"""


@pytest.fixture
def load(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded: list[str] = []

    def write(source: str):
        name = f"keyman{next(_counter)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        loaded.append(name)
        return importlib.import_module(name)

    yield write
    for name in loaded:
        sys.modules.pop(name, None)


def manifest_of(module, arguments=None, upstream=(), names=None, version=None):
    result = step_key_and_manifest(
        module.mc_volume,
        arguments or {"n_samples": 1000, "seed": 0},
        list(upstream),
        version,
        upstream_names=names,
    )
    return result


def pipeline(load, scale="1.0", factor=2, extra=""):
    return load(PIPELINE.format(scale=scale, factor=factor, extra=extra))


def test_manifest_is_json_and_names_every_part(load):
    result = manifest_of(pipeline(load), upstream=["a" * 64], names=["load"], version="1")
    manifest = json.loads(json.dumps(result.manifest))
    assert manifest == result.manifest
    assert manifest["scheme"] == SCHEME == "v2"
    assert manifest["key"] == result.key and manifest["version"] == "1"
    parts = manifest["parts"]
    assert set(parts) == {
        "function:mc_volume",
        "decorator:scaled",
        "helper:sample",
        "global:SCALE",
        "argument:n_samples",
        "argument:seed",
        "upstream:load",
    }
    assert parts["argument:n_samples"]["repr"] == "1000"
    assert parts["global:SCALE"]["repr"] == "1.0"
    assert parts["decorator:scaled"]["repr"] == "factor=2"
    assert parts["upstream:load"]["digest"] == "a" * 64
    function = parts["function:mc_volume"]
    assert function["line"] == 17 and function["file"].endswith(".py")
    assert function["source"].startswith("@scaled(2)\ndef mc_volume(n_samples, seed=0):\n")
    assert all(len(p["digest"]) == 16 for k, p in parts.items() if not k.startswith("upstream"))


def test_manifest_is_compact(load):
    big = np.zeros(1_000_000)
    result = manifest_of(pipeline(load), {"n_samples": big, "seed": "x" * 10_000})
    assert len(json.dumps(result.manifest)) < 2_000
    assert "..." in result.manifest["parts"]["argument:seed"]["repr"]
    assert len(result.manifest["parts"]["argument:seed"]["repr"]) <= 200
    assert result.manifest["parts"]["argument:n_samples"]["repr"] == (
        "array(shape=(1000000,), dtype=float64)"
    )


def test_long_sources_are_kept_as_line_digests(load):
    body = "".join(f"    x{i} = {i}\n" for i in range(3000))
    old = load(f"def mc_volume(n_samples):\n{body}    return n_samples\n")
    new = load(
        f"def mc_volume(n_samples):\n{body.replace('x7 = 7', 'x7 = 8')}    return n_samples\n"
    )
    a, b = (step_key_and_manifest(m.mc_volume, {}, [], None).manifest for m in (old, new))
    assert "source" not in a["parts"]["function:mc_volume"]
    assert explain(a, b) == ["source of mc_volume changed (line 9)"]


def test_the_manifest_key_is_the_step_key(load):
    module = pipeline(load)
    result = manifest_of(module, upstream=["b" * 64], names=["load"])
    assert result.key == step_key(
        module.mc_volume, {"n_samples": 1000, "seed": 0}, ["b" * 64], None
    )


def test_explain_says_what_changed_in_the_users_words(load):
    base = manifest_of(pipeline(load), upstream=["a" * 64], names=["load"], version="1").manifest
    assert explain(base, base) == []
    cases = [
        ({"arguments": {"n_samples": 2000, "seed": 0}}, ["argument n_samples: 1000 -> 2000"]),
        ({"scale": "10.0"}, ["global SCALE: 1.0 -> 10.0"]),
        ({"upstream": ["c" * 64]}, ["upstream load changed"]),
        ({"version": "2"}, ["version 1 -> 2"]),
        ({"factor": 3}, ["decorator scaled changed"]),
        ({"extra": " + 1"}, ["source of mc_volume changed (line 22)"]),
        ({"arguments": {"n_samples": 1000}}, ["argument seed removed"]),
        ({"arguments": {"n_samples": 1000, "seed": 0, "x": 1}}, ["argument x added"]),
    ]
    for change, expected in cases:
        module = pipeline(
            load, **{k: change[k] for k in ("scale", "factor", "extra") if k in change}
        )
        new = manifest_of(
            module,
            change.get("arguments"),
            change.get("upstream", ["a" * 64]),
            ["load"],
            change.get("version", "1"),
        ).manifest
        assert explain(base, new) == expected, change


def test_explain_names_the_changed_lines_and_ignores_comment_lines(load):
    old = pipeline(load)
    source = PIPELINE.replace(
        "    total = sum(points)\n", "    total = sum(points) + 1\n    # note\n"
    )
    new = load(source.format(scale="1.0", factor=2, extra=" * 2"))
    reasons = explain(manifest_of(old).manifest, manifest_of(new).manifest)
    assert reasons == ["source of mc_volume changed (lines 21, 23)"]
    comment_only = load(
        PIPELINE.replace("# estimate", "# guess").format(scale=1.0, factor=2, extra="")
    )
    assert explain(manifest_of(old).manifest, manifest_of(comment_only).manifest) == []


def test_explain_reports_helpers(load):
    old = pipeline(load)
    new = load(
        PIPELINE.replace("list(range(n))", "list(range(n + 1))").format(
            scale=1.0, factor=2, extra=""
        )
    )
    assert explain(manifest_of(old).manifest, manifest_of(new).manifest) == [
        "helper sample changed"
    ]


def test_an_upstream_step_in_an_argument_is_reported_once():
    def f(data):
        return data

    old = step_key_and_manifest(
        f, {"data": StepRef("a" * 64, "load")}, ["a" * 64], None, upstream_names=["load"]
    )
    new = step_key_and_manifest(
        f, {"data": StepRef("b" * 64, "load")}, ["b" * 64], None, upstream_names=["load"]
    )
    assert old.key != new.key
    assert old.manifest["parts"]["argument:data"]["repr"] == "<load>"
    assert explain(old.manifest, new.manifest) == ["upstream load changed"]


def test_explain_scheme_and_missing_records():
    def f(x):
        return x

    new = step_key_and_manifest(f, {"x": 1}, [], None).manifest
    assert explain(legacy_manifest(), new) == ["key scheme v1 -> v2"]
    assert explain(None, new) == ["no stored definition"]
    older = dict(new, scheme="v1")
    assert explain(older, new) == ["key scheme v1 -> v2"]


def test_explain_reports_self_partial_and_closures():
    import functools

    class Model:
        def __init__(self, k):
            self.k = k

        def fit(self, x):
            return x * self.k

    def manifest(func):
        return step_key_and_manifest(func, {}, [], None).manifest

    assert explain(manifest(Model(1).fit), manifest(Model(2).fit)) == [
        "self of Model.fit: Model(k=1) -> Model(k=2)"
    ]

    def g(x, k):
        return x * k

    assert explain(manifest(functools.partial(g, k=1)), manifest(functools.partial(g, k=2))) == [
        "partial argument k of g: 1 -> 2"
    ]

    assert explain(
        manifest(functools.partial(g, 1, k=1)), manifest(functools.partial(g, 2, k=1))
    ) == ["partial argument #0 of g: 1 -> 2"]

    class Scaler:
        def __init__(self, k):
            self.k = k

        def __call__(self, x):
            return x * self.k

    assert explain(manifest(Scaler(1)), manifest(Scaler(2))) == [
        "self of Scaler: Scaler(k=1) -> Scaler(k=2)"
    ]

    def make(k):
        def h(x):
            return x * k

        return h

    assert explain(manifest(make(1)), manifest(make(2))) == ["closure k of h: 1 -> 2"]


def test_format_lines():
    assert format_lines([]) == ""
    assert format_lines([12]) == "line 12"
    assert format_lines([12, 13, 14]) == "lines 12-14"
    assert format_lines([3, 12, 13, 14]) == "lines 3, 12-14"
    old = {"source": "def f():\n    a = 1\n    b = 2\n", "line": 10}
    new = {"source": "def f():\n    a = 1\n", "line": 10}
    assert changed_lines(old, new) == [11]  # deleted after line 11


# -- scheme v1 --------------------------------------------------------------------------------


def test_legacy_v1_key_is_the_old_algorithm():
    def f(x):
        return x + 1

    fingerprint = legacy_function_fingerprint_v1(f)
    v1 = legacy_step_key_v1(fingerprint, {"x": 1, "t": 4}, ["u" * 64], "2", ["t"])
    assert v1 == legacy_step_key_v1(f, {"x": 1, "t": 8}, ["u" * 64], "2", ["t"])
    assert v1 != legacy_step_key_v1(f, {"x": 2, "t": 4}, ["u" * 64], "2", ["t"])
    assert v1 != step_key(f, {"x": 1, "t": 4}, ["u" * 64], "2", ["t"])
    # values computed by the pre-v2 ezpipe/keys.py (its step_key on fixed fingerprints)
    assert legacy_step_key_v1("fp", {"x": 1}, [], None) == (
        "5a05876a6756a90942b0b1192b10645a0f58d05d96e1af7f31632329aa390f2d"
    )
    arguments = {"x": [1.5, {"a": (None, True)}], "y": {3, 1}}
    assert legacy_step_key_v1("fp", arguments, ["k" * 64], "2", ["z"]) == (
        "0402383d589fa6a20d35af40364b152136bf5e4316d93b7542f4b4d27864c6cb"
    )


def test_blind_spots_say_when_an_old_result_may_be_adopted(load):
    module = pipeline(load)
    assert set(v1_blind_spots(module.mc_volume)) == {"decorator", "global", "helper"}

    def plain(x, k=2):
        return x * k

    assert v1_blind_spots(plain) == ()
