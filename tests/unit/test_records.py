"""The one verdict (RunTally) and the typed outcome a worker sends."""

from __future__ import annotations

import pickle

from ezpipe.records import RunTally, Status, StepOutcome, StepRecord

P, F, S = Status.PASSED, Status.FAILED, Status.SKIPPED


def outcomes(*statuses: Status | None, cached: tuple[int, ...] = ()) -> list[StepOutcome | None]:
    return [
        None if s is None else StepOutcome(status=s, cached=i in cached)
        for i, s in enumerate(statuses)
    ]


def test_a_full_run_that_passed_is_completed_and_done():
    tally = RunTally.of(outcomes(P, P, P, cached=(1,)))
    assert (tally.word, tally.asked_done, tally.complete, tally.exit_code) == (
        "Completed",
        True,
        True,
        0,
    )
    assert tally.headline("/f") == "Pipeline Completed @ /f  (3 steps: 3 pass, 1 from cache)"


def test_failures_make_a_failed_run():
    tally = RunTally.of(outcomes(P, F, S))
    assert (tally.word, tally.exit_code) == ("Failed", 1)
    assert tally.counts() == {"pass": 1, "fail": 1, "skip": 1}
    assert tally.outcome == "failed"


def test_run_only_on_a_new_folder_did_what_was_asked_but_is_incomplete():
    tally = RunTally.of(outcomes(P, None, None), selected=[0])
    assert (tally.word, tally.asked_done, tally.complete, tally.exit_code) == (
        "Incomplete",
        True,
        False,
        0,
    )
    assert tally.headline("/f").endswith("(3 steps: 1 pass, 2 not run)")


def test_run_only_on_a_complete_folder_counts_stored_results_as_passed():
    tally = RunTally.of(outcomes(P, P, P, cached=(1, 2)), selected=[0])
    assert (tally.word, tally.exit_code, tally.cached) == ("Completed", 0, 2)


def test_an_interrupted_run_is_neither_done_nor_failed():
    stopped = [StepOutcome(status=P), StepOutcome(status=Status.NOT_RUN, interrupted=True)]
    tally = RunTally.of(stopped)
    assert (tally.word, tally.exit_code, tally.outcome) == ("Interrupted", 1, "interrupted")


def test_the_verdict_round_trips_through_json_data():
    tally = RunTally.of(outcomes(P, F), selected=[0, 1])
    again = RunTally.from_dict({**tally.as_dict(), "unknown": 1})
    assert again == tally and tally.as_dict()["word"] == "Failed"


def test_the_outcome_of_a_record_keeps_where_it_was_computed():
    record = StepRecord(name="a", key="k", status=P, rank=3, host="n7", duration=1.5)
    reused = record.outcome(reused=True)
    assert (reused.rank, reused.host, reused.cached, reused.duration) == (3, "n7", True, 1.5)
    assert pickle.loads(pickle.dumps(reused)) == reused  # it crosses MPI
