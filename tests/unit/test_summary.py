from __future__ import annotations

import pandas as pd

from ezpipe.observe import digest, summary
from ezpipe.store import Store


def frame(statuses, errors=None, cached=None):
    n = len(statuses)
    return pd.DataFrame(
        {
            "name": [f"s{i}" for i in range(n)],
            "function": ["f"] * n,
            "args": ["[1]"] * n,
            "kwargs": ["{}"] * n,
            "phase": [0] * n,
            "status": statuses,
            "rank": pd.array([0] * n, dtype="Int64"),
            "host": ["h"] * n,
            "duration": [0.5] * n,
            "cached": cached or [False] * n,
            "error": errors or [None] * n,
            "result": [
                f"/f/steps/s{i}/k/result.pkl" if s == 0 else None for i, s in enumerate(statuses)
            ],
        }
    )


def test_a_table_read_back_without_its_run_gets_the_same_verdict_words():
    assert summary.tally_of(frame([0, 0], cached=[True, False])).headline("/f") == (
        "Pipeline Completed @ /f  (2 steps: 2 pass, 1 from cache)"
    )
    assert (
        summary.tally_of(frame([0, 1, 2]))
        .headline("/f")
        .startswith("Pipeline Failed @ /f  (3 steps: 1 pass, 1 fail, 1 skip)")
    )
    interrupted = frame([0, -1], errors=[None, "interrupted: the job was told to stop"])
    assert summary.tally_of(interrupted).word == "Interrupted"


def test_render_has_every_row_and_a_word_column():
    text = summary.render(frame([0] * 10 + [1], errors=[None] * 10 + ["boom"]), "/f")
    lines = text.splitlines()
    assert len(lines) == 12 and "more rows" not in text
    assert lines[0].split() == [
        "name",
        "phase",
        "status",
        "word",
        "rank",
        "host",
        "duration",
        "error",
    ]
    assert lines[-1].split()[:4] == ["s10", "0", "1", "FAIL"] and lines[-1].endswith("boom")


def test_written_files_round_trip(tmp_path):
    store = Store(tmp_path)
    table = frame([0, 1], errors=[None, "ValueError: x"])
    text = summary.write(store, summary.rows(table), summary.tally_of(table))
    assert (tmp_path / "pipeline.summary").read_text() == text
    assert text.startswith(f"Pipeline Failed @ {tmp_path}")
    back = summary.read(store)
    assert back["name"].tolist() == ["s0", "s1"] and back["status"].tolist() == [0, 1]
    assert back["error"].tolist()[1] == "ValueError: x"


def rows(n: int) -> list[dict]:
    """n steps of a sweep: every 1000th fails, the next one is skipped because of it."""
    out = []
    for i in range(n):
        status = 1 if i % 1000 == 7 else 2 if i % 1000 == 8 else 0
        out.append(
            {
                "name": f"mc_volume_{i}",
                "phase": 0,
                "status": status,
                "rank": None if status == 2 else i % 4,
                "host": None if status == 2 else "node01",
                "duration": None if status == 2 else 0.01 * (i % 97),
                "cached": i % 3 == 0 and status == 0,
                "error": "Traceback (most recent call last):\n  ...\nValueError: diverged"
                if status == 1
                else f"skipped: upstream 'mc_volume_{i - 1}' did not pass"
                if status == 2
                else None,
                "skipped_because": f"mc_volume_{i - 1}" if status == 2 else None,
            }
        )
    return out


def test_the_table_stays_aligned_and_narrow_at_10000_rows():
    lines = digest.table(rows(10_000)).splitlines()
    assert len(lines) == 10_001  # every row, nothing elided
    assert max(len(line) for line in lines) <= 100
    assert "NaN" not in "\n".join(lines) and "<NA>" not in "\n".join(lines)
    word_at = lines[0].index("word")
    words = {line[word_at : word_at + 6].strip() for line in lines[1:]}
    assert words == {"PASS", "CACHED", "FAIL", "SKIP"}  # the column starts at one place
    status_end = lines[0].index("status") + len("status")
    assert {line[status_end - 1] for line in lines[1:]} == {"0", "1", "2"}  # numbers, right-aligned


def test_the_digest_starts_with_what_matters():
    table = rows(3000)
    text = digest.digest(table, "Pipeline Failed @ /f  (3000 steps)", "/f", table_path="/f/s")
    lines = text.splitlines()
    assert lines[0] == "Pipeline Failed @ /f  (3000 steps)"
    assert lines[2] == "FAIL  3 steps"
    assert lines[3].split() == ["mc_volume_7", "(rank", "3)", "ValueError:", "diverged"]
    assert lines[4].strip() == "ezpipe show /f mc_volume_7"
    skip = lines.index("SKIP  3 steps, because upstream steps did not pass")
    assert lines[skip + 1] == "  mc_volume_7 (1): mc_volume_8"
    slowest = lines.index("SLOWEST")
    name, took = lines[slowest + 1].split()[:2]
    assert took == "0.96s" and int(name.rsplit("_", 1)[1]) % 3 != 0  # not a reused one
    assert all(len(line) <= 100 for line in lines)
    assert "every step: /f/s" in text


def test_the_digest_groups_skips_by_cause_and_caps_long_lists():
    table = [
        {"name": "root", "status": 1, "rank": 0, "error": "E: x"},
        *({"name": f"leaf_{i}", "status": 2, "skipped_because": "root"} for i in range(300)),
    ]
    text = digest.digest(table, "H", "/f", level="quiet")
    group = next(line for line in text.splitlines() if line.startswith("  root (300): "))
    assert len(group) <= 100 and group.endswith("more") and "leaf_0, leaf_1" in group
    assert "SLOWEST" not in text  # quiet: failures only


def test_many_failures_point_to_status():
    table = [{"name": f"f{i}", "status": 1, "rank": 1, "error": "E"} for i in range(50)]
    text = digest.digest(table, "H", "/f")
    assert f"... and {50 - digest.SHOWN_FAILURES} more: ezpipe status /f --failed" in text


def test_formats_without_pandas():
    table = rows(3)
    assert digest.csv_text(table).splitlines()[0].startswith("name,phase,status")
    assert digest.markdown(table).splitlines()[1].startswith("|---|")
    assert digest.word({"status": 0, "cached": True}) == "CACHED"
    assert digest.word({"status": 2}) == "SKIP"
