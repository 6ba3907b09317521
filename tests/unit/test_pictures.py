"""The pictures: files of the right kind, and what they show (names, labels, bars per rank)."""

from __future__ import annotations

import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
from _observe import PASSED, build, run_cli

from ezpipe import folderview
from ezpipe.observe.pictures import (
    PictureFormatError,
    draw_graph,
    draw_timeline,
    graph_figure,
    png_size,
    timeline_figure,
    timeline_steps,
)
from ezpipe.records import Status, StepRecord
from ezpipe.store import Store


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


# -- content: what is drawn, not only that a file exists --------------------------------------
def synthetic(tmp_path: Path, n: int, *, ranks: int = 4, failed: int = 3) -> folderview.FolderView:
    """A folder view of ``n`` mc_volume steps on ``ranks`` ranks, ``failed`` of them failed,
    and one reduction that was skipped; records only, no pipeline run needed."""
    steps = []
    clock = [1000.0] * ranks
    for i in range(n):
        status = Status.FAILED if i < failed else Status.PASSED
        rank = i % ranks
        start, clock[rank] = clock[rank], clock[rank] + 0.01 + 0.001 * (i % 7)
        record = StepRecord(
            name=f"mc_volume_{i}",
            key=f"{i:016x}",
            status=status,
            rank=rank,
            host="node",
            start=start,
            end=clock[rank],
            duration=clock[rank] - start,
        )
        steps.append(folderview.StepView(f"mc_volume_{i}", "mc_volume", 0, [], f"{i:016x}", record))
    names = [s.name for s in steps]
    skipped = StepRecord(
        name="reduce", key="f" * 16, status=Status.SKIPPED, skipped_because="mc_volume_0"
    )
    steps.append(folderview.StepView("reduce", "reduce", 1, names, "f" * 16, skipped))
    return folderview.FolderView(Store(tmp_path), "synthetic", steps, None, False)


def svg_texts(path: Path) -> list[str]:
    root = ElementTree.parse(path).getroot()
    return ["".join(e.itertext()) for e in root.iter() if e.tag.endswith("}text")]


def test_every_step_is_named_and_failures_are_labelled(folder: Path, tmp_path: Path) -> None:
    texts = svg_texts(draw_graph(folderview.load(folder), tmp_path / "dag.svg"))
    for name in PASSED:
        assert name in texts
    assert "work_2  FAIL" in texts
    assert {"post_2  SKIP", "total  SKIP"} <= set(texts)
    assert texts[texts.index("phase 0") + 1] == "1 step"  # the source, alone in phase 0


def test_many_steps_are_grouped_by_function(tmp_path: Path) -> None:
    view = synthetic(tmp_path, 200)
    texts = svg_texts(draw_graph(view, tmp_path / "dag.svg"))
    assert "mc_volume ×200, 3 FAIL" in texts
    assert "reduce ×1, 1 SKIP" in texts
    assert "FAIL: mc_volume_0, mc_volume_1, mc_volume_2" in texts
    assert "SKIP: reduce" in texts
    assert not any(t == "mc_volume_150" for t in texts)  # no column of unlabeled dots


def test_the_title_does_not_overlap_the_phase_headers(tmp_path: Path) -> None:
    for n in (20, 200):
        figure = graph_figure(synthetic(tmp_path, n))
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        ax = figure.axes[0]
        title = ax.title.get_window_extent(renderer)
        headers = [t for t in ax.texts if t.get_text().startswith("phase ")]
        assert len(headers) == 2
        for header in headers:
            assert not title.overlaps(header.get_window_extent(renderer)), n


def test_the_timeline_draws_10000_steps_as_a_few_collections_quickly(tmp_path: Path) -> None:
    view = synthetic(tmp_path, 10_000)
    started = time.perf_counter()
    out = draw_timeline(view, tmp_path / "timeline.png")
    took = time.perf_counter() - started
    assert took < 10.0, f"{took:.1f} s"  # about 1 s alone; generous on a shared machine
    assert png_size(out)[0] >= 800
    ax = timeline_figure(view).axes[0]
    bars = [c for c in ax.collections if len(c.get_paths())]
    assert len(bars) <= 4 * 2  # one collection per rank and status, not one artist per step
    per_rank: dict[int, int] = {}
    for collection in bars:
        for path in collection.get_paths():
            middle = path.vertices[:, 1].mean()
            per_rank[round(middle)] = per_rank.get(round(middle), 0) + 1
    assert per_rank == {0: 2500, 1: 2500, 2: 2500, 3: 2500}
    assert len(ax.texts) <= 8  # the busy labels, no per-step text at this size


def test_an_unknown_picture_format_is_a_usage_error(folder: Path, tmp_path: Path, capsys) -> None:
    for command in ("graph", "timeline"):
        assert run_cli(command, str(folder), "-o", str(tmp_path / "dag.txt")) == 2
        err = capsys.readouterr().err
        assert "'.txt' is not a picture format" in err and "Traceback" not in err
    with pytest.raises(PictureFormatError):
        draw_graph(folderview.load(folder), tmp_path / "dag.jpeg")
