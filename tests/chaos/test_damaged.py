"""Damaged cache entries are never trusted: each is recomputed once, with a warning naming it."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

from helpers import SCRIPTS, run_script


def result_of(folder: Path, name: str) -> Path:
    return next(folder.glob(f"steps/{name}/*/result.pkl"))


def record_of(folder: Path, name: str) -> Path:
    return next(folder.glob(f"steps/{name}/*/record.json"))


def edit_record(path: Path, **changes: object) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# step name -> how it is damaged (each step of chain.py's eight loads and scales once)
DAMAGE: dict[str, Callable[[Path], None]] = {
    "load0": lambda f: result_of(f, "load0").write_bytes(result_of(f, "load0").read_bytes()[:-2]),
    "load1": lambda f: flip_a_byte(result_of(f, "load1")),
    "load2": lambda f: result_of(f, "load2").unlink(),
    "load3": lambda f: record_of(f, "load3").write_text(record_of(f, "load3").read_text()[:30]),
    "load4": lambda f: edit_record(record_of(f, "load4"), checksum="0" * 64),
    "load5": lambda f: edit_record(record_of(f, "load5"), checksum=None),
    "load6": lambda f: record_of(f, "load6").write_bytes(b""),
    "load7": lambda f: record_of(f, "load7").write_bytes(b"\x00\xff garbage \x80"),
    "scale0": lambda f: result_of(f, "scale0").write_bytes(pickle.dumps(999)),  # another value
    "scale1": lambda f: record_of(f, "scale1").unlink(),  # a result without its record
    "scale2": lambda f: result_of(f, "scale2").write_bytes(b""),
    "scale3": lambda f: edit_record(record_of(f, "scale3"), key="f" * 64),  # another entry's
    "scale4": lambda f: edit_record(record_of(f, "scale4"), status=7),  # no such status
    "scale5": lambda f: record_of(f, "scale5").write_text(record_of(f, "scale6").read_text()),
}
UNTOUCHED = {"scale7", "total"}


def test_damaged_entries_are_never_trusted(tmp_path: Path) -> None:
    folder, counts = tmp_path / "p", tmp_path / "counts"
    counts.mkdir()
    first = run_script(SCRIPTS / "chain.py", str(folder), str(counts))
    assert first.returncode == 0 and "RESULT 56" in first.stdout, first.stderr
    for damage in DAMAGE.values():
        damage(folder)
    (next(folder.glob("steps/scale7/*")) / ".result.pkl.host.1.deadbeef.tmp").write_bytes(b"x")
    again = run_script(SCRIPTS / "chain.py", str(folder), str(counts))
    assert again.returncode == 0, again.stderr
    assert "RESULT 56" in again.stdout
    ran = {p.name: len(p.read_text().splitlines()) for p in counts.iterdir()}
    recomputed = {name for name, n in ran.items() if n == 2}
    assert recomputed == set(DAMAGE), recomputed ^ set(DAMAGE)
    assert all(ran[name] == 1 for name in UNTOUCHED)
    assert f"cannot read result file {result_of(folder, 'load2').parent}" in again.stderr
    for name in ("load0", "load1", "load4", "scale0", "scale2"):
        assert f"{result_of(folder, name)} does not match its checksum" in again.stderr
    for name in ("load3", "load6", "load7", "scale4"):
        assert f"ignoring unreadable step record {record_of(folder, name)}" in again.stderr
    assert f"ignoring step record {record_of(folder, 'scale3')}" in again.stderr
    assert f"ignoring step record {record_of(folder, 'scale5')}" in again.stderr
    third = run_script(SCRIPTS / "chain.py", str(folder), str(counts))
    assert third.returncode == 0 and "RESULT 56" in third.stdout
    assert {p.name: len(p.read_text().splitlines()) for p in counts.iterdir()} == ran
