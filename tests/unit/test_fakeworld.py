"""The transport contract over the in-process channels: one rank, and N thread ranks."""

from __future__ import annotations

from pathlib import Path

import pytest
from contract import CONTRACT, whole_run

from ezpipe.engine.comm import LocalComm
from ezpipe.engine.fakeworld import ThreadWorld, WorldError

SIZES = (1, 2, 3, 4, 8)


@pytest.mark.parametrize("check", CONTRACT, ids=lambda f: f.__name__)
def test_the_one_rank_world_keeps_the_contract(check) -> None:
    check(LocalComm())


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("check", CONTRACT, ids=lambda f: f.__name__)
def test_the_thread_world_keeps_the_contract(check, size: int) -> None:
    ThreadWorld(size, timeout=20).run(check)


@pytest.mark.parametrize("size", SIZES)
def test_a_whole_run_over_the_thread_world(size: int, tmp_path: Path) -> None:
    ThreadWorld(size, timeout=60).run(lambda comm: whole_run(comm, tmp_path / "pipe"))


def test_a_rank_that_raises_wakes_the_others_instead_of_hanging() -> None:
    def body(comm):
        if comm.rank == 1:
            raise KeyError("only rank 1")
        comm.bcast(None)  # rank 1 never arrives

    with pytest.raises(KeyError, match="only rank 1"):
        ThreadWorld(3, timeout=20).run(body)


def test_a_missing_message_is_an_error_not_a_hang() -> None:
    world = ThreadWorld(2, timeout=0.2)
    with pytest.raises(WorldError, match="no message from 1"):
        world.run(lambda comm: comm.recv(1, 9) if comm.rank == 0 else None)
