"""``ezpipe report``: one self-contained HTML page about a pipeline folder.

Everything is inline (CSS, a few lines of JavaScript, the pictures as SVG, or
as a base64 PNG when an SVG with one element per bar would be too large), so
the file opens from a mail attachment or a cluster's scratch space without any
network access. The page shows the headline, the counts, every failure with
its traceback and the tail of its log, a table of every step (sortable by
clicking a column header, filterable by text and status; a link's
``#status=FAIL&q=text&sort=duration&desc=1`` opens it so), the DAG and the
timeline per rank. Built from the folder alone (:mod:`ezpipe.folderview`).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import os
from pathlib import Path
from typing import Any

from ..folderview import FolderView, StepView
from ..records import Status
from .digest import last_line, seconds

LOG_TAIL = 40  # lines of a failed step's log shown under its traceback
SVG_STEPS = 2000  # above this many timeline bars, the timeline is a PNG
SHOWN_FAILURES = 200
CPU_FIELDS = ("cpu_seconds", "cpu_time", "cpu")  # record fields some engines add
MEMORY_FIELDS = ("max_rss", "memory", "peak_memory", "max_rss_bytes")

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em} h2{font-size:1.1em;margin-top:1.6em}
.badge{display:inline-block;padding:.15em .6em;border-radius:.8em;margin-right:.4em;color:#fff}
.PASS{background:#2ca02c}.FAIL{background:#d62728}.SKIP{background:#ff9f1c;color:#000}
.CACHED{background:#1f77b4}.NOTRUN{background:#999}
table{border-collapse:collapse;font-size:13px}
th,td{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}
th{cursor:pointer;background:#f3f3f3;position:sticky;top:0} td.num{text-align:right}
td.err{white-space:normal;max-width:40em}
pre{background:#f7f7f7;padding:.6em;overflow:auto;max-height:24em;font-size:12px}
.failure{border-left:4px solid #d62728;padding-left:.8em;margin-bottom:1.2em}
figure{margin:0 0 1em 0} figure svg,figure img{max-width:100%;height:auto}
#filters{margin:.5em 0} #filters input{width:20em}
"""

SCRIPT = """
(function () {
  var table = document.getElementById('steps');
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var text = document.getElementById('filter-text');
  var status = document.getElementById('filter-status');
  var count = document.getElementById('shown');
  function filter() {
    var needle = text.value.toLowerCase(), wanted = status.value, shown = 0;
    rows.forEach(function (row) {
      var ok = (!wanted || row.dataset.status === wanted) &&
               (!needle || row.textContent.toLowerCase().indexOf(needle) >= 0);
      row.style.display = ok ? '' : 'none';
      if (ok) shown++;
    });
    count.textContent = shown + ' of ' + rows.length + ' steps shown';
  }
  text.addEventListener('input', filter);
  status.addEventListener('change', filter);
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.addEventListener('click', function () {
      var down = th.dataset.sorted !== 'up';
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
        delete h.dataset.sorted;
      });
      th.dataset.sorted = down ? 'up' : 'down';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.key || a.cells[col].textContent;
        var y = b.cells[col].dataset.key || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y), c;
        c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return down ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  // a link can carry a view: report.html#status=FAIL&q=mc_volume&sort=duration&desc=1
  var wanted = {};
  location.hash.replace(/^#/, '').split('&').forEach(function (pair) {
    var kv = pair.split('=');
    if (kv[0]) wanted[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1] || '');
  });
  if (wanted.status) status.value = wanted.status;
  if (wanted.q) text.value = wanted.q;
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    if (wanted.sort && th.textContent === wanted.sort) {
      th.click();
      if (wanted.desc) th.click();
    }
  });
  filter();
  window.addEventListener('load', function () {
    Array.prototype.forEach.call(document.querySelectorAll('figure'), function (f) {
      var svg = f.querySelector('svg'), img = f.querySelector('img'), ok = false;
      if (svg) { var box = svg.getBoundingClientRect(); ok = box.width > 0 && box.height > 0; }
      if (img) { ok = img.complete && img.naturalWidth > 0; }
      f.dataset.rendered = ok ? 'yes' : 'no';
    });
    document.body.dataset.ready = 'yes';
  });
})();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def word(step: StepView) -> str:
    return "CACHED" if step.status == Status.PASSED and step.cached else step.status.label


def _extra(step: StepView, names: tuple[str, ...]) -> Any:
    rec = step.record
    extra = (rec.model_extra or {}) if rec is not None else {}
    return next((extra[n] for n in names if extra.get(n) is not None), None)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _tail(path: str | None, lines: int = LOG_TAIL) -> tuple[str, int]:
    """The last ``lines`` lines of a log and how many lines it has (0: none, or unreadable)."""
    if not path:
        return "", 0
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", 0
    all_lines = text.splitlines()
    return "\n".join(all_lines[-lines:]), len(all_lines)


def _picture(figure_of: Any, title: str, ident: str, *, png: bool) -> str:
    """A figure inline: SVG markup, or a base64 PNG for very many elements."""
    from .pictures import picture_bytes

    try:
        figure = figure_of()
    except Exception as exc:  # matplotlib missing, or a folder it cannot draw
        return f'<p id="{ident}">(no picture: {_e(exc)})</p>'
    if png:
        data = base64.b64encode(picture_bytes(figure, "png")).decode()
        inner = f'<img alt="{_e(title)}" src="data:image/png;base64,{data}">'
    else:
        svg = picture_bytes(figure, "svg").decode()
        inner = svg[svg.index("<svg") :]  # no XML prolog or doctype inside HTML
    return f'<figure id="{ident}">{inner}<figcaption>{_e(title)}</figcaption></figure>'


def _table(view: FolderView) -> str:
    cpu = any(_extra(s, CPU_FIELDS) is not None for s in view.steps)
    memory = any(_extra(s, MEMORY_FIELDS) is not None for s in view.steps)
    header = ["step", "function", "phase", "status", "rank", "host", "duration"]
    header += ["CPU"] * cpu + ["memory"] * memory + ["error"]
    out = ['<table id="steps"><thead><tr>']
    out += [f"<th>{h}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for step in view.steps:
        rec = step.record
        status = word(step)
        duration = None if rec is None else rec.duration
        cells = [
            f"<td>{_e(step.name)}</td>",
            f"<td>{_e(step.function)}</td>",
            f'<td class="num">{step.phase}</td>',
            f'<td><span class="badge {status.replace(" ", "")}">{status}</span></td>',
            f'<td class="num">{_e("-" if rec is None or rec.rank is None else rec.rank)}</td>',
            f"<td>{_e(rec.host if rec is not None and rec.host else '-')}</td>",
            f'<td class="num" data-key="{duration if duration is not None else -1}">'
            f"{seconds(duration)}</td>",
        ]
        if cpu:
            cells.append(f'<td class="num">{_e(_extra(step, CPU_FIELDS) or "-")}</td>')
        if memory:
            cells.append(f'<td class="num">{_e(_extra(step, MEMORY_FIELDS) or "-")}</td>')
        cells.append(f'<td class="err">{_e(_error(step))}</td>')
        out.append(f'<tr data-status="{status}">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _error(step: StepView) -> str:
    rec = step.record
    if step.status == Status.SKIPPED:
        cause = rec.skipped_because if rec is not None and rec.skipped_because else None
        if cause is None and step.latest_error:
            return step.latest_error.removeprefix("skipped: ")
        return f"upstream {cause!r} did not pass" if cause else "skipped"
    if rec is None or rec.status != Status.FAILED:
        return ""
    return last_line(rec.error_message)


def _failures(view: FolderView) -> str:
    failed = [s for s in view.steps if s.status == Status.FAILED and s.record is not None]
    if not failed:
        return "<p>No step failed.</p>"
    out = []
    for step in failed[:SHOWN_FAILURES]:
        rec = step.record
        assert rec is not None
        log_path = view.resolve(rec.log_path)
        tail, total = _tail(log_path)
        where = f"rank {rec.rank} on {rec.host}, {seconds(rec.duration)}"
        out.append(
            f'<div class="failure" id="fail-{_e(step.name)}"><h3>{_e(step.name)}</h3>'
            f"<p>{_e(where)}; <code>ezpipe show {_e(view.store.root)} {_e(step.name)}</code></p>"
            f'<pre class="traceback">{_e(rec.traceback or rec.error_message)}</pre>'
        )
        if total:
            shown = min(total, LOG_TAIL)
            out.append(
                f"<p>last {shown} of {total} lines of <code>{_e(log_path)}</code></p>"
                f'<pre class="log">{_e(tail)}</pre>'
            )
        else:
            out.append("<p>(the step printed nothing)</p>")
        out.append("</div>")
    if len(failed) > SHOWN_FAILURES:
        out.append(f"<p>... and {len(failed) - SHOWN_FAILURES} more failures (see the table)</p>")
    return "".join(out)


def page(view: FolderView) -> str:
    """The whole report as one HTML document."""
    from .pictures import graph_figure, timeline_figure, timeline_steps

    tally = view.tally()
    root = str(view.store.root)
    run = view.run
    if run is not None:
        about = (
            f"latest run {view.run_state()}: started {_when(run.start)}, "
            f"{seconds(run.duration) if run.duration is not None else 'no end recorded'}; "
            f"{run.ranks} rank{'s' if run.ranks != 1 else ''} on {', '.join(run.hosts) or '?'}"
        )
    else:
        about = "no run recorded"
    counts = view.counts()
    cached = sum(1 for s in view.steps if s.cached and s.status == Status.PASSED)
    badges = "".join(
        f'<span class="badge {s.label.replace(" ", "")}">{counts[s]} {s.label}</span>'
        for s in Status
        if counts[s]
    ) + (f'<span class="badge CACHED">{cached} CACHED</span>' if cached else "")
    options = "".join(
        f'<option value="{w}">{w}</option>' for w in ("PASS", "CACHED", "FAIL", "SKIP", "NOT RUN")
    )
    timed, _ = timeline_steps(view)
    dag = _picture(lambda: graph_figure(view), "the DAG by phase", "dag", png=False)
    timeline = _picture(
        lambda: timeline_figure(view),
        "the timeline: steps per rank over time",
        "timeline",
        png=len(timed) > SVG_STEPS,
    )
    title = f"ezpipe report: {view.pipeline} @ {root}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{STYLE}</style></head>
<body>
<h1 id="headline">{_e(tally.headline(root))}</h1>
<p>{_e(about)}</p>
<p id="counts">{badges}</p>
<h2>Failures</h2>
<div id="failures">{_failures(view)}</div>
<h2>Steps</h2>
<div id="filters"><input id="filter-text" type="search" placeholder="filter: name, host, error">
<select id="filter-status"><option value="">every status</option>{options}</select>
<span id="shown"></span></div>
{_table(view)}
<h2>DAG</h2>
{dag}
<h2>Timeline</h2>
{timeline}
<script>{SCRIPT}</script>
<script type="application/json" id="data">{json.dumps(tally.as_dict())}</script>
</body></html>
"""


def write(view: FolderView, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(view), encoding="utf-8")
    return out
