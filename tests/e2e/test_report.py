"""``ezpipe report``: the HTML page, opened in a real headless browser (Chromium).

The page is loaded from a file with networking off; after its script ran, the
DOM must hold the table of every step, the failure's traceback and both
pictures, drawn with a size. A screenshot is kept in the test's tmp folder.
Chromium is a Debian package: when missing, the test installs it (as root) or
fails saying how, never skips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _observe import FAILED, N_STEPS, SKIPPED, build, run_cli

from ezpipe.observe.pictures import png_size

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    return next((p for name in ("chromium", "chromium-browser") if (p := shutil.which(name))), None)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True)
        found = find_chromium()
    if found is None:
        pytest.fail("this test needs Chromium: apt-get install -y chromium (make test does it)")
    return found


def browse(chromium: str, page: Path, profile: Path, *extra: str, fragment: str = "") -> str:
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri() + fragment],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = build(tmp_path_factory.mktemp("report"))
    out = folder.parent / "out" / "report.html"
    assert run_cli("report", str(folder), "-o", str(out)) == 0
    return out


def test_the_page_needs_no_network(report: Path) -> None:
    text = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text


def test_the_page_renders_in_a_browser(chromium: str, report: Path, tmp_path: Path) -> None:
    dom = browse(chromium, report, tmp_path / "profile", "--dump-dom")
    assert 'data-ready="yes"' in dom, "the page's script did not run"
    assert f"{N_STEPS} of {N_STEPS} steps shown" in dom  # the table, counted by its script
    body = dom[dom.index('<table id="steps"') : dom.index("</table>")]
    assert body.count("<tr data-status=") == N_STEPS
    assert body.count('data-status="FAIL"') == len(FAILED)
    assert body.count('data-status="SKIP"') == len(SKIPPED)
    assert "Pipeline Failed @" in dom
    traceback = dom[dom.index('<pre class="traceback">') :]
    assert "Traceback (most recent call last)" in traceback[:2000]
    assert "ValueError: k=2 is not allowed" in traceback[:2000]
    assert "work 2 says hi" in dom  # the tail of the failed step's log
    assert dom.count('data-rendered="yes"') == 2, "the DAG and the timeline must be drawn"
    assert re.search(r'<figure id="dag"[^>]*>\s*<svg', dom)
    assert ">work_2  FAIL</text>" in dom  # the DAG's labels are text in the page
    assert "rank 0</text>" in dom  # the timeline's rows

    shot = tmp_path / "report.png"
    browse(
        chromium, report, tmp_path / "profile2", "--window-size=1280,2400", f"--screenshot={shot}"
    )
    assert png_size(shot) == (1280, 2400)
    assert shot.stat().st_size > 50_000  # a page, not a blank


def visible_rows(dom: str) -> list[str]:
    """The step names of the table rows the page's script left visible, in order."""
    body = dom[dom.index('<table id="steps"') : dom.index("</table>")]
    rows = re.findall(r'<tr data-status="[^"]*"( style="[^"]*")?><td>([^<]*)</td>', body)
    return [name for style, name in rows if "none" not in style]


def test_the_table_filters_and_sorts(chromium: str, report: Path, tmp_path: Path) -> None:
    def run(fragment: str, profile: str) -> str:
        return browse(chromium, report, tmp_path / profile, "--dump-dom", fragment=fragment)

    failed = run("#status=FAIL", "p1")
    assert visible_rows(failed) == FAILED and f"1 of {N_STEPS} steps shown" in failed
    assert visible_rows(run("#q=post_", "p2")) == ["post_0", "post_1", "post_2", "post_3"]
    by_name = visible_rows(run("#sort=step&desc=1", "p3"))
    assert by_name == sorted(by_name, reverse=True) and len(by_name) == N_STEPS
    by_time = visible_rows(run("#sort=duration&desc=1", "p4"))
    assert by_time[0].startswith("work_")  # the steps that sleep come first


def test_cpu_and_memory_columns_appear_where_records_have_them(tmp_path: Path) -> None:
    from ezpipe import folderview
    from ezpipe.observe import report as report_mod
    from ezpipe.records import Status, StepRecord
    from ezpipe.store import Store

    def view(**extra: object) -> folderview.FolderView:
        record = StepRecord(name="a", key="0" * 16, status=Status.PASSED, rank=0, **extra)
        step = folderview.StepView("a", "f", 0, [], "0" * 16, record)
        return folderview.FolderView(Store(tmp_path), "p", [step], None, False)

    plain = report_mod.page(view())
    assert "<th>CPU</th>" not in plain and "<th>memory</th>" not in plain
    measured = report_mod.page(view(cpu_seconds=1.5, max_rss=123456))
    assert "<th>CPU</th>" in measured and "<th>memory</th>" in measured
    assert '<td class="num">1.5</td>' in measured and '<td class="num">123456</td>' in measured
