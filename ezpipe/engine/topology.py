"""Which node each rank is on, and what each node has: cores, GPUs, memory.

Ranks find their node with a shared-memory split of the world
(``MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)``: the ranks that can share
memory are on one node), and learn their node-local rank from it. GPUs per
node come from ``EZPIPE_NODE_GPUS`` (ids or a count), else
``CUDA_VISIBLE_DEVICES``, else Slurm's ``SLURM_STEP_GPUS`` / ``SLURM_JOB_GPUS``
(ids) or ``SLURM_GPUS_ON_NODE`` (a count), so placement is tested without
GPUs. ``EZPIPE_PRETEND_NODES=n`` splits every real node's ranks into ``n``
pretend nodes (contiguous blocks, each with the node's full resources), so
multi-node placement is tested on one machine.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..options import env, parse_memory
from .comm import Comm
from .placement import Node


@dataclass(frozen=True)
class RankInfo:
    """What one rank says about itself at the start of a run."""

    rank: int
    host: str
    node: int  # the lowest world rank on its shared-memory node
    cores: tuple[int, ...]
    gpus: tuple[int, ...]
    memory: int | None


def node_gpus(environ: Mapping[str, str] = os.environ) -> tuple[int, ...]:
    """The GPU ids of this node, from a setting or the environment Slurm and CUDA set."""
    for var in ("EZPIPE_NODE_GPUS", "CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        raw = environ.get(var, "").strip()
        if not raw:
            continue
        if var == "EZPIPE_NODE_GPUS" and raw.isdigit():
            return tuple(range(int(raw)))
        ids = [p.strip() for p in raw.split(",") if p.strip()]
        if all(p.isdigit() for p in ids):
            return tuple(int(p) for p in ids)
        return tuple(range(len(ids)))  # UUIDs: count them
    count = environ.get("SLURM_GPUS_ON_NODE", "").strip()
    return tuple(range(int(count))) if count.isdigit() else ()


def node_memory() -> int | None:
    setting = env("EZPIPE_NODE_MEMORY")
    if setting:
        return parse_memory(setting)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def node_cores() -> tuple[int, ...]:
    count = env("EZPIPE_NODE_CORES")
    if count:
        return tuple(range(count))
    if hasattr(os, "sched_getaffinity"):
        return tuple(sorted(os.sched_getaffinity(0)))
    return tuple(range(os.cpu_count() or 1))


def _shared_node(comm: Comm) -> int:
    """The lowest world rank of this rank's shared-memory node."""
    raw: Any = getattr(comm, "comm", None)
    if raw is None:
        return 0
    from mpi4py import MPI

    shared = raw.Split_type(MPI.COMM_TYPE_SHARED, key=comm.rank)
    try:
        return int(shared.allreduce(comm.rank, op=MPI.MIN))
    finally:
        shared.Free()


def gather(comm: Comm) -> list[RankInfo]:
    """Every rank's :class:`RankInfo` (a collective)."""
    mine = RankInfo(
        comm.rank,
        socket.gethostname(),
        _shared_node(comm),
        node_cores(),
        node_gpus(),
        node_memory(),
    )
    return comm.allgather(mine)


def nodes_of(
    infos: Sequence[RankInfo], workers: Sequence[int], pretend: int | None = None
) -> list[Node]:
    """The nodes of the worker ranks, pretend nodes split out when asked."""
    chosen = set(workers)
    by_node: dict[int, list[RankInfo]] = {}
    for info in infos:
        if info.rank in chosen:
            by_node.setdefault(info.node, []).append(info)
    nodes: list[Node] = []
    for node in sorted(by_node):
        members = sorted(by_node[node], key=lambda i: i.rank)
        parts = max(1, min(pretend or 1, len(members)))
        for p in range(parts):
            block = members[p * len(members) // parts : (p + 1) * len(members) // parts]
            cores = sorted({c for info in block for c in info.cores})
            first = block[0]
            nodes.append(Node([i.rank for i in block], cores, list(first.gpus), first.memory))
    return nodes


def local_rank(infos: Sequence[RankInfo], rank: int) -> int:
    """This rank's position among the ranks of its node."""
    node = infos[rank].node
    return [i.rank for i in infos if i.node == node].index(rank)
