"""A whole pipeline from a YAML or JSON study file (``Pipeline.from_config``).

::

    name: study                    # the pipeline's name (default: the file's stem)
    folder: results/study          # relative to the file's folder; from_config(folder=) wins
    imports: [study_steps]         # modules to import first (they register step classes)
    options: {policy: dag}         # Pipeline options
    steps:
      load: {type: study_steps.Load, n: 1000}
      scale:
        type: Scale                # an import path, or the short name of an imported class
        coeff: 2.0
        input: ${steps.load}       # a reference: the result of step `load`
      fit:
        type: Fit
        input: {ref: scale}        # the same, spelled as a mapping
        sweep: {grid: {alpha: [0.1, 1.0]}, zip: {seed: [1, 2], tag: [a, b]}}
      train: {loop: 3, steps: [{type: Train}], input: ${steps.scale}}
      report: {type: Report, inputs: {fits: ${steps.fit}, model: ${steps.train}}}

Every entry under ``steps`` is a step (a mapping with ``type``), a chain (a
list, or a mapping of named steps), or a loop (``loop: N`` with ``steps``).
Besides its fields an entry may carry ``input`` (one value for ``_run``'s
input), ``inputs`` (a mapping for named ``_run`` parameters; a loop passes
them to every iteration's first step) and ``sweep``. A document with ``type``
(``type: Chain``), or whose ``steps`` is a list, is one config instead.
References, anywhere inside ``input``/``inputs``: ``${steps.NAME}`` or
``{ref: NAME}`` is that step's result (a chain's: its last step's; a loop's:
its last iteration's); ``${steps.NAME/file.npy}`` or ``{ref: NAME, path:
file.npy}`` is a path in its output folder (``nonblocking: true``: in the key,
not waited for). A reference to a swept entry is the list of its variants'
results. A sweep's ``grid`` is a cartesian product, ``zip`` pairs lists of one
length; keys are dotted paths inside the entry (``steps.fit.alpha`` in a
chain); a mapping without ``grid``/``zip`` is a grid; variants are named
``fit[alpha=0.1,seed=1,tag=a]``. Overrides (``-o steps.scale.coeff=3``) patch
the document before anything is validated. Every error names its path in
the document; all of it is checked before anything runs, identically on every
rank, so a bad file never leaves a rank waiting.
"""

from __future__ import annotations

import copy
import difflib
import graphlib
import importlib
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..paths import OutputPath
from ..steps import Owner, Step
from .build import add
from .chain import Chain, Loop
from .model import ConfigStep, set_path, validate

TOP_KEYS = ("name", "folder", "imports", "options", "steps")
META_KEYS = ("input", "inputs", "sweep")
OPTIONS = (
    "policy", "mode", "strict", "echo", "fsync", "max_concurrent", "lock_timeout",
    "tee_output", "progress",
)  # fmt: skip
_REF = re.compile(r"^\$\{steps\.([^}/]+)(?:/([^}]*))?\}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+\-]+")


@dataclass
class Ref:
    """A reference to another entry's result, or to a path in its output folder."""

    name: str
    path: str | None = None
    blocking: bool = True


@dataclass
class Entry:
    name: str
    variants: list[tuple[str, ConfigStep]]
    swept: bool = False
    input: Any = None
    inputs: dict[str, Any] | None = None
    refs: list[str] = field(default_factory=list)


def load_document(source: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], Path | None]:
    """The study as a dict, and the folder relative paths start from (None for a dict)."""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source)), None
    path = Path(source)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the study file {path}: {exc}") from None
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper() or 'YAML'}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a study is a mapping with 'steps', got {type(doc).__name__}")
    doc.setdefault("name", path.stem)
    return doc, path.absolute().parent


def parse_override(text: str) -> tuple[str, Any]:
    """``steps.scale.coeff=3`` -> ``("steps.scale.coeff", 3)`` (the value read as YAML)."""
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise ConfigError(f"override {text!r}: write PATH=VALUE, like steps.scale.coeff=3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: the value is not valid YAML: {exc}") from None
    return path.strip(), value


def apply_overrides(doc: dict[str, Any], overrides: Iterable[str] | Mapping[str, Any]) -> None:
    """Patch the document in place; a path that names nothing is an error naming it."""
    pairs = overrides.items() if isinstance(overrides, Mapping) else map(parse_override, overrides)
    for path, value in pairs:
        set_path(doc, path, value, create=True)


def build(
    factory: Callable[..., Any],
    source: str | Path | Mapping[str, Any],
    *,
    folder: str | Path | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    **options: Any,
) -> Any:
    """Read, patch and validate a study, then define it in ``factory(folder, name, **opts)``."""
    doc, base = load_document(source)
    apply_overrides(doc, overrides)
    whole = "type" in doc or isinstance(doc.get("steps"), list)  # one config: a chain, say
    unknown = [k for k in doc if k not in TOP_KEYS and not ("type" in doc and k != "name")]
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key of a study (known: {', '.join(TOP_KEYS)})")
    _import_modules(doc.get("imports") or [], base)
    target = folder if folder is not None else doc.get("folder")
    if target is None:
        raise ConfigError("folder: the study names no folder (add `folder:` or pass folder=)")
    if base is not None and folder is None and not Path(target).is_absolute():
        target = base / target
    opts = dict(doc.get("options") or {})
    for key in opts:
        if key not in OPTIONS:
            raise ConfigError(f"options.{key}: unknown option (known: {', '.join(OPTIONS)})")
    name = str(doc.get("name") or "pipeline")
    if whole:
        config = _whole(doc)
        pipeline = factory(target, name, **{**opts, **options})
        add(pipeline, config)
        return pipeline
    steps = doc.get("steps")
    if not isinstance(steps, dict) or not steps:
        raise ConfigError("steps: a study needs a mapping of steps")
    entries = {name: parse_entry(str(name), raw) for name, raw in steps.items()}
    order = _order(entries)
    pipeline = factory(target, name, **{**opts, **options})
    define(pipeline, entries, order)
    return pipeline


def _whole(doc: dict[str, Any]) -> ConfigStep:
    """A document that is one config (``type: Chain`` with its ``steps``, or a bare list
    of ``steps``): exca's form. Its steps are named by their keys (or class names), and
    paths in errors and overrides are the config's own (``steps.scale.coeff``)."""
    rest = {k: v for k, v in doc.items() if k not in ("name", "folder", "imports", "options")}
    if "type" not in rest:
        return validate(Chain, rest)
    _no_refs(rest, "")
    return validate(ConfigStep, rest)


def _import_modules(modules: Any, base: Path | None) -> None:
    if not isinstance(modules, list):
        raise ConfigError(f"imports: a list of module names, got {modules!r}")
    if base is not None and str(base) not in sys.path:
        sys.path.insert(0, str(base))  # step modules beside the study file
    for number, module in enumerate(modules):
        try:
            importlib.import_module(str(module))
        except ImportError as exc:
            raise ConfigError(f"imports.{number}: cannot import {module!r}: {exc}") from None


def parse_entry(name: str, raw: Any) -> Entry:
    """Validate one entry (every variant of a sweep) and read its references."""
    path = f"steps.{name}"
    meta: dict[str, Any] = {}
    if isinstance(raw, dict):
        raw = dict(raw)
        meta = {k: raw.pop(k) for k in META_KEYS if k in raw}
        _no_refs(raw, path)
        if "loop" in raw and "type" not in raw:
            n = raw.pop("loop")
            config = _validate(Loop, {"n": n, **raw}, path, {"n": "loop"})
        elif "type" in raw:
            config = _validate(ConfigStep, raw, path)
        else:
            config = _validate(Chain, {"steps": raw}, path, {"steps": None})
    elif isinstance(raw, list):
        _no_refs(raw, path)
        config = _validate(Chain, {"steps": raw}, path, {"steps": None})
    else:
        raise ConfigError(
            f"{path}: a step is a mapping with 'type', a list (a chain) or a mapping of "
            f"steps, got {raw!r}"
        )
    entry = Entry(name, [(name, config)])
    if "sweep" in meta:
        entry.variants = _sweep(name, config, meta["sweep"], f"{path}.sweep")
        entry.swept = True
    refs: list[Ref] = []
    if "input" in meta:
        entry.input = _read_refs(meta["input"], f"{path}.input", refs)
    if "inputs" in meta:
        if not isinstance(meta["inputs"], dict):
            raise ConfigError(f"{path}.inputs: a mapping of _run's parameters to values")
        entry.inputs = _read_refs(meta["inputs"], f"{path}.inputs", refs)
    entry.refs = [r.name for r in refs]
    return entry


def _validate(
    cls: type[ConfigStep], data: Any, path: str, rename: dict[str, str | None] | None = None
) -> ConfigStep:
    return validate(cls, data, path, rename)


def _no_refs(value: Any, path: str) -> None:
    """A reference outside ``input``/``inputs`` would be taken for a literal string."""
    if isinstance(value, str) and value.startswith("${"):
        raise ConfigError(f"{path}: references (`{value}`) go under `input` or `inputs`")
    if isinstance(value, dict):
        if set(value) >= {"ref"} and len(value) <= 3 and "type" not in value:
            raise ConfigError(f"{path}: references ({{ref: ...}}) go under `input` or `inputs`")
        for key, item in value.items():
            _no_refs(item, f"{path}.{key}")
    elif isinstance(value, list):
        for number, item in enumerate(value):
            _no_refs(item, f"{path}.{number}")


def _read_refs(value: Any, path: str, found: list[Ref]) -> Any:
    """``value`` with references replaced by :class:`Ref` (collected in ``found``)."""
    if isinstance(value, str) and value.startswith("${"):
        match = _REF.match(value)
        if match is None:
            raise ConfigError(f"{path}: a reference is written ${{steps.NAME}}, got {value!r}")
        ref = Ref(match.group(1), match.group(2))
    elif isinstance(value, dict) and "ref" in value:
        extra = set(value) - {"ref", "path", "nonblocking"}
        if extra:
            raise ConfigError(f"{path}: a reference takes ref, path, nonblocking; not {extra}")
        ref = Ref(str(value["ref"]), value.get("path"), not value.get("nonblocking", False))
        if not ref.blocking and ref.path is None:
            ref.path = ""
    elif isinstance(value, dict):
        return {k: _read_refs(v, f"{path}.{k}", found) for k, v in value.items()}
    elif isinstance(value, list):
        return [_read_refs(v, f"{path}.{i}", found) for i, v in enumerate(value)]
    else:
        return value
    found.append(ref)
    return ref


def _sweep(name: str, config: ConfigStep, spec: Any, path: str) -> list[tuple[str, ConfigStep]]:
    if not isinstance(spec, dict) or not spec:
        raise ConfigError(f"{path}: a mapping with grid and/or zip, got {spec!r}")
    grid = spec.get("grid", {}) if {"grid", "zip"} & set(spec) else spec
    zipped = spec.get("zip", {})
    for part, values in (("grid", grid), ("zip", zipped)):
        if not isinstance(values, dict) or not all(isinstance(v, list) for v in values.values()):
            raise ConfigError(f"{path}.{part}: a mapping of paths to lists of values")
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        raise ConfigError(
            f"{path}.zip: every list must have the same length, got {sorted(lengths)}"
        )
    rows = [dict(zip(zipped, values, strict=True)) for values in zip(*zipped.values(), strict=True)]
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    variants = []
    labels: set[str] = set()
    for combo in combos:
        for row in rows or [{}]:
            patch = {**combo, **row}
            try:
                clone = config.clone(patch)
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
            label = ",".join(f"{k.rsplit('.', 1)[-1]}={_label(v)}" for k, v in patch.items())
            if label in labels:  # long or odd values cut to the same text: number them
                label = f"{label},#{len(variants)}"
            labels.add(label)
            variants.append((f"{name}[{label}]", clone))
    return variants


def _label(value: Any) -> str:
    text = "-".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return _UNSAFE.sub("_", text)[:40]


def _entry_of(ref: str, entries: Mapping[str, Entry]) -> str | None:
    """The entry a reference points into: its name, or the longest dotted prefix."""
    parts = ref.split(".")
    for cut in range(len(parts), 0, -1):
        if ".".join(parts[:cut]) in entries:
            return ".".join(parts[:cut])
    return None


def _order(entries: Mapping[str, Entry]) -> list[str]:
    """Entries in an order where references come first; unknown names and cycles named."""
    graph: dict[str, set[str]] = {}
    for name, entry in entries.items():
        deps = set()
        for ref in entry.refs:
            target = _entry_of(ref, entries)
            if target is None:
                close = difflib.get_close_matches(ref, list(entries), n=3)
                hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
                raise ConfigError(f"steps.{name}: references no step named {ref!r}{hint}")
            deps.add(target)
        graph[name] = deps
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1][::-1]
        chain = " -> ".join(f"steps.{n}" for n in cycle)
        raise ConfigError(f"the references between steps form a cycle: {chain}") from None


def define(pipeline: Owner, entries: Mapping[str, Entry], order: list[str]) -> None:
    """Add every entry's steps to ``pipeline``, references resolved to steps."""
    outputs: dict[str, Step | list[Step]] = {}

    def resolve(value: Any) -> Any:
        if isinstance(value, Ref):
            entry = _entry_of(value.name, entries)
            assert entry is not None
            if entry == value.name:
                target: Any = outputs[entry]
            else:
                target = pipeline.registry.resolve(value.name)  # a step inside a chain
            if value.path is None:
                return target
            if isinstance(target, list):
                return [OutputPath(t, value.path, blocking=value.blocking) for t in target]
            return OutputPath(target, value.path, blocking=value.blocking)
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    for name in order:
        entry = entries[name]
        inputs = () if entry.input is None else (resolve(entry.input),)
        named = resolve(entry.inputs or {})
        steps = []
        for label, config in entry.variants:
            try:
                steps.append(add(pipeline, config, *inputs, name=label, **named))
            except ConfigError as exc:
                raise ConfigError(f"steps.{exc}") from None
        outputs[name] = steps if entry.swept else steps[0]
