"""Resume, content keys and cache modes across separate runs (processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import SCRIPTS, run_script


def run_chain(tmp_path: Path, *args: str, ranks: int = 1) -> dict[str, int]:
    """Run chain.py; returns how many times each step executed in that run."""
    counts = tmp_path / "counts"
    counts.mkdir(exist_ok=True)
    before = {p.name: len(p.read_text().splitlines()) for p in counts.iterdir()}
    done = run_script(SCRIPTS / "chain.py", str(tmp_path / "p"), str(counts), *args, ranks=ranks)
    assert done.returncode == 0, done.stdout + done.stderr
    after = {p.name: len(p.read_text().splitlines()) for p in counts.iterdir()}
    executed = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    executed["RESULT"] = int(
        next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("RESULT"))
    )
    return executed


ALL = {**{f"load{i}": 1 for i in range(8)}, **{f"scale{i}": 1 for i in range(8)}, "total": 1}


@pytest.mark.parametrize("ranks", [1, 4])
def test_resume_recomputes_exactly_what_changed(tmp_path, ranks):
    assert run_chain(tmp_path, ranks=ranks) == {**ALL, "RESULT": 56}
    assert run_chain(tmp_path, ranks=ranks) == {"RESULT": 56}  # nothing executes
    # an argument that cannot change the result is left out of the key
    assert run_chain(tmp_path, "--threads", "16", ranks=ranks) == {"RESULT": 56}
    # one argument of every scale step: scale and total rerun, load does not
    changed = run_chain(tmp_path, "--scale", "3", ranks=ranks)
    assert changed == {**{f"scale{i}": 1 for i in range(8)}, "total": 1, "RESULT": 84}
    # switching back is free: the first definition's results were kept
    assert run_chain(tmp_path, "--scale", "2", ranks=ranks) == {"RESULT": 56}
    # a new version of one step reruns that step only
    assert run_chain(tmp_path, "--version", "2", ranks=ranks) == {"total": 1, "RESULT": 56}


def test_modes(tmp_path):
    run_chain(tmp_path)
    assert run_chain(tmp_path, "--mode", "force") == {**ALL, "RESULT": 56}
    assert run_chain(tmp_path, "--mode", "retry") == {"RESULT": 56}
    assert run_chain(tmp_path, "--mode", "read-only") == {"RESULT": 56}
    counts = tmp_path / "counts"
    before = sorted((p.name, p.read_text()) for p in counts.iterdir())
    done = run_script(
        SCRIPTS / "chain.py",
        str(tmp_path / "p"),
        str(counts),
        "--scale",
        "5",
        "--mode",
        "read-only",
    )
    assert "step 'total' was skipped because upstream step 'scale0' did not pass" in done.stderr
    assert sorted((p.name, p.read_text()) for p in counts.iterdir()) == before  # nothing ran
    rows = json.loads((tmp_path / "p" / "pipeline.summary.json").read_text())
    errors = {r["name"]: r["error"] for r in rows if r["status"] == 1}
    assert sorted(errors) == [f"scale{i}" for i in range(8)]
    assert all("cache mode is 'read-only'" in e for e in errors.values())
    # a read-only miss leaves no failure record behind: a normal run computes it
    assert run_chain(tmp_path, "--scale", "5") == {
        **{f"scale{i}": 1 for i in range(8)},
        "total": 1,
        "RESULT": 140,
    }
