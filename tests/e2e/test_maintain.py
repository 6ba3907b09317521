"""clean --stale, compact and migrate: the folder keeps the current definitions' results."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _observe import run_cli

from ezpipe import Pipeline
from ezpipe.cli import EXIT_OK
from ezpipe.store import Store


def define(folder: Path, factor: int) -> Pipeline:
    pipeline = Pipeline(folder, "stale", echo=False, progress=False)

    @pipeline.step(name="p{i}")
    def point(i, factor):
        return i * factor

    for i in range(5):
        point(i, factor)
    return pipeline


@pytest.mark.parametrize("layout", ["packed", "folder"])
def test_clean_stale_keeps_exactly_the_current_definitions(
    tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EZPIPE_STORE_LAYOUT", layout)
    folder = tmp_path / "f"
    define(folder, 1).execute()
    current = define(folder, 2)
    current.execute()  # five new definitions beside the five old ones
    assert len(Store(folder).entries()) == 10
    assert run_cli("clean", str(folder), "--stale", "--yes") == EXIT_OK
    assert sorted(Store(folder).entries()) == sorted((s.name, s.key) for s in current.steps)
    again = define(folder, 2).execute()
    assert again["cached"].all()  # nothing current was lost
    assert run_cli("clean", str(folder), "--stale", "--yes") == EXIT_OK  # nothing stale now


def test_migrate_and_compact_keep_every_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EZPIPE_STORE_LAYOUT", "folder")
    folder = tmp_path / "f"
    define(folder, 3).execute()
    files_before = sum(len(f) for _, _, f in os.walk(folder))
    monkeypatch.delenv("EZPIPE_STORE_LAYOUT")
    assert Store(folder).layout == "folder"  # an existing folder keeps its layout
    assert run_cli("migrate", str(folder), "--to", "packed") == EXIT_OK
    assert Store(folder).layout == "packed"
    assert sum(len(f) for _, _, f in os.walk(folder)) < files_before
    run_cli("clean", str(folder), "p0", "--yes")
    assert run_cli("compact", str(folder)) == EXIT_OK
    frame = define(folder, 3).execute().set_index("name")
    assert not frame.loc["p0", "cached"] and frame.loc[["p1", "p4"], "cached"].all()
