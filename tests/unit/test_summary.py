from __future__ import annotations

import pandas as pd

from ezpipe.observe import summary
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


def test_render_shortens_paths_and_long_tables():
    text = summary.render(frame([0] * 10), "/f", max_rows=4)
    assert "steps/s0/k/result.pkl" in text and "/f/steps" not in text
    assert "... 6 more rows ..." in text
    assert "error" not in text.splitlines()[0]  # an all-empty error column is not shown
    assert "error" in summary.render(frame([1], errors=["boom"]), "/f").splitlines()[0]


def test_written_files_round_trip(tmp_path):
    store = Store(tmp_path)
    table = frame([0, 1], errors=[None, "ValueError: x"])
    text = summary.write(store, table, summary.tally_of(table))
    assert (tmp_path / "pipeline.summary").read_text() == text
    assert text.startswith(f"Pipeline Failed @ {tmp_path}")
    back = summary.read(store)
    assert back["name"].tolist() == ["s0", "s1"] and back["status"].tolist() == [0, 1]
    assert back["error"].tolist()[1] == "ValueError: x"
