"""Every common mistake gets an error that names it (the step, the argument, the limit)."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import pytest

from ezpipe import DefinitionError, Pipeline, ResultNotAvailableError
from ezpipe.engine import fatal
from ezpipe.names import NAME_MAX_BYTES
from ezpipe.options import RunOptions, steering_environment
from ezpipe.trust import open_to_others, warn_if_open


def test_names_no_file_system_can_hold_are_refused_with_the_limit(folder: Path) -> None:
    pipeline = Pipeline(folder, echo=False)
    work = pipeline.step(lambda x: x)
    for name in ("x" * 10_000, "😀" * 100):
        with pytest.raises(DefinitionError, match=f"at most {NAME_MAX_BYTES} bytes"):
            work.named(name)(1)
    templated = pipeline.step(name="{x}")(lambda x: x)
    with pytest.raises(DefinitionError, match=r"400 bytes in UTF-8 \(100 characters\)"):
        templated("😀" * 100)
    work.named("é" * 127)(1)  # 254 bytes: fits
    assert len(pipeline) == 1
    pipeline.execute()
    assert pipeline.get_result("é" * 127) == 1


def test_depends_on_takes_a_step_or_steps(folder: Path) -> None:
    pipeline = Pipeline(folder, echo=False)
    first = pipeline.step(lambda: 1)()
    pipeline.step(depends_on=first)(lambda: 2)()  # one step: a list of one
    for bad, said in ((5, "got int 5"), ("first", "got str 'first'"), ([first, 3], "got int 3")):
        with pytest.raises(DefinitionError, match=said):
            pipeline.step(depends_on=bad)(lambda: 3)


def test_an_uncalled_step_function_is_named(folder: Path) -> None:
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step
    def load():
        return [1, 2]

    @pipeline.step
    def total(values):
        return sum(values)

    with pytest.raises(
        DefinitionError,
        match=r"argument 'values' of total is the step function load itself: did you mean load",
    ):
        total(load)
    with pytest.raises(DefinitionError, match=r"did you mean load\(\.\.\.\)"):
        total([1, {"nested": load}])
    with pytest.raises(DefinitionError, match=r"did you mean load\(\.\.\.\)"):
        pipeline.step(depends_on=[load])(lambda: 0)
    right = total(load())
    pipeline.execute()
    assert pipeline.get_result(right) == 3


def test_an_unhashable_argument_names_the_step_the_parameter_and_the_way_out(
    folder: Path,
) -> None:
    pipeline = Pipeline(folder, echo=False)

    @pipeline.step
    def use(n, guard):
        return n

    use(1, threading.Lock())
    with pytest.raises(DefinitionError) as info:
        pipeline.execute()
    message = str(info.value)
    assert "argument 'guard' of step 'use'" in message
    assert "cannot pickle '_thread.lock' object" in message
    assert "exclude_from_key=['guard']" in message

    fixed = Pipeline(folder, echo=False)
    step = fixed.step(exclude_from_key=["guard"])(lambda n, guard: n)(2, threading.Lock())
    fixed.execute()
    assert step.get_result() == 2


def test_a_typo_in_a_step_name_suggests_the_right_one(folder: Path) -> None:
    pipeline = Pipeline(folder, echo=False)
    pipeline.step(name="train_model")(lambda: 1)()
    with pytest.raises(ResultNotAvailableError, match="did you mean 'train_model'"):
        pipeline.get_result("trian_model")


def test_lock_timeout_travels_through_the_environment() -> None:
    variables = steering_environment(lock_timeout=2.5)
    assert variables == {"EZPIPE_LOCK_TIMEOUT": "2.5"}
    assert RunOptions().with_environment(variables).lock_timeout == 2.5
    with pytest.raises(DefinitionError, match=">= 0 seconds"):
        RunOptions().with_environment({"EZPIPE_LOCK_TIMEOUT": "-1"})


def test_the_rank_hook_is_only_for_several_ranks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sys.excepthook is sys.__excepthook__  # importing ezpipe here installed nothing
    assert not fatal.launched({})
    assert fatal.launched({"PMI_SIZE": "4", "PMI_RANK": "2"})
    assert not fatal.launched({"PMI_SIZE": "4", "EZPIPE_MPI": "0"})
    assert fatal.rank_and_size({"PMI_SIZE": "4", "PMI_RANK": "2"}) == (2, 4)
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    fatal.install()
    assert sys.excepthook is fatal.hook
    own = lambda *args: None  # noqa: E731
    monkeypatch.setattr(sys, "excepthook", own)
    fatal.install()
    assert sys.excepthook is own  # a process with its own hook keeps it


def test_folders_writable_by_everyone_are_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared, sticky = tmp_path / "shared", tmp_path / "sticky"
    shared.mkdir()
    sticky.mkdir()
    os.chmod(shared, 0o777)
    os.chmod(sticky, 0o1777)
    assert open_to_others(shared / "p") == [shared]
    assert open_to_others(sticky / "p") == []  # like /tmp
    caplog.set_level(logging.WARNING, logger="ezpipe")
    pipeline = Pipeline(shared / "p", echo=False)
    pipeline.step(lambda: 1)()
    pipeline.execute()
    pipeline.get_result("lambda")
    warnings = [r.getMessage() for r in caplog.records if "writable by everyone" in r.getMessage()]
    assert len(warnings) == 1 and str(shared) in warnings[0] and "docs/trust.md" in warnings[0]
    assert not warn_if_open(shared / "p")  # once per folder
    quiet = Pipeline(sticky / "p", echo=False)
    quiet.step(lambda: 1)()
    quiet.execute()
    assert not any(str(sticky) in r.getMessage() for r in caplog.records)
