"""Multi-rank steps, deadlines and placement under a real ``mpiexec`` (tests/scripts/multirank.py).

Each run is a fresh process group with a timeout (tests/helpers.py), so a hang
fails the test. Assertions read the records and results the runs leave: which
ranks ran what and what overlapped, never how long anything took.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import SCRIPTS, run_script

from ezpipe.errors import EXIT_STUCK
from ezpipe.store import Store

SCRIPT = SCRIPTS / "multirank.py"


def records(folder: Path, name: str) -> list[dict]:
    return [r.model_dump(mode="json") for r in Store(folder).records_of(name)]


def record(folder: Path, name: str) -> dict:
    (only,) = records(folder, name)
    return only


def result(folder: Path, name: str):
    (only,) = Store(folder).records_of(name)
    return Store(folder).load_result(name, only.key)


def statuses(stdout: str) -> dict[str, int]:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("ranks", [4, 8])
def test_multi_rank_steps_meet_in_collectives(tmp_path, ranks):
    done = run_script(SCRIPT, str(tmp_path), "mix", ranks=ranks, timeout=240)
    assert done.returncode == 0, done.stderr
    assert set(statuses(done.stdout).values()) == {0}
    for i in range(4):
        assert result(tmp_path, "pair" if i == 0 else f"pair.{i}") == 2 * i + 1
    for i in range(2):
        got = result(tmp_path, f"quad{i}")
        where = got.pop("where")
        assert got == {"sum": 6.0, "size": 4, "mpi": 4, "i": i}
        rec = record(tmp_path, f"quad{i}")
        # one machine, one node: each member's node-local rank is its world rank
        assert where == [(0, world) for world in rec["ranks"]]
        assert len(set(rec["ranks"])) == 4 and rec["rank"] == rec["ranks"][0]
        assert len(rec["hosts"]) == 4
        logs = sorted(p.name for p in (tmp_path / "steps" / f"quad{i}").glob("*/output*.log"))
        assert logs == ["output.log", "output.rank1.log", "output.rank2.log", "output.rank3.log"]
    assert result(tmp_path, "total") == sum(2 * i + 1 for i in range(4)) + 12.0


def test_a_step_needing_more_ranks_than_the_job_is_refused_before_anything_runs(tmp_path):
    done = run_script(SCRIPT, str(tmp_path), "big", ranks=2, timeout=120)
    assert done.returncode != 0
    assert "needs ranks=4 but this job has 2 worker rank(s)" in done.stderr
    assert done.stderr.count("needs ranks=4") == 1  # every rank refuses it; rank 0 says so once
    assert not (tmp_path / "steps").exists()


@pytest.mark.parametrize("ranks", [4, 8])
def test_a_rank_raising_while_the_others_sit_in_allreduce_fails_only_that_step(tmp_path, ranks):
    done = run_script(SCRIPT, str(tmp_path), "raise", ranks=ranks, timeout=240)
    assert done.returncode == 0, done.stderr  # a failed step does not fail the script
    got = statuses(done.stdout)
    assert got == {"boom": 1, "after": 2, "pair": 0, "pair.1": 0, "pair.2": 0}
    rec = record(tmp_path, "boom")
    assert rec["error_message"] == "rank 1 raised ValueError: rank 1 cannot go on"
    assert "rank 1 cannot go on" in rec["traceback"] and "in boom" in rec["traceback"]
    assert len(rec["ranks"]) == 4
    again = run_script(SCRIPT, str(tmp_path), "raise", ranks=ranks, timeout=240)  # resumes
    assert statuses(again.stdout) == got
    assert all(len(records(tmp_path, n)) == 1 for n in ("pair", "pair.1", "pair.2"))


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        ("stuck", "rank 1 raised ValueError; rank 0 did not return within 4 s"),
        ("stuck0", "rank 0 raised ValueError; ranks 1, 2, 3 did not return within 2 s"),
    ],
)
def test_ranks_that_cannot_be_freed_end_the_job_with_records_and_summary(
    tmp_path, scenario, reason
):
    grace = {"EZPIPE_GRACE": "2"}
    done = run_script(SCRIPT, str(tmp_path), scenario, ranks=4, timeout=240, env=grace)
    assert done.returncode == EXIT_STUCK, done.stderr
    assert "cannot be freed" in done.stderr
    rows = {r["name"]: r for r in json.loads((tmp_path / "pipeline.summary.json").read_text())}
    assert rows["wedged"]["status"] == 1
    assert record(tmp_path, "wedged")["status"] == 1
    assert reason in record(tmp_path, "wedged")["error_message"]
    if scenario == "stuck":  # a 2-rank step: the other two ranks went on meanwhile
        assert [n for n in ("a0", "a1", "a2") if rows[n]["status"] == 0]
    again = run_script(SCRIPT, str(tmp_path), scenario, ranks=4, timeout=240, env=grace)
    assert again.returncode == 0, again.stderr  # resumed: the failure is reused, no hang
    assert statuses(again.stdout) == {"wedged": 1, "a0": 0, "a1": 0, "a2": 0}


def test_deadlines_fail_one_and_multi_rank_steps_and_the_run_goes_on(tmp_path):
    done = run_script(SCRIPT, str(tmp_path), "deadline", ranks=2, timeout=120)
    assert done.returncode == 0, done.stderr
    assert statuses(done.stdout) == {"slow_one": 1, "slow_pair": 1, "pair": 0}
    assert "StepTimeout" in record(tmp_path, "slow_one")["error_message"]
    assert "timeout" in record(tmp_path, "slow_pair")["error_message"]


def test_five_thousand_two_rank_steps_free_their_communicators(tmp_path):
    done = run_script(SCRIPT, str(tmp_path), "many", "5000", ranks=2, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(statuses(done.stdout).values()) == {0}
    assert len(statuses(done.stdout)) == 5000


def test_a_ranks_1_step_gets_a_comm_without_mpi(tmp_path):
    done = run_script(SCRIPT, str(tmp_path), "single", env={"EZPIPE_MPI": "0"})
    assert done.returncode == 0, done.stderr
    assert result(tmp_path, "solo") == 21


def test_gpus_memory_and_threads_are_placed_on_pretend_nodes(tmp_path):
    env = {"EZPIPE_PRETEND_NODES": "2", "EZPIPE_NODE_GPUS": "2", "EZPIPE_NODE_MEMORY": "10G"}
    done = run_script(SCRIPT, str(tmp_path), "place", ranks=4, timeout=240, env=env)
    assert done.returncode == 0, done.stderr
    node = {0: 0, 1: 0, 2: 1, 3: 1}  # two pretend nodes of two ranks each
    gpu_runs = [record(tmp_path, f"g{i}") for i in range(8)]
    for i in range(8):
        got = result(tmp_path, f"g{i}")
        assert got["cvd"] == ",".join(map(str, got["ids"])) and len(got["ids"]) == 1
        assert gpu_runs[i]["gpus"] == got["ids"]
    mem_runs = [record(tmp_path, f"m{i}") for i in range(8)]
    for runs, same in ((gpu_runs, lambda a, b: a["gpus"] == b["gpus"]), (mem_runs, None)):
        for a in runs:
            for b in runs:
                overlap = a is not b and a["start"] < b["end"] and b["start"] < a["end"]
                if overlap and node[a["rank"]] == node[b["rank"]]:
                    # never two steps on one device; 6G + 6G never on a 10G node
                    assert same is not None and not same(a, b)
    assert result(tmp_path, "threaded") == {"omp": "2", "pools": [2]}
    quad = record(tmp_path, "quad0")  # spans both pretend nodes: each rank knows its own
    assert result(tmp_path, "quad0")["where"] == [(node[r], r % 2) for r in quad["ranks"]]
