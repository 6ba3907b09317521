"""Step output folders: fresh per attempt, kept across a stop signal, committed with a
manifest, never used when they do not match it; paths into them; numpy results."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from config_steps import Checkpointed

from ezpipe import Pipeline, Status, as_numpy_step, nonblocking, outputs
from ezpipe.cli import main as ezpipe_main
from ezpipe.engine import preempt
from ezpipe.errors import JobInterrupted
from ezpipe.outputs import ATTEMPT_PREFIX, INTERRUPTED_DIR


def writer_pipeline(folder, control: Path) -> Pipeline:
    """``write`` records what its output folder held at its start in ``control/seen``
    and fails when ``control/fail`` exists: the key stays the same either way."""
    pipeline = Pipeline(folder, echo=False, mode="retry")
    control.mkdir(exist_ok=True)

    @pipeline.step
    def write(control, output_dir):
        with open(f"{control}/seen", "a") as handle:
            handle.write(",".join(sorted(p.name for p in output_dir.iterdir())) + "\n")
        (output_dir / "a.txt").write_text("data")
        (output_dir / "sub").mkdir()
        (output_dir / "sub" / "b.bin").write_bytes(b"\x00" * 10)
        if os.path.exists(f"{control}/fail"):
            raise RuntimeError("boom after writing")
        return "ok"

    @pipeline.step
    def read(path, folder_path):
        return path.read_text(), sorted(p.name for p in folder_path.iterdir())

    step = write(str(control))
    read(step.cd("a.txt"), step.cd())
    return pipeline


def seen(control: Path) -> list[str]:
    return (control / "seen").read_text().splitlines()


def test_the_folder_is_committed_with_sizes_and_checksums(folder, tmp_path):
    control = tmp_path / "control"
    pipeline = writer_pipeline(folder, control)
    pipeline.execute()
    assert seen(control) == [""]  # empty at the start of the attempt
    record = pipeline.record("write")
    assert record.output_files["a.txt"]["size"] == 4
    assert record.output_files["sub/b.bin"]["size"] == 10
    assert len(record.output_files["a.txt"]["sha256"]) == 64
    out = pipeline.store.output_dir("write", pipeline["write"].key)
    assert (out / "a.txt").read_text() == "data"
    assert pipeline.get_result("read") == ("data", ["a.txt", "sub"])
    assert not list(out.parent.glob(f"{ATTEMPT_PREFIX}*"))


def test_a_failed_attempts_files_are_never_taken_for_a_result(folder, tmp_path):
    control = tmp_path / "control"
    control.mkdir()
    (control / "fail").touch()
    pipeline = writer_pipeline(folder, control)
    pipeline.execute()
    assert pipeline.get_status("write") == Status.FAILED
    assert pipeline.get_status("read") == Status.SKIPPED
    step_dir = pipeline.store.step_dir("write", pipeline["write"].key)
    assert not (step_dir / "output").exists() and not list(step_dir.glob(f"{ATTEMPT_PREFIX}*"))
    (control / "fail").unlink()
    again = writer_pipeline(folder, control)
    again.freeze()
    assert again["write"].key == pipeline["write"].key
    again.execute()
    assert seen(control) == ["", ""]  # the retry starts empty
    assert again.get_result("read")[0] == "data"


def test_a_killed_attempts_leftovers_are_removed_and_not_seen(folder, tmp_path):
    control = tmp_path / "control"
    pipeline = writer_pipeline(folder, control)
    pipeline.freeze()
    step_dir = pipeline.store.step_dir("write", pipeline["write"].key)
    stale = step_dir / f"{ATTEMPT_PREFIX}otherhost-1-deadbeef"
    stale.mkdir(parents=True)
    (stale / "half.txt").write_text("half written")
    pipeline.execute()
    assert seen(control) == [""] and not stale.exists()


def test_a_folder_that_does_not_match_its_record_is_recomputed(folder, tmp_path):
    control = tmp_path / "control"
    writer_pipeline(folder, control).execute()
    pipeline = writer_pipeline(folder, control)
    pipeline.freeze()
    out = pipeline.store.output_dir("write", pipeline["write"].key)
    (out / "a.txt").write_text("DATA")  # same size, other content
    pipeline.execute()
    assert len(seen(control)) == 2 and (out / "a.txt").read_text() == "data"
    (out / "sub" / "b.bin").unlink()
    writer_pipeline(folder, control).execute()
    assert len(seen(control)) == 3
    writer_pipeline(folder, control).execute()
    assert len(seen(control)) == 3  # intact: reused


def test_reuse_rehashes_only_files_touched_since_the_commit(folder, tmp_path, monkeypatch):
    control = tmp_path / "control"
    writer_pipeline(folder, control).execute()
    hashed: list[str] = []
    real = outputs._sha256
    monkeypatch.setattr(outputs, "_sha256", lambda path: hashed.append(path.name) or real(path))
    writer_pipeline(folder, control).execute()
    assert hashed == [] and len(seen(control)) == 1  # reused without reading the files
    pipeline = writer_pipeline(folder, control)
    pipeline.freeze()
    out = pipeline.store.output_dir("write", pipeline["write"].key)
    (out / "a.txt").write_text("data")  # rewritten, identical: hashed again, still reused
    pipeline.execute()
    assert hashed == ["a.txt"] and len(seen(control)) == 1


def test_a_stop_signal_keeps_the_files_for_the_next_attempt(folder):
    def build(stop_at: int) -> Pipeline:
        pipeline = Pipeline(folder, echo=False)
        pipeline.add(Checkpointed(epochs=4, stop_at=stop_at), name="train")
        return pipeline

    pipeline = build(2)
    try:
        with pytest.raises(JobInterrupted):
            pipeline.execute()
    finally:
        preempt.reset()
    step_dir = pipeline.store.step_dir("train", pipeline["train"].key)
    kept = step_dir / INTERRUPTED_DIR
    assert sorted(p.name for p in kept.iterdir()) == ["epoch0.ckpt", "epoch1.ckpt"]
    assert pipeline.record("train") is None and not (step_dir / "output").exists()
    resumed = build(2)  # the same definition: stop_at only acts on a first attempt
    resumed.execute()
    assert resumed.get_result("train") == {"resumed_from": 2, "resumed": True}
    assert sorted(resumed.record("train").output_files) == [f"epoch{i}.ckpt" for i in range(4)]
    assert not kept.exists()


def test_paths_into_an_output_folder_are_in_the_key(folder):
    def keys(path: str) -> tuple[str, str]:
        pipeline = Pipeline(folder, echo=False)

        @pipeline.step
        def make(output_dir):
            return 1

        @pipeline.step
        def use(p):
            return str(p)

        up = make()
        down = use(up.cd(path))
        pipeline.freeze()
        return up.key, down.key

    assert keys("a.npy")[0] == keys("b.npy")[0]
    assert keys("a.npy")[1] != keys("b.npy")[1]


def test_a_nonblocking_dependency_is_keyed_but_not_waited_for(folder):
    def build(n: int) -> Pipeline:
        pipeline = Pipeline(folder, echo=False)

        @pipeline.step
        def slow(n, output_dir):
            raise RuntimeError("not finished")

        @pipeline.step
        def peek(path):
            return path.name, path.exists()

        peek(nonblocking(slow(n).cd("last.ckpt")))
        return pipeline

    pipeline = build(1)
    pipeline.execute()
    assert pipeline.get_status("slow") == Status.FAILED
    assert pipeline.get_result("peek") == ("last.ckpt", False)  # ran although slow failed
    other = build(2)
    other.freeze()
    assert other["peek"].key != pipeline["peek"].key and other["peek"].dependencies == []


def test_clean_removes_output_folders(folder, tmp_path):
    writer_pipeline(folder, tmp_path / "control").execute()
    assert list(folder.glob("steps/write/*/output/a.txt"))
    assert ezpipe_main(["clean", str(folder), "write", "--yes"]) == 0
    assert not list(folder.glob("steps/write/*/output"))


def test_numpy_results_are_read_memory_mapped_and_copy_on_write(folder):
    def build() -> Pipeline:
        pipeline = Pipeline(folder, echo=False)

        @as_numpy_step(pipeline)
        def make(n):
            return np.arange(n, dtype=np.float64)

        @pipeline.step
        def change(a):
            kind = type(a).__name__
            a[0] = 1000.0  # a private copy of the page: the file is untouched
            return kind, float(a.sum())

        change(make(10))
        return pipeline

    pipeline = build()
    pipeline.execute()
    assert pipeline.get_result("change") == ("memmap", 1045.0)
    stored = pipeline.get_result("make")
    assert isinstance(stored, np.memmap) and stored[0] == 0.0
    assert pipeline.record("make").output_files["result.npy"]["size"] == stored.nbytes + 128
    again = build()
    frame = again.execute()
    assert frame["cached"].tolist() == [True, True]


def test_a_numpy_step_must_return_an_array(folder):
    pipeline = Pipeline(folder, echo=False)

    @as_numpy_step(pipeline)
    def bad():
        return [1, 2]

    bad()
    pipeline.execute()
    assert "must return a numpy array" in pipeline.record("bad").error_message
