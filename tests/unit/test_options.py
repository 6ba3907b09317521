"""The options object and the one reader of EZPIPE_* variables."""

from __future__ import annotations

import pytest

from ezpipe import DefinitionError, Mode
from ezpipe.options import ENV, RunOptions, env, steering_environment


def test_every_variable_ezpipe_reads_is_declared():
    """No module reads an EZPIPE_* variable behind the table's back."""
    import pathlib
    import re

    package = pathlib.Path(__file__).resolve().parents[2] / "ezpipe"
    used = set()
    for path in package.rglob("*.py"):
        used |= set(re.findall(r"[\"'](EZPIPE_[A-Z_]+)[\"']", path.read_text()))
    assert used <= set(ENV), sorted(used - set(ENV))
    readers = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if re.search(r"environ(\.get)?\(?\[?[\"']EZPIPE_", p.read_text())
    ]
    assert readers == [], readers


def test_one_idea_of_true_and_a_clear_error_for_the_rest():
    for word in ("1", "true", "YES", "on"):
        assert env("EZPIPE_DRY_RUN", {"EZPIPE_DRY_RUN": word}) is True
    for word in ("0", "false", "No", "off"):
        assert env("EZPIPE_TEE_OUTPUT", {"EZPIPE_TEE_OUTPUT": word}) is False
    assert env("EZPIPE_DRY_RUN", {}) is None
    with pytest.raises(DefinitionError, match="EZPIPE_DRY_RUN='maybe'"):
        env("EZPIPE_DRY_RUN", {"EZPIPE_DRY_RUN": "maybe"})
    with pytest.raises(DefinitionError, match="EZPIPE_MAX_CONCURRENT"):
        env("EZPIPE_MAX_CONCURRENT", {"EZPIPE_MAX_CONCURRENT": "four"})
    assert env("EZPIPE_PROGRESS", {"EZPIPE_PROGRESS": "0"}) == "off"
    assert env("EZPIPE_RUN_ONLY", {"EZPIPE_RUN_ONLY": '["a", "b"]'}) == ["a", "b"]
    assert env("EZPIPE_RUN_ONLY", {"EZPIPE_RUN_ONLY": "^b"}) == ["^b"]


def test_options_are_validated_once_when_given():
    with pytest.raises(DefinitionError, match="scheduling policy"):
        RunOptions(policy="fastest")
    with pytest.raises(DefinitionError, match="at least 1"):
        RunOptions(max_concurrent=0)
    with pytest.raises(DefinitionError, match="lock_timeout"):
        RunOptions(lock_timeout=-1)
    with pytest.raises(ValueError, match="unknown cache mode"):
        RunOptions(mode="sometimes")  # type: ignore[arg-type]
    assert RunOptions(run_only="^a").run_only == ("^a",)


def test_the_environment_overrides_the_call():
    variables = steering_environment(
        dry_run=True, run_only=["x", "y"], from_step=["s"], max_concurrent=3, mode="retry"
    )
    call = RunOptions().replace(run_only="other", max_concurrent=7, mode=Mode.CACHED)
    resolved = call.with_environment(variables)
    assert resolved.dry_run and resolved.mode == Mode.RETRY
    assert resolved.run_only == ("x", "y") and resolved.from_step == ("s",)
    assert resolved.max_concurrent == 3
    with pytest.raises(DefinitionError, match="at least 1"):
        call.with_environment({"EZPIPE_MAX_CONCURRENT": "0"})


def test_the_call_stands_without_environment():
    options = RunOptions().replace(run_only="^b", from_step="a", max_concurrent=2, mode="force")
    assert options.with_environment({}) == options
    assert options.steering() == {
        "run_only": ["^b"],
        "from_step": ["a"],
        "max_concurrent": 2,
        "mode": "force",
    }
