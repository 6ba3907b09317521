"""Whole pipelines from YAML/JSON studies: references, sweeps, loops, overrides, errors."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from ezpipe import ConfigError, Pipeline
from ezpipe.cli import main as ezpipe_main

STUDY = """
name: study
folder: out
imports: [config_steps]
options: {echo: false, progress: false}
steps:
  load: {type: config_steps.Load, n: 3}
  scale:
    type: Scale
    coeff: 2.0
    input: ${steps.load}
  fit:
    type: Fit
    input: {ref: scale}
    sweep:
      grid: {alpha: [0.5, 1.0]}
      zip: {seed: [1, 2], tag: [a, b]}
  train:
    loop: 3
    steps: [{type: Train}]
    input: ${steps.scale}
  report:
    type: Report
    inputs: {fits: "${steps.fit}", model: "${steps.train}"}
"""


def write(tmp_path, text=STUDY, name="study.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def computed(frame) -> list[str]:
    return [row["name"] for _, row in frame.iterrows() if not row["cached"]]


def test_a_study_file_defines_the_pipeline(tmp_path):
    pipeline = Pipeline.from_config(write(tmp_path))
    assert pipeline.name == "study" and pipeline.folder == str(tmp_path / "out")
    assert [s.name for s in pipeline.steps] == [
        "load",
        "scale",
        "fit[alpha=0.5,seed=1,tag=a]",
        "fit[alpha=0.5,seed=2,tag=b]",
        "fit[alpha=1.0,seed=1,tag=a]",
        "fit[alpha=1.0,seed=2,tag=b]",
        "train@1",
        "train@2",
        "train@3",
        "report",
    ]
    pipeline.execute()
    report = pipeline.get_result("report")
    assert report["fits"] == [4.0, 5.0, 7.0, 8.0]  # sum([0, 2, 4]) * alpha + seed
    assert report["model"] == [0.0, 2.0, 4.0, 1, 2, 3]


def test_json_and_a_dict_give_the_same_keys_as_yaml(tmp_path):
    doc = yaml.safe_load(STUDY)
    from_yaml = Pipeline.from_config(write(tmp_path))
    from_json = Pipeline.from_config(write(tmp_path, json.dumps(doc), "study.json"))
    from_dict = Pipeline.from_config(doc, folder=tmp_path / "out")
    for p in (from_yaml, from_json, from_dict):
        p.freeze()
    keys = [[s.key for s in p.steps] for p in (from_yaml, from_json, from_dict)]
    assert keys[0] == keys[1] == keys[2]


def test_editing_the_study_recomputes_exactly_the_affected_steps(tmp_path):
    path = write(tmp_path)
    assert len(computed(Pipeline.from_config(path).execute())) == 10
    frame = Pipeline.from_config(
        path, overrides=["steps.fit.sweep.grid.alpha=[0.5, 2.0]"]
    ).execute()
    assert computed(frame) == [
        "fit[alpha=2.0,seed=1,tag=a]",
        "fit[alpha=2.0,seed=2,tag=b]",
        "report",
    ]
    frame = Pipeline.from_config(path, overrides=["steps.train.loop=4"]).execute()
    assert computed(frame) == ["train@4", "report"]
    frame = Pipeline.from_config(path, overrides={"steps.scale.n_jobs": 16}).execute()
    assert computed(frame) == []  # n_jobs is excluded from the key
    frame = Pipeline.from_config(path, overrides=["steps.scale.coeff=3"]).execute()
    assert "load" not in computed(frame) and len(computed(frame)) == 9


def test_a_chain_entry_as_a_list_or_a_mapping(tmp_path):
    study = """
    folder: out
    options: {echo: false}
    steps:
      listed: [{type: config_steps.Load, n: 3}, {type: Scale, coeff: 3}]
      named:
        load: {type: Load, n: 2}
        total: {type: Total}
      after: {type: Total, input: "${steps.listed}"}
      inner: {type: Total, input: "${steps.named.load}"}
    """
    pipeline = Pipeline.from_config(write(tmp_path, study))
    names = [s.name for s in pipeline.steps]
    assert names == ["listed.0", "listed.1", "named.load", "named.total", "after", "inner"]
    pipeline.execute()
    assert pipeline.get_result("after") == 9.0 and pipeline.get_result("inner") == 1.0


def test_an_override_reaches_inside_chains(tmp_path):
    study = """
    folder: out
    steps:
      prep: {load: {type: config_steps.Load, n: 2}, scale: {type: Scale}}
    """
    pipeline = Pipeline.from_config(write(tmp_path, study), overrides=["steps.prep.scale.coeff=7"])
    assert pipeline["prep.scale"].args[0].coeff == 7.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("steps.scale.coeff=x", "steps.scale.coeff: input should be a number, got 'x'"),
        ("steps.scale.type=Nope", "steps.scale: unknown step type 'Nope'"),
        ("steps.scale.cof=1", "steps.scale.cof: unknown field"),
        ("steps.train.loop=x", "steps.train.loop: input should be an integer, got 'x'"),
        ("steps.scal.coeff=3", "steps.scal.coeff: no such path ('steps.scal' names nothing"),
        ("steps.load.input=${steps.report}", "the references between steps form a cycle"),
        ("steps.scale.input=${steps.lod}", "steps.scale: references no step named 'lod'"),
        ("steps.scale.input=${load}", "steps.scale.input: a reference is written ${steps.NAME}"),
        ("steps.load.n=${steps.scale}", "steps.load.n: references (`${steps.scale}`) go under"),
        ("steps.fit.sweep.zip.tag=[a]", "steps.fit.sweep.zip: every list must have the same"),
        ("steps.scale.input=null", "steps.scale: Scale._run takes an input"),
        ("steps.load.input=${steps.scale}", "cycle"),
        ("steps.fit.sweep.grid.alpha=[x]", "alpha: input should be a number, got 'x'"),
        ("options.colour=1", "options.colour: unknown option"),
        ("nmae=1", "nmae: unknown key of a study"),
        ("steps.scale.coeff", "write PATH=VALUE"),
    ],
)
def test_every_invalid_study_is_refused_naming_the_path(tmp_path, override, message):
    with pytest.raises(ConfigError) as info:
        Pipeline.from_config(write(tmp_path), overrides=[override])
    assert message in str(info.value)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_a_missing_field_in_a_file(tmp_path):
    study = """
    folder: out
    steps:
      keep: {type: config_steps.Holder}
    """
    with pytest.raises(ConfigError, match=r"^steps\.keep\.pipeline: field required$"):
        Pipeline.from_config(write(tmp_path, study))


def test_malformed_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        Pipeline.from_config(write(tmp_path, "steps: {a: [}"))
    with pytest.raises(ConfigError, match="a study is a mapping"):
        Pipeline.from_config(write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match="no folder"):
        Pipeline.from_config({"steps": {"a": {"type": "config_steps.Load"}}})
    with pytest.raises(ConfigError, match=r"imports\.0: cannot import .no_such_module_x."):
        Pipeline.from_config({"imports": ["no_such_module_x"], "steps": {}}, folder=tmp_path)
    with pytest.raises(ConfigError, match=r"steps\.a: a step is a mapping"):
        Pipeline.from_config({"steps": {"a": 3}}, folder=tmp_path)


def test_output_paths_and_nonblocking_references(tmp_path):
    study = """
    folder: out
    steps:
      ckpt: {type: config_steps.Checkpointed, epochs: 2}
      nb: {type: Total, input: {ref: ckpt, path: epoch0.ckpt, nonblocking: true}}
      blocking: {type: Total, input: "${steps.ckpt/epoch1.ckpt}"}
    """
    pipeline = Pipeline.from_config(write(tmp_path, study))
    ckpt, nb, blocking = pipeline["ckpt"], pipeline["nb"], pipeline["blocking"]
    assert nb.dependencies == [] and nb.key_after == (ckpt.index,)
    assert blocking.dependencies == [ckpt.index]
    assert repr(blocking.args[1]) == "<output of ckpt: epoch1.ckpt>"


def test_config_schema_lists_the_registered_steps(tmp_path, capsys):
    assert ezpipe_main(["config-schema", str(write(tmp_path))]) == 0
    schema = json.loads(capsys.readouterr().out)
    scale = schema["$defs"]["config_steps.Scale"]
    assert scale["properties"]["type"]["enum"] == ["config_steps.Scale", "Scale"]
    assert scale["properties"]["coeff"]["type"] == "number"
    assert "input" in scale["properties"] and scale["required"][0] == "type"
    entries = schema["properties"]["steps"]["additionalProperties"]["anyOf"]
    assert {"$ref": "#/$defs/config_steps.Fit"} in entries


def test_slurm_print_writes_the_job_script_of_a_study_and_nothing_else(tmp_path, capsys):
    path = write(tmp_path)
    jobs = tmp_path / "jobs"
    code = ezpipe_main(
        ["slurm", str(path), "-n", "4", "--print", "--output-dir", str(jobs), "--", "-o",
         "steps.scale.coeff=3"]
    )  # fmt: skip
    assert code == 0
    script = capsys.readouterr().out
    assert script.startswith("#!/bin/bash") and "#SBATCH --ntasks=4" in script
    assert f"-m ezpipe.cli.config_run {path} -o steps.scale.coeff=3 &" in script
    assert not jobs.exists() and not (tmp_path / "out").exists()
    bad = ["slurm", str(path), "--print", "--output-dir", str(jobs), "--", "-o", "steps.load.n=x"]
    assert ezpipe_main(bad) == 3
    assert "steps.load.n: input should be an integer, got 'x'" in capsys.readouterr().err


def test_a_document_that_is_one_chain_as_in_exca(tmp_path):
    study = """
    folder: out
    options: {echo: false}
    type: Chain
    steps:
      load: {type: config_steps.Load, n: 3}
      scale: {type: Scale, coeff: 2.0}
    """
    path = write(tmp_path, study)
    pipeline = Pipeline.from_config(path, overrides=["steps.scale.coeff=5"])
    assert [s.name for s in pipeline.steps] == ["load", "scale"]
    pipeline.execute()
    assert pipeline.get_result("scale") == [0.0, 5.0, 10.0]
    with pytest.raises(ConfigError, match=r"^steps\.scale\.coeff: input should be a number"):
        Pipeline.from_config(path, overrides=["steps.scale.coeff=x"])
    listed = Pipeline.from_config(
        {"steps": [{"type": "Load", "n": 2}, {"type": "Total"}]}, folder=tmp_path / "l"
    )
    assert [s.name for s in listed.steps] == ["Load", "Total"]
    with pytest.raises(ConfigError, match=r"^steps\.1: unknown step type 'Totl'"):
        Pipeline.from_config({"steps": [{"type": "Load"}, {"type": "Totl"}]}, folder=tmp_path)


def test_named_inputs_of_a_loop_reach_every_iteration(tmp_path):
    study = """
    folder: out
    options: {echo: false}
    steps:
      data: {type: config_steps.Load, n: 3}
      start: {type: Load, n: 1}
      fit: {loop: 3, steps: [{type: Accumulate}], input: "${steps.start}",
            inputs: {data: "${steps.data}"}}
    """
    pipeline = Pipeline.from_config(write(tmp_path, study))
    pipeline.execute()
    assert [s.name for s in pipeline.steps][2:] == ["fit@1", "fit@2", "fit@3"]
    assert pipeline["fit@3"].dependencies == [pipeline["fit@2"].index, pipeline["data"].index]
    assert pipeline.get_result("fit@3") == [0, 3, 3, 3]  # each iteration adds sum(data)


def test_sweep_values_whose_labels_collide_still_get_distinct_names(tmp_path):
    long_a, long_b = "x" * 50 + "a", "x" * 50 + "b"
    doc = {
        "steps": {
            "load": {"type": "config_steps.Load"},
            "fit": {"type": "Fit", "input": "${steps.load}", "sweep": {"tag": [long_a, long_b]}},
        }
    }
    pipeline = Pipeline.from_config(doc, folder=tmp_path)
    names = [s.name for s in pipeline.steps[1:]]
    assert len(set(names)) == 2 and all(n.startswith("fit[tag=xxx") for n in names)
    assert [s.args[0].tag for s in pipeline.steps[1:]] == [long_a, long_b]
