"""The fault-injection suite: fast cases run in ``make test``; ``make chaos`` runs all.

Cases marked ``chaos_full`` (many kills, every rank count, every launch path)
are deselected unless ``CHAOS_FULL=1`` is set, which ``make chaos`` does; the
rest are the fast subset that the serial leg of ``make test`` runs.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos_full: the long fault-injection cases (make chaos)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CHAOS_FULL") == "1":
        return
    keep = [item for item in items if item.get_closest_marker("chaos_full") is None]
    dropped = [item for item in items if item.get_closest_marker("chaos_full") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


class TinyDisk:
    """A real, tiny file system (tmpfs) that tests fill up and then enlarge."""

    def __init__(self, path: Path, size_kb: int) -> None:
        self.path = path
        self.size_kb = size_kb

    def resize(self, size_kb: int) -> None:
        """Free space the way a user would get it: the same files, a bigger disk."""
        subprocess.run(
            ["mount", "-o", f"remount,size={size_kb}k", str(self.path)], check=True, timeout=30
        )
        self.size_kb = size_kb

    def fill(self) -> Path:
        """Take every free byte (returns the file, whose removal frees them again)."""
        filler = self.path / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(fd, b"\0" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(fd)
        return filler


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[TinyDisk]:
    """A 256 KiB tmpfs (the suite runs as root, as CI does); unmounted afterwards."""
    path = tmp_path / "tiny"
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, f"cannot mount a tmpfs (run as root): {done.stderr}"
    try:
        yield TinyDisk(path, 256)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


@pytest.fixture(autouse=True)
def per_step_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """These cases damage, count and read the per-step files by name (result.pkl,
    record.json), so their folders use that layout; the packed layout's own kills,
    torn tails and damaged frames are tested in tests/unit/test_pack.py."""
    monkeypatch.setenv("EZPIPE_STORE_LAYOUT", "folder")
