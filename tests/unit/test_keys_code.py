"""Function fingerprints: syntax trees, decorators, methods, partials, globals, helpers."""

from __future__ import annotations

import functools
import glob
import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ezpipe.keys import (
    callable_name,
    describe,
    function_fingerprint,
    is_user_file,
    key_session,
    v1_blind_spots,
)
from ezpipe.keys import syntax as syntax_module

_counter = iter(range(10**6))


@pytest.fixture
def load(tmp_path, monkeypatch):
    """Write a module into tmp_path and import it under a fresh name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded: list[str] = []

    def write(source: str, name: str | None = None):
        name = name or f"keymod{next(_counter)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        sys.modules.pop(name, None)
        loaded.append(name)
        return importlib.import_module(name)

    yield write
    for name in loaded:
        sys.modules.pop(name, None)


def fp(module, name="f"):
    return function_fingerprint(getattr(module, name))


def parts(func):
    return {part.ident: part for part in describe(func).parts}


# -- syntax -----------------------------------------------------------------------------------


def test_comments_docstrings_formatting_and_underscores_do_not_count(load):
    base = fp(load("def f(x):\n    return x * 200000 + 1\n"))
    variants = [
        '''
        def f(x):
            """Docstring."""
            # a comment
            return (x *
                    200_000   +   1)  # trailing
        ''',
        "def f(x): return x*0x30D40 + 1\n",
        "\n\n\ndef f(x):\n\n    return x * 200000 + 1\n",
    ]
    for source in variants:
        assert fp(load(source)) == base
    for changed in (
        "def f(x):\n    return x * 200001 + 1\n",
        "def f(y):\n    return y * 200000 + 1\n",
    ):
        assert fp(load(changed)) != base


def test_nested_docstrings_are_stripped_and_strings_elsewhere_count(load):
    base = fp(load("def f(x):\n    def g():\n        return x\n    return g()\n"))
    assert (
        fp(load('def f(x):\n    def g():\n        "doc"\n        return x\n    return g()\n'))
        == base
    )
    assert fp(load('def f(x):\n    "doc"\n    return "doc"\n')) != fp(
        load("def f(x):\n    return None\n")
    )


def test_constants_are_tagged_by_type(load):
    keys = {
        fp(load(f"def f():\n    return {c}\n")) for c in ("1", "1.0", "True", "'1'", "b'1'", "1j")
    }
    assert len(keys) == 6


def test_the_step_decorator_line_is_not_part_of_the_fingerprint(load):
    sources = [
        "def f(x):\n    return x\n",
        """
        import ezpipe
        p = ezpipe.Pipeline('/tmp/ezpipe-keys-never', 'a')
        @p.step(version=3, name='f{x}')
        def f(x):
            return x
        """,
    ]
    module = load(sources[1])
    plain = fp(load(sources[0]))
    assert function_fingerprint(module.f.func) == plain


def test_lambdas_on_one_line_are_told_apart(load):
    module = load("pair = (lambda x: x + 1, lambda x: x + 2)\n")
    assert function_fingerprint(module.pair[0]) != function_fingerprint(module.pair[1])


def test_the_canonical_encoding_is_the_same_under_other_pythons():
    source = textwrap.dedent(
        '''
        def f(x, *args, k=2, **kw):
            """doc"""
            async def g():
                async with x as y:
                    await y
            data = [i * 2 for i in range(10) if i % 2] + list({k: v for k, v in kw.items()})
            match x:
                case {"a": 1, **rest}:
                    return rest
                case [1, *others] if others:
                    return others
            try:
                z = f"{x!r:>{k}} {1_000}" + b"\\x00".decode()
            except ValueError:
                z = None
            finally:
                del data
            lam = lambda a, /, b=1.5e3: (a, b, ..., None, True, 3j)
            return z, lam, x[1:2, ::3], -x, not x, x if k else kw
        '''
    )
    script = (
        "import importlib.util, sys;"
        f"spec = importlib.util.spec_from_file_location('s', {syntax_module.__file__!r});"
        "m = sys.modules['s'] = importlib.util.module_from_spec(spec);"
        "spec.loader.exec_module(m);"
        "print(m.source_digest(sys.stdin.read()))"
    )
    here = syntax_module.source_digest(source)
    others = _other_pythons()
    results = {}
    for python in others:
        done = subprocess.run([python, "-c", script], input=source, capture_output=True, text=True)
        assert done.returncode == 0, (python, done.stderr)
        results[python] = done.stdout.strip()
    if not results:
        pytest.skip("no other Python interpreter here")
    assert set(results.values()) == {here}, results


CROSS_VERSION = """
import collections, dataclasses, enum, functools, json, sys, types

sys.modules["ezpipe"] = package = types.ModuleType("ezpipe")  # ezpipe.keys without its engine
package.__path__ = [EZPIPE]
from ezpipe.keys import step_key_and_manifest

SCALE = 1.5
NAMES = ("a", frozenset({"b", "c"}))

class Kind(enum.Enum):
    A = 1

@dataclasses.dataclass(frozen=True)
class Cfg:
    n: int
    kind: Kind = Kind.A

def scaled(factor):
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            return func(*args, **kwargs) * factor
        return wrapper
    return decorate

def helper(x, *, k=2):
    return [i * SCALE for i in range(x)] + [f"{x!r:>{k}}"]

class Model:
    def __init__(self, k):
        self.k = k
    def fit(self, x):
        return self.scale(helper(x)) + self.k
    def scale(self, v):
        return v

@scaled(3)
def step(cfg, x=1_000, *rest, **options):
    \"\"\"Docstring.\"\"\"
    match x:
        case {"a": 1}:
            return NAMES
    return helper(x) + [cfg.n, lambda y: y + 1]

arguments = {"cfg": Cfg(3), "x": {1, 2}, "o": collections.OrderedDict(b=1, a=2), "z": -0.0}
found = [
    step_key_and_manifest(step, arguments, ["u" * 64], "2", upstream_names=["load"]),
    step_key_and_manifest(Model(2).fit, {"x": (1, 2.5, None, True, b"x")}, [], None),
    step_key_and_manifest(functools.partial(helper, 3, k=4), {}, [], None),
]
print(json.dumps([[r.key, r.manifest["parts"]] for r in found], sort_keys=True))
"""


def test_keys_are_the_same_under_other_pythons(tmp_path):
    """The whole key (values, globals, helpers, decorators, methods), not only the tree."""
    ezpipe_dir = os.path.dirname(os.path.dirname(syntax_module.__file__))
    script = tmp_path / "cross.py"
    script.write_text(CROSS_VERSION.replace("EZPIPE", repr(ezpipe_dir)))
    pythons = [sys.executable, *_other_pythons()]
    if len(pythons) == 1:
        pytest.skip("no other Python interpreter here")
    outputs = {}
    for python in pythons:
        done = subprocess.run([python, str(script)], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, (python, done.stderr)
        outputs[python] = json.loads(done.stdout)
    reference = outputs[sys.executable]
    assert "helper:helper" in reference[0][1] and "global:SCALE" in reference[0][1]
    for python, output in outputs.items():
        assert [key for key, _ in output] == [key for key, _ in reference], python


def _other_pythons() -> list[str]:
    found = set(glob.glob("/root/.pyenv/versions/3.1[0-9]*/bin/python3"))
    for version in ("3.10", "3.12", "3.13", "3.14"):
        path = shutil.which(f"python{version}")
        if path and "/shims/" not in path:
            found.add(path)
    here = os.path.realpath(sys.executable)
    return sorted(p for p in found if os.path.realpath(p) != here)


# -- decorators, methods, partials, callable objects -----------------------------------------

DECORATED = """
import functools

def scaled(factor):
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            return func(*args, **kwargs) * factor
        return wrapper
    return decorate

@scaled({factor})
def f(x):
    return x + 1
"""


def test_decorator_arguments_change_the_key(load):
    two, same, three = (load(DECORATED.format(factor=n)) for n in (2, 2, 3))
    assert fp(two) == fp(same)
    assert fp(two) != fp(three)
    assert "decorator:scaled" in parts(two.f)
    assert "decorator" in v1_blind_spots(two.f)


def test_decorator_source_changes_the_key(load):
    base = load(DECORATED.format(factor=2))
    edited = load(DECORATED.format(factor=2).replace("* factor", "* factor + 0"))
    assert fp(base) != fp(edited)


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
    assert parts(make(2))["closure:scaled.k"].text == "2"


METHODS = """
import dataclasses

class Model:
    def __init__(self, k):
        self.k = k
    def fit(self, x):
        return self.scale(x) + self.k
    def scale(self, x):
        return x * {factor}

@dataclasses.dataclass
class Frozen:
    k: int
    def fit(self, x):
        return x + self.k

class Scaler:
    def __init__(self, k):
        self.k = k
    def __call__(self, x):
        return x * self.k
"""


def test_bound_methods_include_self_and_the_methods_they_call(load):
    module = load(METHODS.format(factor=2))
    one, two = module.Model(1).fit, module.Model(2).fit
    assert function_fingerprint(one) != function_fingerprint(two)
    assert function_fingerprint(one) == function_fingerprint(module.Model(1).fit)
    assert function_fingerprint(module.Frozen(1).fit) != function_fingerprint(module.Frozen(2).fit)
    edited = load(METHODS.format(factor=3))
    assert function_fingerprint(edited.Model(1).fit) != function_fingerprint(one)  # via self.scale
    assert "helper:Model.scale" in parts(one)
    assert parts(one)["self:Model.fit"].text == "Model(k=1)"
    assert callable_name(one) == "Model.fit"
    assert "bound method" in v1_blind_spots(one)


def test_partials_include_function_args_and_keywords(load):
    module = load("def f(x, k=1, *, m=2):\n    return x * k + m\n")
    base = functools.partial(module.f, k=2)
    assert function_fingerprint(base) == function_fingerprint(functools.partial(module.f, k=2))
    assert function_fingerprint(base) != function_fingerprint(functools.partial(module.f, k=3))
    assert function_fingerprint(base) != function_fingerprint(functools.partial(module.f, 2))
    assert function_fingerprint(base) != function_fingerprint(module.f)
    assert callable_name(base) == "partial(f)"
    assert "partial:f.k" in parts(base)


def test_callable_objects_include_call_source_and_state(load):
    module = load(METHODS.format(factor=2))
    assert function_fingerprint(module.Scaler(2)) == function_fingerprint(module.Scaler(2))
    assert function_fingerprint(module.Scaler(2)) != function_fingerprint(module.Scaler(3))
    edited = load(METHODS.format(factor=2).replace("return x * self.k", "return x * self.k + 1"))
    assert function_fingerprint(edited.Scaler(2)) != function_fingerprint(module.Scaler(2))
    assert callable_name(module.Scaler(2)) == "Scaler"
    assert "callable object" in v1_blind_spots(module.Scaler(2))


def test_callable_name_never_raises():
    assert callable_name(len) == "len"
    assert callable_name(functools.partial(len, 1)) == "partial(len)"

    def local():
        pass

    assert callable_name(local) == "local"
    assert callable_name(dict) == "dict"
    assert callable_name(str.upper) == "str.upper"


# -- globals and helpers ----------------------------------------------------------------------


def test_plain_globals_read_directly_are_part_of_the_key(load):
    source = """
        import enum
        class E(enum.Enum):
            A = 1
            B = 2
        SCALE = {scale}
        MODE = E.{mode}
        def f(k):
            return k * SCALE, MODE
        """
    base = load(source.format(scale="1.0", mode="A"))
    assert fp(base) == fp(load(source.format(scale="1.0", mode="A")))
    assert fp(base) != fp(load(source.format(scale="10.0", mode="A")))
    assert fp(base) != fp(load(source.format(scale="1.0", mode="B")))
    assert parts(base.f)["global:SCALE"].text == "1.0"
    assert "global" in v1_blind_spots(base.f)


def test_globals_through_a_user_module_attribute(load):
    cfg = load("SCALE = 1.0\nNAMES = ('a', frozenset({'b'}))\n", name="keycfg_a")
    source = "import keycfg_a as cfg\ndef f(k):\n    return k * cfg.SCALE, cfg.NAMES\n"
    base = load(source)
    before = fp(base)
    assert "global:cfg.SCALE" in parts(base.f)
    cfg.SCALE = 10.0  # a new freeze sees the new value
    assert fp(base) != before


def test_globals_that_cannot_be_keyed_give_a_warning(load):
    module = load(
        """
        import numpy
        TABLE = {'a': 1}
        ITEMS = [1]
        ARRAY = numpy.zeros(3)
        def f(k):
            return TABLE[k], ITEMS, ARRAY
        """
    )
    description = describe(module.f)
    assert sorted(w.name for w in description.warnings) == ["ARRAY", "ITEMS", "TABLE"]
    message = description.warnings[-1].message("f_step")
    assert "step 'f_step'" in message and "TABLE" in message and "version=" in message
    assert not any(p.kind == "global" for p in description.parts)


def test_helpers_are_followed_transitively_with_cycles(load):
    helpers = load(
        """
        DEPTH = 3
        def even(n):
            return n == 0 or odd(n - 1)
        def odd(n):
            return n != 0 and even(n - 1) and DEPTH
        class Tool:
            def run(self, x):
                return x
        """,
        name="keyhelpers_a",
    )
    source = """
        import keyhelpers_a as h
        from keyhelpers_a import even
        def direct(n):
            return even(n)
        def via_module(n):
            return h.odd(n)
        def via_class(n):
            return h.Tool().run(n)
        """
    steps = load(source)
    names = set(parts(steps.direct))
    assert {"helper:even", "helper:odd", "global:DEPTH"} <= names
    assert {"helper:odd", "helper:even"} <= set(parts(steps.via_module))
    assert "class:Tool" in parts(steps.via_class)
    before = [fp(steps, n) for n in ("direct", "via_module", "via_class")]
    helpers_edited = Path(helpers.__file__).read_text().replace("return x", "return x + 1")
    Path(helpers.__file__).write_text(helpers_edited.replace("DEPTH = ", "DEPTH = 1 + "))
    sys.modules.pop("keyhelpers_a")
    importlib.invalidate_caches()
    steps = load(source)
    after = [fp(steps, n) for n in ("direct", "via_module", "via_class")]
    assert all(a != b for a, b in zip(before, after, strict=True))
    assert "helper" in v1_blind_spots(steps.direct)


def test_a_function_reaching_itself_through_a_global_partial(load):
    module = load(
        "import functools\n"
        "def f(x, k=1):\n    return fast(x - 1) if x else k\n"
        "fast = functools.partial(f, k=2)\n"
    )
    assert fp(module) == fp(module)
    assert "helper:fast" in parts(module.f)
    assert describe(module.f).warnings == () and describe(module.fast).warnings == ()
    assert function_fingerprint(module.fast) != fp(module)


def test_stdlib_and_installed_packages_are_not_followed(load):
    module = load(
        "import json, os.path, numpy as np\nfrom collections import OrderedDict\n"
        "def f(x):\n    return json.dumps(x), os.path.join('a', 'b'), np.sum(x), OrderedDict()\n"
    )
    description = describe(module.f)
    assert [p.kind for p in description.parts] == ["function"]
    assert description.warnings == ()
    assert not is_user_file(json_file := __import__("json").__file__), json_file
    assert not is_user_file(__import__("numpy").__file__)
    assert not is_user_file(__import__("ezpipe").__file__)
    assert is_user_file(module.__file__)
    assert is_user_file("/usr/src/app/pipeline.py")  # a project under a system prefix
    assert not is_user_file("/usr/lib/python3/dist-packages/x.py")
    assert not is_user_file("<string>") and is_user_file("<ipython-input-1-abc>")


def test_more_plain_globals_class_attributes_and_cached_helpers(load):
    source = """
        import datetime, functools, pathlib, re
        import numpy as np
        ROOT = pathlib.Path("/data/{v}")
        WHEN = datetime.date(2020, 1, 1)
        PATTERN = re.compile("a+")
        FACTOR = np.float64(2.0)

        @functools.lru_cache
        def cached(x):
            return x + {v}

        class Model:
            SCALE = {v}
            def fit(self, x):
                return x * self.SCALE

        def f(x):
            return ROOT / str(x), WHEN, PATTERN.match(x), FACTOR * x, cached(x)
        """
    one, two = load(source.format(v=1)), load(source.format(v=2))
    found = parts(one.f)
    assert {
        "global:ROOT",
        "global:WHEN",
        "global:PATTERN",
        "global:FACTOR",
        "helper:cached",
    } <= set(found)
    assert describe(one.f).warnings == ()
    assert fp(one) != fp(two)
    assert function_fingerprint(one.Model().fit) != function_fingerprint(two.Model().fit)
    assert "global:Model.SCALE" in parts(one.Model().fit)
    again = parts(load(source.format(v=1)).f)
    assert {k: p.digest for k, p in found.items()} == {k: p.digest for k, p in again.items()}


def test_files_under_site_packages_are_never_followed(load, tmp_path, monkeypatch):
    installed = tmp_path / "venv" / "lib" / "site-packages"
    installed.mkdir(parents=True)
    (installed / "keylib_installed.py").write_text("SCALE = 1\ndef helper(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(installed))
    module = load(
        "import keylib_installed as lib\n"
        "from keylib_installed import helper\n"
        "def f(x):\n    return helper(x) + lib.helper(x) + lib.SCALE\n"
    )
    try:
        assert [p.kind for p in describe(module.f).parts] == ["function"]
    finally:
        sys.modules.pop("keylib_installed", None)


def test_decorators_without_wraps_are_keyed_through_their_closure(load):
    source = """
        def scaled(factor):
            def decorate(func):
                def wrapper(*args):
                    return func(*args) * factor
                return wrapper
            return decorate

        @scaled({factor})
        def f(x):
            return x + {inner}
        """
    base = load(source.format(factor=2, inner=1))
    assert fp(base) != fp(load(source.format(factor=3, inner=1)))
    assert fp(base) != fp(load(source.format(factor=2, inner=2)))  # the wrapped function
    assert fp(base) == fp(load(source.format(factor=2, inner=1)))


def test_local_names_that_shadow_globals_are_not_globals(load):
    module = load("SCALE = 2\ndef f(x):\n    SCALE = 3\n    return x * SCALE\n")
    assert "global:SCALE" not in parts(module.f)


def test_fingerprints_are_remembered_within_a_session_only(load):
    module = load("SCALE = 1\ndef f(x):\n    return x * SCALE\n")
    with key_session() as context:
        first = fp(module)
        module.SCALE = 2
        assert fp(module) == first  # one freeze: one view of the globals
        assert context.stats["fingerprints"] == 1
    assert fp(module) != first


# -- the same file run as a script or imported -------------------------------------------------

SCRIPT = """
import dataclasses, enum, functools, json
import ezpipe
from ezpipe.keys import step_key_and_manifest

SCALE = 2.0

class Kind(enum.Enum):
    A = 1

@dataclasses.dataclass(frozen=True)
class Cfg:
    n: int
    kind: Kind = Kind.A

def helper(x):
    return x * SCALE

class Model:
    def __init__(self, k):
        self.k = k
    def fit(self, x):
        return helper(x) * self.k

p = ezpipe.Pipeline("/tmp/ezpipe-keys-never", "demo")

@p.step(version=2)
def step(cfg, x):
    return helper(x) + cfg.n

def keys():
    found = [
        step_key_and_manifest(step.func, {"cfg": Cfg(3), "x": {1, 2}}, [], "2"),
        step_key_and_manifest(Model(2).fit, {"x": Model(1)}, [], None),
        step_key_and_manifest(functools.partial(helper, 3), {}, [], None),
    ]
    return [(r.key, r.manifest) for r in found]

if __name__ == "__main__":
    print(json.dumps(keys()))
"""


def test_the_key_is_the_same_for_a_script_and_its_import(tmp_path):
    (tmp_path / "my_pipeline.py").write_text(SCRIPT)
    env = {**os.environ, "PYTHONHASHSEED": "1"}
    as_script = subprocess.run(
        [sys.executable, "my_pipeline.py"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    env["PYTHONHASHSEED"] = "2"
    imported = subprocess.run(
        [sys.executable, "-c", "import json, my_pipeline; print(json.dumps(my_pipeline.keys()))"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert as_script.returncode == 0, as_script.stderr
    assert imported.returncode == 0, imported.stderr
    script_keys, imported_keys = json.loads(as_script.stdout), json.loads(imported.stdout)
    assert script_keys == imported_keys
    manifest = script_keys[0][1]
    assert {"function:step", "helper:helper", "global:SCALE"} <= set(manifest["parts"])
    assert "__main__" not in json.dumps(script_keys)
