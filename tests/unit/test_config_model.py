"""Config steps as pydantic models: dispatch on ``type``, step-typed fields, clone, keys."""

from __future__ import annotations

import pytest
from config_steps import Fit, Holder, Load, Scale, Total
from pydantic import BaseModel, Field, ValidationError

from ezpipe import Chain, ConfigError, ConfigStep, Loop
from ezpipe.config.model import identity, resolve_type, validate


class Experiment(BaseModel):
    name: str
    pipeline: ConfigStep


def test_a_dict_with_type_becomes_the_subclass_by_short_name_or_import_path():
    assert type(validate(ConfigStep, {"type": "Scale", "coeff": 3})) is Scale
    made = validate(ConfigStep, {"type": "config_steps.Scale", "coeff": 3})
    assert made == Scale(coeff=3.0)
    assert resolve_type("config_steps.Fit") is Fit


def test_a_step_field_accepts_an_instance_a_dict_a_list_and_a_dict_of_dicts():
    assert Experiment(name="a", pipeline=Load(n=2)).pipeline == Load(n=2)
    assert Experiment(name="b", pipeline={"type": "Load", "n": 2}).pipeline == Load(n=2)
    listed = Experiment(name="c", pipeline=[{"type": "Load"}, {"type": "Scale"}]).pipeline
    assert isinstance(listed, Chain) and [type(s) for s in listed.steps] == [Load, Scale]
    named = Experiment(
        name="d", pipeline={"load": {"type": "Load", "n": 3}, "scale": {"type": "Scale"}}
    ).pipeline
    assert isinstance(named, Chain) and list(named.steps) == ["load", "scale"]
    assert named.run() == [0.0, 2.0, 4.0]


def test_a_chain_feeds_each_output_to_the_next_and_chains_nest():
    inner = Chain([Load(n=3), Scale(coeff=10)])
    outer = Chain(steps={"first": inner, "total": Total()})
    assert outer.run() == 30.0
    assert Holder(pipeline=[{"type": "Load", "n": 2}, {"type": "Total"}]).run() == 1.0


def test_a_loop_repeats_its_steps_telling_each_its_iteration():
    loop = Loop(3, [{"type": "Train"}])
    assert loop.run(0) == [0, 1, 2, 3]
    assert Loop(n_iterations=2, steps=[{"type": "Train"}]) == Loop(2, [{"type": "Train"}])
    with pytest.raises(ValidationError, match="at least one step"):
        Loop(2, [])
    assert Loop(n=2, steps={"scale": Scale(coeff=2)}).run([1.0]) == [4.0]


def test_an_unknown_type_is_an_error_that_names_its_path_and_suggests():
    with pytest.raises(ConfigError) as info:
        validate(Chain, {"steps": {"load": {"type": "Lod"}}})
    message = str(info.value)
    assert message.startswith("steps.load: unknown step type 'Lod'")
    assert "'Load'" in message  # the suggestion


def test_a_missing_field_and_a_wrong_type_name_their_paths():
    with pytest.raises(ConfigError) as info:
        validate(
            Chain,
            {"steps": {"fit": {"type": "Fit", "alpha": "x"}, "keep": {"type": "Holder"}}},
        )
    lines = str(info.value).splitlines()
    assert "steps.fit.alpha: input should be a number, got 'x'" in lines
    assert "steps.keep.pipeline: field required" in lines


def test_an_unknown_field_is_refused():
    with pytest.raises(ConfigError, match=r"^coef: unknown field, got 3$"):
        validate(Scale, {"coef": 3})


def test_a_type_that_is_not_the_fields_class_is_refused():
    with pytest.raises(ValidationError, match="is a Load, not a Scale"):
        Scale.model_validate({"type": "Load"})


def test_ambiguous_short_names_ask_for_the_import_path():
    first = type("Twin", (ConfigStep,), {"__module__": "twins_a", "__annotations__": {}})
    second = type("Twin", (ConfigStep,), {"__module__": "twins_b", "__annotations__": {}})
    with pytest.raises(ValueError, match="ambiguous"):
        resolve_type("Twin")
    assert resolve_type("twins_a.Twin") is first and resolve_type("twins_b.Twin") is second


def test_clone_patches_dotted_paths_and_validates():
    chain = Chain(steps={"load": Load(n=2), "scale": Scale(coeff=2)})
    patched = chain.clone({"steps.scale.coeff": 3.0, "steps.load.n": 3})
    assert patched.run() == [0.0, 3.0, 6.0]
    assert chain.run() == [0.0, 2.0]  # the original is unchanged
    assert Chain([Load(n=1), Scale()]).clone({"steps.1.coeff": 5}).steps[1].coeff == 5.0


def test_clone_to_a_path_that_does_not_exist_names_it():
    chain = Chain(steps={"load": Load(), "scale": Scale()})
    with pytest.raises(ConfigError, match=r"^steps\.scal\.coeff: no such path .*'scale'"):
        chain.clone({"steps.scal.coeff": 3.0})
    with pytest.raises(ConfigError, match=r"^steps\.scale\.cof: no such path"):
        chain.clone({"steps.scale.cof": 3.0})
    with pytest.raises(ConfigError, match=r"steps\.scale\.coeff: input should be a number"):
        chain.clone({"steps.scale.coeff": "x"})


def test_to_config_round_trips():
    chain = Chain(steps={"load": Load(n=5), "inner": Chain([Scale(coeff=4), Total()])})
    data = chain.to_config()
    assert data["steps"]["inner"]["steps"][0]["type"] == "config_steps.Scale"
    assert validate(ConfigStep, data) == chain


def test_the_key_identity_leaves_out_excluded_fields_only():
    base = identity(Scale(coeff=2))
    assert identity(Scale(coeff=2, n_jobs=8, device="cuda")) == base  # class list and Field
    assert identity(Scale(coeff=3)) != base
    assert "n_jobs" not in base and "device" not in base and base["coeff"] == 2.0
    nested = identity(Chain([Scale(coeff=2, n_jobs=4)]))
    assert nested["steps"][0] == base


def test_exclusions_must_name_fields():
    with pytest.raises(TypeError, match="names no field"):
        type(
            "Bad",
            (ConfigStep,),
            {"__annotations__": {"x": int}, "x": 1, "exclude_from_key": ("y",)},
        )


def test_resources_are_class_defaults():
    class Heavy(ConfigStep):
        ranks = 4
        gpus = 1
        timeout = "2:00:00"
        size: int = Field(1, ge=1)

        def _run(self) -> int:
            return self.size

    assert Heavy.resources() == {"ranks": 4, "gpus": 1, "timeout": "2:00:00"}
    assert Load.resources() == {}


def test_a_field_may_take_the_name_of_a_class_setting():
    with pytest.warns(UserWarning, match="shadows"):

        class Timed(ConfigStep):
            timeout: float = 1.0
            version: str = "v2"

            def _run(self) -> float:
                return self.timeout

    assert Timed.resources() == {} and Timed.setting("version") is None
    assert Timed(timeout=3).run() == 3.0
    assert identity(Timed())["timeout"] == 1.0 and identity(Timed())["version"] == "v2"
