"""Per-step persist cost of the store: packed vs the per-step layout vs the floor.

Each step persists a small result (a 100-byte value) and its record, as the
engine does (``store.commit(record, store.dump(value))``). Two floors, measured
in the same run on the same file system: ``floor`` is a bare append of the
same bytes (pickled value + record JSON, prepared beforehand) to one open
file; ``floor+ser`` also pickles the value and serializes the record (what any
store must do per step). Same fsync policy everywhere (``--fsync``: one fsync
per 256 steps and at the end). Then, on the packed folder of the largest size:
the resume decision for every step (``valid_record``, from a fresh Store), the
list of all records (what ``ezpipe status`` reads) and ``folderview.load``.

    python benchmarks/store_bench.py                  # tmpfs and the disk, 1 and 4 writers
    python benchmarks/store_bench.py --sizes 1000,10000 --writers 1
    EZPIPE_BENCH_DIR=/scratch/me python benchmarks/store_bench.py --places disk

The per-step layout is run up to ``--folder-max`` steps (default 10,000):
on this VM's ext4 disk it makes two folders and two files per step.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ezpipe import folderview
from ezpipe.records import Status, StepRecord
from ezpipe.store import Store

GROUP = 256  # steps per fsync, for the floor (the packed writer's default)


def _now() -> None:
    """Nothing to wait for: one writer starts at once."""


def key(i: int) -> str:
    return hashlib.sha256(b"%d" % i).hexdigest()


def record(w: int, i: int) -> StepRecord:
    return StepRecord(
        name=f"step_{w}_{i}",
        key=key(i),
        status=Status.PASSED,
        function="bench.work",
        phase=0,
        rank=w,
        host="bench",
        pid=os.getpid(),
        start=1.0,
        end=2.0,
        duration=1.0,
    )


def value(i: int) -> bytes:
    return (b"%08d" % i) * 12 + b"...."  # 100 bytes


def persist(
    kind: str, folder: str, w: int, count: int, fsync: bool, ready: Callable[[], None] = _now
) -> float:
    """Seconds to persist ``count`` steps in one process, one way. ``ready`` is called
    once everything untimed is prepared (the records: the engine builds these anyway),
    and returns when the timed part may start (all writers at once)."""
    records = [record(w, i) for i in range(count)]
    if kind in ("packed", "folder"):
        store = Store(folder, fsync=fsync, layout=kind)
        store.create()
        ready()
        start = time.perf_counter()
        for i, rec in enumerate(records):
            store.commit(rec, store.dump(value(i)))
        store.flush()
        return time.perf_counter() - start
    os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(folder, f"floor-{w}"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    blobs = None
    if kind == "floor":
        blobs = [Store.dump(value(i)) + r.model_dump_json().encode() for i, r in enumerate(records)]
    ready()
    start = time.perf_counter()
    for i, rec in enumerate(records):
        data = blobs[i] if blobs else Store.dump(value(i)) + rec.model_dump_json().encode()
        os.write(fd, data)
        if fsync and i % GROUP == GROUP - 1:
            os.fsync(fd)
    if fsync:
        os.fsync(fd)
    os.close(fd)
    return time.perf_counter() - start


def _child(kind: str, folder: str, w: int, count: int, fsync: bool, prepared, go, done) -> None:
    def ready() -> None:
        prepared.put(w)
        go.wait()

    persist(kind, folder, w, count, fsync, ready)
    done.put(time.perf_counter())


def run(kind: str, folder: str, steps: int, writers: int, fsync: bool) -> float:
    """Wall seconds for ``steps`` steps spread over ``writers`` processes: from the
    moment all of them are prepared to the end of the last one."""
    if writers == 1:
        return persist(kind, folder, 0, steps, fsync)
    ctx = multiprocessing.get_context("fork")
    prepared, go, done = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=_child, args=(kind, folder, w, steps // writers, fsync, prepared, go, done)
        )
        for w in range(writers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        prepared.get(timeout=300)  # a writer that died preparing: an error, not a hang
    start = time.perf_counter()
    go.set()
    end = max(done.get(timeout=600) for _ in procs)  # CLOCK_MONOTONIC: one clock for all
    for proc in procs:
        proc.join()
    return end - start


def count_files(folder: str) -> int:
    return sum(len(files) + len(dirs) for _, dirs, files in os.walk(folder))


def resume_figures(folder: str, steps: int, writers: int) -> dict[str, float]:
    """Resume decision and list-all times on a finished packed folder (page cache warm)."""
    idents = [(f"step_{w}_{i}", key(i)) for w in range(writers) for i in range(steps // writers)]
    writer = Store(folder)
    writer.backend._ensure()
    writer.backend.index.save(writer.backend.index_path, fsync=False)  # the run's end snapshot
    start, cpu = time.perf_counter(), time.process_time()
    fresh = Store(folder)
    reused = sum(fresh.valid_record(n, k, fresh=False) is not None for n, k in idents)
    resume, resume_cpu = time.perf_counter() - start, time.process_time() - cpu
    assert reused == len(idents), (reused, len(idents))
    start, cpu = time.perf_counter(), time.process_time()
    listed = Store(folder).read_records(idents)
    list_all, list_cpu = time.perf_counter() - start, time.process_time() - cpu
    assert all(r is not None for r in listed)
    schema = {"pipeline": "bench", "phases": {"0": [{"name": n, "key": k} for n, k in idents]}}
    Path(folder, "pipeline.schema").write_text(json.dumps(schema))
    start, cpu = time.perf_counter(), time.process_time()
    view = folderview.load(folder)
    status, status_cpu = time.perf_counter() - start, time.process_time() - cpu
    assert view.counts()[Status.PASSED] == len(idents)
    return {
        "resume_s": resume,
        "list_s": list_all,
        "status_s": status,
        "resume_cpu": resume_cpu,
        "list_cpu": list_cpu,
        "status_cpu": status_cpu,
    }


def threshold(base: str, fsync: bool) -> None:
    """Inline vs separate file, per result size: where a blob file starts to pay."""
    print(f"large-result threshold on {base}: ms per result, inline in the pack vs a blob file")
    for size in (64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20):
        figures = []
        for large in (1 << 40, 0):  # everything inline / everything a blob
            folder = tempfile.mkdtemp(prefix="storebench-large-", dir=base)
            try:
                store = Store(folder, fsync=fsync, layout="packed")
                store.backend.large = large  # type: ignore[attr-defined]
                data = os.urandom(size)
                count = max(4, (64 << 20) // size)
                start = time.perf_counter()
                for i in range(count):
                    store.commit(record(0, i), data)
                store.flush(snapshot=True)
                write = (time.perf_counter() - start) / count * 1e3
                start = time.perf_counter()
                fresh = Store(folder)
                for i in range(count):
                    assert fresh.read_result_bytes(fresh.read_record(f"step_0_{i}", key(i)))
                read = (time.perf_counter() - start) / count * 1e3
                figures.append((write, read))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        (iw, ir), (bw, br) = figures
        print(
            f"  {size >> 10:>6} KiB: write inline {iw:7.3f} blob {bw:7.3f} (blob/inline "
            f"{bw / iw:4.2f}); read inline {ir:7.3f} blob {br:7.3f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--writers", default="1,4")
    parser.add_argument("--places", default="tmpfs,disk")
    parser.add_argument("--folder-max", type=int, default=10_000)
    parser.add_argument("--fsync", action="store_true")
    parser.add_argument("--threshold", action="store_true", help="inline vs blob, then exit")
    args = parser.parse_args()
    places = {
        "tmpfs": "/dev/shm",
        "disk": os.environ.get("EZPIPE_BENCH_DIR")
        or str(Path(__file__).resolve().parents[1] / "tmp-bench"),
    }
    if args.threshold:
        for place in args.places.split(","):
            os.makedirs(places[place], exist_ok=True)
            threshold(places[place], args.fsync)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"store_bench: fsync={'grouped' if args.fsync else 'off'}; ms per persisted step")
    header = (
        f"{'place':6} {'steps':>7} {'wr':>2} {'packed':>8} {'folder':>8} {'floor':>8} "
        f"{'flr+ser':>8} {'pk/flr':>7} {'pk/f+s':>7} {'fo/pk':>6} {'files pk':>8} {'files fo':>8}"
    )
    print(header)
    for place in args.places.split(","):
        base = places[place]
        os.makedirs(base, exist_ok=True)
        figures: dict[str, float] | None = None  # resume and status, once per place
        for steps in sizes:
            for writers in (int(w) for w in args.writers.split(",")):
                row: dict[str, float] = {}
                files: dict[str, int] = {}
                kinds = ["floor", "floor+ser", "packed"]
                if steps <= args.folder_max:
                    kinds.append("folder")
                for kind in kinds:
                    folder = tempfile.mkdtemp(prefix=f"storebench-{kind}-", dir=base)
                    try:
                        row[kind] = run(kind, folder, steps, writers, args.fsync) / steps * 1e3
                        files[kind] = count_files(folder)
                        if kind == "packed" and steps == max(sizes) and figures is None:
                            figures = resume_figures(folder, steps, writers)
                    finally:
                        shutil.rmtree(folder, ignore_errors=True)
                fo = row.get("folder")
                print(
                    f"{place:6} {steps:>7} {writers:>2} {row['packed']:8.4f} "
                    f"{fo if fo is not None else float('nan'):8.4f} {row['floor']:8.4f} "
                    f"{row['floor+ser']:8.4f} {row['packed'] / row['floor']:7.2f} "
                    f"{row['packed'] / row['floor+ser']:7.2f} "
                    f"{(fo or float('nan')) / row['packed']:6.1f} {files['packed']:>8} "
                    f"{files.get('folder', -1):>8}",
                    flush=True,
                )
        assert figures is not None
        print(
            f"{place}: at {max(sizes)} steps (packed), wall (cpu) s: resume decision "
            f"{figures['resume_s']:.2f} ({figures['resume_cpu']:.2f}), list all records "
            f"{figures['list_s']:.2f} ({figures['list_cpu']:.2f}), folderview.load of every "
            f"record (status --all) {figures['status_s']:.2f} ({figures['status_cpu']:.2f}); "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
