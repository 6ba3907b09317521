"""The pictures: a file is produced, non-empty, of the right kind and a sensible size."""

from __future__ import annotations

from pathlib import Path

import pytest
from _observe import build, run_cli

from ezpipe import folderview
from ezpipe.observe.pictures import draw_graph, draw_timeline, png_size, timeline_steps


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("report"))


def test_graph_png(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "dag.png"
    assert run_cli("graph", str(folder), "-o", str(out)) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = png_size(out)
    assert 500 <= width <= 6000 and 150 <= height <= 6000
    assert out.stat().st_size > 5000


def test_timeline_png(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "timeline.png"
    assert run_cli("timeline", str(folder), "-o", str(out)) == 0
    width, height = png_size(out)
    assert 800 <= width <= 2000 and 100 <= height <= 1000
    assert out.stat().st_size > 5000


def test_svg_and_pdf_follow_the_suffix(folder: Path, tmp_path: Path) -> None:
    view = folderview.load(folder)
    svg = draw_graph(view, tmp_path / "dag.svg")
    assert b"<svg" in svg.read_bytes()[:2000]
    pdf = draw_timeline(view, tmp_path / "timeline.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_timeline_keeps_the_latest_run_unless_all(folder: Path) -> None:
    view = folderview.load(folder)
    latest, everything = timeline_steps(view)
    assert not everything
    assert sorted(s.name for s in latest) == sorted(
        ["source", "work_0", "work_1", "work_2", "work_3", "post_0", "post_1", "post_3"]
    )
    assert all(s.record is not None and s.record.rank == 0 for s in latest)
    all_steps, everything = timeline_steps(view, all_runs=True)
    assert everything and len(all_steps) == len(latest)


def test_png_size_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(b"GIF89a" + b"\0" * 30)
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(path)
