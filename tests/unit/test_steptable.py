"""The step table beside ``pipeline.schema``: the commands read the same steps from it
as from the schema, and never a table made from another schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ezpipe import Pipeline, folderview, steptable
from ezpipe.store import Store


def diamond(folder: Path, width: int = 3, tag: str = "a") -> Pipeline:
    pipeline = Pipeline(folder, "table", echo=False, progress=False)

    @pipeline.step(name=f"{tag}_src_{{i}}")
    def source(i):
        return i

    @pipeline.step(name="ünï_{i}")  # names are not only ASCII
    def square(x, i):
        return x * x

    @pipeline.step
    def total(xs):
        return sum(xs)

    total([square(source(i), i=i) for i in range(width)])
    return pipeline


def columns(view: folderview.FolderView) -> list[tuple]:
    return [(s.name, s.function, s.phase, s.depends_on, s.key) for s in view.steps]


def from_schema(folder: Path) -> list[tuple]:
    """What the schema alone says: the table removed first."""
    (folder / ".ezpipe.steps").unlink(missing_ok=True)
    return columns(folderview.load(folder))


def test_the_table_lists_what_the_schema_does(tmp_path: Path) -> None:
    diamond(tmp_path / "p").execute()
    store = Store(tmp_path / "p")
    table = steptable.read(store.step_table_path, store.schema_path)
    assert table is not None and table.pipeline == "table"
    view = folderview.load(tmp_path / "p")
    assert view.document is None  # the schema was not parsed to list the steps
    got = columns(view)
    assert [g[2] for g in got] == [0, 0, 0, 1, 1, 1, 2]
    assert got[-1][0] == "total" and got[-1][3] == ["ünï_0", "ünï_1", "ünï_2"]
    assert view.schema["pipeline"] == "table"  # parsed when asked
    assert got == from_schema(tmp_path / "p")


def test_a_table_from_another_schema_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    diamond(folder, width=3, tag="old").execute()
    stale = (folder / ".ezpipe.steps").read_bytes()
    diamond(folder, width=4, tag="new").execute()
    (folder / ".ezpipe.steps").write_bytes(stale)  # as if an older ezpipe wrote the schema
    names = [s.name for s in folderview.load(folder).steps]
    assert "new_src_3" in names and not any(n.startswith("old_") for n in names)


def test_a_table_with_the_same_hash_but_torn_or_wrong_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    diamond(folder).execute()
    table_path = folder / ".ezpipe.steps"
    want = from_schema(folder)
    diamond(folder).execute()  # writes the table again
    whole = table_path.read_bytes()
    table_path.write_bytes(whole[: len(whole) // 2])  # torn
    assert columns(folderview.load(folder)) == want
    doc = json.loads(whole)
    doc["names"] = doc["names"][:-1]  # a column short
    table_path.write_text(json.dumps(doc))
    assert columns(folderview.load(folder)) == want


def test_a_folder_without_a_table_reads_its_schema(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    diamond(folder).execute()
    (folder / ".ezpipe.steps").unlink()  # a folder of an ezpipe before the table
    view = folderview.load(folder)
    assert view.pipeline == "table" and view.document is not None
    assert len(view.steps) == 7


def test_no_schema_is_still_not_a_pipeline_folder(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    diamond(folder).execute()
    (folder / "pipeline.schema").unlink()
    with pytest.raises(folderview.FolderError, match="not a pipeline folder"):
        folderview.load(folder)


def stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def test_a_rerun_of_the_same_definition_does_not_write_the_schema_again(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    diamond(folder).execute()
    schema, table = folder / "pipeline.schema", folder / ".ezpipe.steps"
    before = (stamp(schema), stamp(table))
    diamond(folder).execute()
    assert (stamp(schema), stamp(table)) == before
    diamond(folder, width=4).execute()  # another definition: both written again
    assert stamp(schema) != before[0] and stamp(table) != before[1]
    assert json.loads(schema.read_text())["n_steps"] == 9


def test_what_the_keys_leave_out_still_rewrites_the_schema(tmp_path: Path) -> None:
    """An argument excluded from the key, the pipeline's name, a replaced schema file."""
    folder = tmp_path / "p"

    def sweep(threads: int, name: str = "sweep") -> Pipeline:
        pipeline = Pipeline(folder, name, echo=False, progress=False)

        @pipeline.step(name="w{i}", exclude_from_key=["threads"])
        def work(i, threads):
            return i

        for i in range(3):
            work(i, threads=threads)
        return pipeline

    def args_of_w0() -> str:
        entry = json.loads((folder / "pipeline.schema").read_text())["phases"]["0"][0]
        return entry["kwargs"]

    sweep(threads=2).execute()
    assert "'threads': 2" in args_of_w0()
    tally = sweep(threads=8).execute()  # same keys: every result reused
    assert set(tally["word"]) == {"CACHED"}
    assert "'threads': 8" in args_of_w0()
    sweep(threads=8, name="renamed").execute()
    assert json.loads((folder / "pipeline.schema").read_text())["pipeline"] == "renamed"
    (folder / "pipeline.schema").write_text("{}")  # replaced by someone else
    sweep(threads=8, name="renamed").execute()
    assert json.loads((folder / "pipeline.schema").read_text())["n_steps"] == 3


def test_a_comment_that_moves_a_function_rewrites_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Comments do not change keys, but the schema's line numbers (``ezpipe why``)."""
    import importlib

    body = (
        "from ezpipe import Pipeline\n\n\n"
        "def build(folder):\n"
        "    pipeline = Pipeline(folder, 'moved', echo=False, progress=False)\n\n"
        "    @pipeline.step\n"
        "    def inc(x):\n"
        "        return x + 1\n\n"
        "    inc(1)\n"
        "    return pipeline\n"
    )
    module = tmp_path / "moved_function.py"
    module.write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    moved = importlib.import_module("moved_function")
    folder = tmp_path / "p"
    moved.build(folder).execute()
    first = (folder / "pipeline.schema").read_text()
    module.write_text("# a comment\n" * 5 + body)
    moved = importlib.reload(moved)
    frame = moved.build(folder).execute()
    assert set(frame["word"]) == {"CACHED"}  # the same key
    second = (folder / "pipeline.schema").read_text()
    assert '"line": 7,' in first and '"line": 12,' in second  # the decorator's line


def test_a_table_that_cannot_be_written_costs_only_its_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = Store.write_text

    def no_table(self: Store, path: Path, text: str) -> None:
        if path.name == ".ezpipe.steps":
            raise OSError(28, "No space left on device")
        real(self, path, text)

    monkeypatch.setattr(Store, "write_text", no_table)
    folder = tmp_path / "p"
    frame = diamond(folder).execute()
    assert set(frame["word"]) == {"PASS"}
    assert not (folder / ".ezpipe.steps").exists()
    assert "the commands read the schema instead" in caplog.text
    assert len(folderview.load(folder).steps) == 7  # from the schema


def test_a_table_is_not_used_beside_a_schema_of_another_pipeline_name(tmp_path: Path) -> None:
    """The name is not in the schema hash: an older ezpipe that rewrote the schema under
    another name, same steps, leaves a table that must not be believed."""
    folder = tmp_path / "p"
    diamond(folder).execute()
    schema = folder / "pipeline.schema"
    schema.write_text(schema.read_text().replace('"pipeline": "table"', '"pipeline": "older"', 1))
    view = folderview.load(folder)
    assert view.pipeline == "older" and view.document is not None
