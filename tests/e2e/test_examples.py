"""Every example works with every `ezpipe run` option, and ends with the right exit code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import ROOT, run_command

EZPIPE = [sys.executable, "-m", "ezpipe", "run"]
EXAMPLES = {"demo.py": "simulate_k2", "simple.py": "alpha", "failing.py": "solve_k1"}
FAILS = {"failing.py"}  # some of its steps fail on purpose: exit 1 when they run
OPTIONS = [
    [],
    ["--dry-run"],
    ["--run-only", "{step}"],
    ["--from-step", "{step}"],
    ["--mode", "retry"],
    ["--mode", "force", "--no-tee"],
    ["--max-concurrent", "1"],
    ["--mode", "read-only"],
]


ON_A_FULL_FOLDER = [[], ["--run-only", "{step}"], ["--mode", "read-only"], ["--dry-run"]]


def expected(example: str, option: list[str], fresh: bool) -> int:
    if option[:1] == ["--dry-run"]:
        return 0
    if option == ["--mode", "read-only"]:
        return 1 if fresh or example in FAILS else 0  # a fresh folder has nothing to read
    if option[:1] == ["--run-only"]:
        return 0  # the selected step and its inputs pass in every example
    return 1 if example in FAILS else 0


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_every_option_on_a_fresh_folder_and_on_a_full_one(example: str, tmp_path: Path) -> None:
    script = ROOT / "examples" / example
    for fresh in (True, False):
        for option in OPTIONS if fresh else ON_A_FULL_FOLDER:
            folder = tmp_path / ("fresh" + "_".join(option).replace("-", "") if fresh else "full")
            if not fresh and not folder.exists():
                run_command([*EZPIPE, str(script), "--", str(folder)], timeout=120)
            argv = [a.format(step=EXAMPLES[example]) for a in option]
            done = run_command([*EZPIPE, str(script), *argv, "--", str(folder)], timeout=120)
            assert done.returncode == expected(example, option, fresh), (
                f"{example} {argv} on a {'fresh' if fresh else 'full'} folder:\n"
                f"{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
            )
            assert "Traceback" not in done.stderr, done.stderr[-1500:]


def test_a_plain_script_opts_in_to_a_failing_exit_status(tmp_path: Path) -> None:
    script = ROOT / "examples" / "failing.py"
    plain = run_command([sys.executable, str(script), str(tmp_path / "a")], timeout=120)
    assert plain.returncode == 0  # ezpyp's behaviour: the script itself ends normally
    opted = run_command(
        [sys.executable, str(script), str(tmp_path / "b")],
        env={"EZPIPE_EXIT_ON_FAILURE": "1"},
        timeout=120,
    )
    assert opted.returncode == 1 and "Pipeline Failed @" in opted.stdout
