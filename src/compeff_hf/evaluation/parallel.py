"""Data-parallel evaluation: the rank, the launch of N processes, and the few collectives the eval stage needs.

NOTE for the merge: a minimal rank helper of the eval stage only. The ``train`` branch adds a shared rank module;
the lead unifies the two (this one needs: ``world``, ``init``, ``broadcast``, ``all_gather``, ``spawn``).

A process knows it is one of N from the variables that ``torchrun`` and ``accelerate launch`` set (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); ``spawn`` starts N such processes itself
(``compeff-hf eval --num_processes N``). Objects travel over a gloo group, so this works on CPU and GPU alike.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) when not launched as one of several."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", 0)))


_GROUP: Any = None


def init() -> tuple[int, int]:
    """Join the process group when launched as one of several (a gloo group carries the objects)."""
    global _GROUP
    rank, size = world()
    if size > 1 and _GROUP is None:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="gloo")
        _GROUP = dist.group.WORLD if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
    return rank, size


def broadcast(value: Any) -> Any:
    """The main process's ``value`` on every process."""
    if world()[1] == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, group=_GROUP)
    return box[0]


def all_gather(value: Any) -> list[Any]:
    """Every process's ``value``, in rank order, on every process."""
    size = world()[1]
    if size == 1:
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * size
    dist.all_gather_object(out, value, group=_GROUP)
    return out


def shard(rows: list[Any], rank: int, size: int) -> list[Any]:
    """This process's share of ``rows`` (every size-th row, so long and short rows spread evenly)."""
    return rows[rank::size]


def unshard(parts: list[list[Any]]) -> list[Any]:
    """The inverse of ``shard`` over all ranks: the rows back in their original order."""
    out = []
    for i in range(max((len(p) for p in parts), default=0)):
        out += [p[i] for p in parts if i < len(p)]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(index: int, size: int, port: int, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(
        RANK=str(index),
        LOCAL_RANK=str(index),
        WORLD_SIZE=str(size),
        LOCAL_WORLD_SIZE=str(size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    fn(*args)


def spawn(size: int, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` in ``size`` fresh processes that see themselves as ranks 0..size-1 (as under torchrun)."""
    import torch.multiprocessing as mp

    mp.start_processes(_worker, args=(size, free_port(), fn, args), nprocs=size, start_method="spawn")
