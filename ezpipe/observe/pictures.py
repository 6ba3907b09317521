"""Pictures of a pipeline folder: the DAG by phase and the timeline of steps per rank.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global
backend switch, no display needed), so it works on a login node and inside a
user's own process alike. The output format follows the file's suffix
(``.png``, ``.svg``, ``.pdf``). matplotlib is the ``plot`` extra: without it
these functions raise :class:`PlotUnavailableError` saying what to install.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import EzpipeError
from ..folderview import FolderView, StepView
from ..records import Status

STATUS_COLORS = {
    Status.PASSED: "#2ca02c",
    Status.FAILED: "#d62728",
    Status.SKIPPED: "#ff9f1c",
    Status.NOT_RUN: "#c7c7c7",
}
LABEL_LIMIT = 80  # steps in one phase beyond which node labels are left out
MAX_INCHES = 60.0


class PlotUnavailableError(EzpipeError, ImportError):
    """matplotlib is not installed."""


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotUnavailableError(
            f"drawing needs matplotlib ({exc}); install it with: pip install 'ezpipe[plot]'"
        ) from None
    figure = Figure(figsize=(min(width, MAX_INCHES), min(height, MAX_INCHES)), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _legend(ax: Any, counts: dict[Status, int], *, below: bool = False) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=STATUS_COLORS[s], label=f"{s.label} ({counts[s]})") for s in Status if counts[s]
    ]
    if handles and below:
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.22),
            ncol=len(handles),
            frameon=False,
        )
    elif handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


FORMATS = ("png", "svg", "pdf")
GROUP_ABOVE = 40  # more steps than this: one box per function and phase


class PictureFormatError(EzpipeError, ValueError):
    """The picture's file name ends in a suffix matplotlib is not asked to write."""


def picture_format(path: str | os.PathLike[str]) -> str:
    """``png``, ``svg`` or ``pdf`` from the file's suffix; :class:`PictureFormatError` else."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        shown = f"'.{suffix}'" if suffix else "no suffix"
        raise PictureFormatError(
            f"cannot draw {os.fspath(path)!r}: {shown} is not a picture format; "
            f"name it .png, .svg or .pdf"
        )
    return suffix


def _savefig(figure: Any, target: Any, fmt: str) -> None:
    """Save; an SVG keeps its text as ``<text>`` (searchable, and read by the tests)."""
    from matplotlib import rc_context

    with rc_context({"svg.fonttype": "none"}):
        figure.savefig(target, bbox_inches="tight", format=fmt)


def _save(figure: Any, path: str | os.PathLike[str]) -> Path:
    fmt = picture_format(path)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _savefig(figure, out, fmt)
    return out


def picture_bytes(figure: Any, fmt: str = "svg") -> bytes:
    """The figure as the bytes of a file (the HTML report inlines them)."""
    buffer = io.BytesIO()
    _savefig(figure, buffer, fmt)
    return buffer.getvalue()


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _phase_headers(ax: Any, phases: Sequence[Sequence[Any]], what: str) -> None:
    """Phase headers just above the axes (axes coordinates), so they never meet the title."""
    for x, phase in enumerate(phases):
        ax.text(
            x,
            1.0,
            f"phase {x}\n{plural(len(phase), what)}",
            ha="center",
            va="bottom",
            fontsize=9,
            transform=ax.get_xaxis_transform(),
        )


def _title(ax: Any, view: FolderView) -> None:
    ax.set_title(f"{view.pipeline} @ {view.store.root}", fontsize=10, pad=34)


def draw_graph(view: FolderView, path: str | os.PathLike[str]) -> Path:
    """The DAG as a picture file (format from the suffix); see :func:`graph_figure`."""
    picture_format(path)  # before drawing: a wrong name fails at once
    return _save(graph_figure(view), path)


def graph_figure(view: FolderView, *, group: bool | None = None) -> Any:
    """The DAG: one column per phase, coloured by status.

    Up to GROUP_ABOVE steps (or ``group=False``): one dot per step, every step named,
    failed and skipped ones with their status. Beyond: one box per function and phase
    (``mc_volume ×200, 3 FAIL``), the failed steps named under it.
    """
    if group is None:
        group = len(view.steps) > GROUP_ABOVE
    return _grouped(view) if group else _steps(view)


def _steps(view: FolderView) -> Any:
    from matplotlib.collections import LineCollection

    phases = view.phases
    tallest = max((len(p) for p in phases), default=1)
    labels = tallest <= LABEL_LIMIT
    figure = _figure(2.0 + 2.6 * len(phases), 1.5 + (0.32 if labels else 0.06) * tallest)
    ax = figure.add_subplot()
    where: dict[str, tuple[float, float]] = {}
    for x, phase in enumerate(phases):
        for j, step in enumerate(phase):
            where[step.name] = (float(x), (len(phase) - 1) / 2.0 - j)
    segments = [
        [where[dep], where[step.name]]
        for step in view.steps
        for dep in step.depends_on
        if dep in where
    ]
    ax.add_collection(LineCollection(segments, colors="#999999", linewidths=0.6, zorder=1))
    xs = [where[s.name][0] for s in view.steps]
    ys = [where[s.name][1] for s in view.steps]
    colors = [STATUS_COLORS[s.status] for s in view.steps]
    size = 90 if labels else 12
    ax.scatter(xs, ys, c=colors, s=size, zorder=2, edgecolors="#333333", linewidths=0.5)
    cached = [s for s in view.steps if s.cached]
    if cached:
        ax.scatter(
            [where[s.name][0] for s in cached],
            [where[s.name][1] for s in cached],
            s=size * 2.2,
            facecolors="none",
            edgecolors="#1f77b4",
            linewidths=1.2,
            zorder=3,
            label="from cache",
        )
    for step in view.steps:
        bad = step.status in (Status.FAILED, Status.SKIPPED)
        if labels or bad:  # failed and skipped steps are always named
            x, y = where[step.name]
            ax.annotate(
                f"{step.name}  {step.status.label}" if bad else step.name,
                (x, y),
                xytext=(7, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=STATUS_COLORS[step.status] if bad else "black",
                fontweight="bold" if bad else "normal",
                zorder=4,
            )
    top = (tallest - 1) / 2.0 + 0.6
    _phase_headers(ax, phases, "step")
    ax.set_xlim(-0.5, len(phases) - 0.2)
    ax.set_ylim(-top, top)
    ax.set_axis_off()
    _title(ax, view)
    _legend(ax, view.counts())
    return figure


def _grouped(view: FolderView) -> Any:
    from matplotlib.collections import LineCollection

    groups: dict[tuple[int, str], list[StepView]] = {}
    for step in view.steps:
        groups.setdefault((step.phase, step.function or step.name), []).append(step)
    columns: list[list[tuple[int, str]]] = [[] for _ in view.phases]
    for key in groups:
        columns[key[0]].append(key)
    tallest = max((len(c) for c in columns), default=1)
    figure = _figure(2.5 + 3.4 * len(columns), 2.0 + 0.9 * tallest)
    ax = figure.add_subplot()
    where: dict[tuple[int, str], tuple[float, float]] = {}
    for x, column in enumerate(columns):
        for j, key in enumerate(column):
            where[key] = (float(x), (len(column) - 1) / 2.0 - j)
    of_step = {s.name: (s.phase, s.function or s.name) for s in view.steps}
    edges = {
        (of_step[dep], key)
        for key, members in groups.items()
        for step in members
        for dep in step.depends_on
        if dep in of_step
    }
    segments = [[where[a], where[b]] for a, b in sorted(edges)]
    ax.add_collection(LineCollection(segments, colors="#999999", linewidths=0.8, zorder=1))
    for key, members in groups.items():
        x, y = where[key]
        counts = {s: sum(1 for m in members if m.status == s) for s in Status}
        worst = next(
            (s for s in (Status.FAILED, Status.SKIPPED, Status.NOT_RUN) if counts[s]),
            Status.PASSED,
        )
        tags = [f"{counts[s]} {s.label}" for s in (Status.FAILED, Status.SKIPPED) if counts[s]]
        label = f"{key[1]} ×{len(members)}" + "".join(f", {t}" for t in tags)
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=9,
            zorder=3,
            bbox={"boxstyle": "round,pad=0.4", "fc": STATUS_COLORS[worst], "ec": "#333333"},
            color="white" if worst in (Status.PASSED, Status.FAILED) else "black",
        )
        below = y - 0.32
        for status in (Status.FAILED, Status.SKIPPED):  # the steps that did not pass, named
            names = [m.name for m in members if m.status == status]
            if names:
                more = f" +{len(names) - 3}" if len(names) > 3 else ""
                ax.text(
                    x,
                    below,
                    f"{status.label}: {', '.join(names[:3])}{more}",
                    ha="center",
                    va="top",
                    fontsize=7,
                    zorder=3,
                    color=STATUS_COLORS[status],
                )
                below -= 0.16
    top = (tallest - 1) / 2.0 + 0.6
    _phase_headers(ax, view.phases, "step")
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(-top, top)
    ax.set_axis_off()
    _title(ax, view)
    _legend(ax, view.counts())
    return figure


def timeline_steps(view: FolderView, all_runs: bool = False) -> tuple[list[StepView], bool]:
    """Computed steps with times; those of the latest run unless ``all_runs`` (or none ran)."""
    timed = [
        s
        for s in view.steps
        if s.record is not None
        and s.record.start is not None
        and s.record.end is not None
        and s.record.rank is not None
    ]
    if all_runs or view.run is None:
        return timed, True
    latest = [s for s in timed if s.record is not None and s.record.start >= view.run.start - 1.0]  # type: ignore[operator]
    return (latest, False) if latest else (timed, True)


def draw_timeline(
    view: FolderView, path: str | os.PathLike[str], *, all_runs: bool = False
) -> Path:
    """The timeline as a picture file (format from the suffix); see :func:`timeline_figure`."""
    picture_format(path)
    return _save(timeline_figure(view, all_runs=all_runs), path)


def timeline_figure(view: FolderView, *, all_runs: bool = False) -> Any:
    """A Gantt chart: one row per rank, one bar per computed step; gaps are idle time.

    The bars of one rank and status are one ``broken_barh`` collection (not one
    artist per step), so 10,000 steps draw in about a second.
    """
    steps, everything = timeline_steps(view, all_runs)
    ranks = sorted(
        {s.record.rank for s in steps if s.record is not None and s.record.rank is not None}
    )
    n_ranks = max([*ranks, (view.run.ranks - 1) if view.run else 0, 0]) + 1
    figure = _figure(12.0, 1.4 + 0.55 * n_ranks)
    ax = figure.add_subplot()
    t0 = min((s.record.start for s in steps if s.record and s.record.start), default=0.0)
    t1 = max((s.record.end for s in steps if s.record and s.record.end), default=t0 + 1.0)
    span = max(t1 - t0, 1e-6)
    busy = [0.0] * n_ranks
    bars: dict[tuple[int, Status], list[tuple[float, float]]] = {}
    for step in steps:
        rec = step.record
        assert rec is not None and rec.start is not None and rec.end is not None
        rank = int(rec.rank or 0)
        least = span / (400 if rec.status == Status.FAILED else 2000)  # a failure stays visible
        left, width = rec.start - t0, max(rec.end - rec.start, least)
        busy[rank] += rec.end - rec.start
        bars.setdefault((rank, rec.status), []).append((left, width))
        if width > span / 14 and len(steps) <= 400:
            ax.text(
                left + width / 2,
                rank,
                step.name,
                ha="center",
                va="center",
                fontsize=7,
                clip_on=True,
            )
    ordered = sorted(bars.items(), key=lambda kv: kv[0][1] == Status.FAILED)  # failures on top
    for (rank, status), spans in ordered:  # one collection per row and colour: fast
        ax.broken_barh(
            spans,
            (rank - 0.38, 0.76),
            facecolors=STATUS_COLORS[status],
            edgecolors="white",
            linewidth=0.5 if len(steps) <= 400 else 0,
        )
    for rank in range(n_ranks):
        ax.text(
            1.005,
            rank,
            f"busy {100 * busy[rank] / span:.0f}%",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(n_ranks), [f"rank {r}" for r in range(n_ranks)])
    ax.set_ylim(n_ranks - 0.5, -0.5)
    ax.set_xlim(0, span * 1.01)
    ax.set_xlabel("seconds since the first step started")
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    which = "all stored runs" if everything else "latest run"
    ax.set_title(
        f"{view.pipeline}: {plural(len(steps), 'computed step')} on "
        f"{plural(n_ranks, 'rank')} "
        f"({which}, {span:.1f} s)",
        fontsize=10,
    )
    counts = dict.fromkeys(Status, 0)
    for step in steps:
        counts[step.status] += 1
    _legend(ax, counts, below=True)
    return figure


def png_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Width and height of a PNG file, read from its header (used by tests and docs)."""
    data = Path(path).read_bytes()[:24]
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


__all__: Sequence[str] = (
    "draw_graph",
    "draw_timeline",
    "graph_figure",
    "picture_bytes",
    "picture_format",
    "png_size",
    "timeline_figure",
)
