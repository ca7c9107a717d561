"""Data-parallel helpers for the filter stage (rank, barrier, object collectives, spawning).

FILTER-LOCAL, MINIMAL: the `train` branch adds a shared rank helper (is_main_process/barrier); the lead will unify
the two. Under `accelerate launch` or `torchrun` the launcher sets RANK/WORLD_SIZE/LOCAL_RANK/MASTER_*; with
``--num_processes N`` `spawn` starts N processes that set them the same way.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def launched_world_size() -> int:
    """Processes started by a launcher (1 when run plainly)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


@dataclass
class Dist:
    """This process's place in the group; with one process every collective is the identity."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.world_size

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as td

            td.barrier()

    def broadcast(self, obj: Any) -> Any:
        """The main process's ``obj`` on every process."""
        if self.world_size == 1:
            return obj
        import torch.distributed as td

        box = [obj]
        td.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any] | None:
        """Every process's ``obj``, in rank order, on the main process (None elsewhere)."""
        if self.world_size == 1:
            return [obj]
        import torch.distributed as td

        out: list[Any] | None = [None] * self.world_size if self.is_main else None
        td.gather_object(obj, out, dst=0)
        return out

    def all_gather(self, obj: Any) -> list[Any]:
        if self.world_size == 1:
            return [obj]
        import torch.distributed as td

        out: list[Any] = [None] * self.world_size
        td.all_gather_object(out, obj)
        return out

    def device(self, requested: str) -> str:
        """One GPU per process: ``auto``/``cuda`` become ``cuda:<local_rank>`` when data-parallel."""
        import torch

        if requested == "auto":
            requested = "cuda" if torch.cuda.is_available() else "cpu"
        if self.world_size > 1 and requested == "cuda":
            return f"cuda:{self.local_rank}"
        return requested


def init() -> Dist:
    """Join the process group the launcher described (gloo on CPU, nccl with GPUs); a plain run gets rank 0 of 1."""
    world_size = launched_world_size()
    if world_size == 1:
        return Dist()
    import torch
    import torch.distributed as td

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not td.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        td.init_process_group(backend=backend)
    return Dist(td.get_rank(), td.get_world_size(), local_rank)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(local_rank: int, fn: Callable[[Any], Any], arg: Any, world_size: int, port: int) -> None:
    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    try:
        fn(arg)
    finally:
        import torch.distributed as td

        if td.is_initialized():
            td.destroy_process_group()


def spawn(fn: Callable[[Any], Any], arg: Any, world_size: int) -> None:
    """Run ``fn(arg)`` in ``world_size`` processes on this machine (one fails: all stop, the error is raised).

    Forked while CUDA is untouched here (children reuse this process's imports: seconds saved per process), spawned
    otherwise (a forked CUDA context is unusable).
    """
    import torch
    import torch.multiprocessing as mp

    method = "spawn" if torch.cuda.is_initialized() else "fork"
    mp.start_processes(_worker, args=(fn, arg, world_size, _free_port()), nprocs=world_size, start_method=method)
