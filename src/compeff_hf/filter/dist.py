"""The filter stage's view of a data-parallel launch: its rank, its share of the batches, and the gathers.

Processes, the group and the collectives are :mod:`compeff_hf.distributed`'s; ``--num_processes N`` starts N
fresh processes through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import distributed


def launched_world_size() -> int:
    """Processes started by a launcher (1 when run plainly)."""
    return distributed.world().size


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
        distributed.barrier()

    def broadcast(self, obj: Any) -> Any:
        """The main process's ``obj`` on every process."""
        return distributed.broadcast_object(obj)

    def gather(self, obj: Any) -> list[Any] | None:
        """Every process's ``obj``, in rank order, on the main process (None elsewhere)."""
        parts = distributed.gather_object(obj)
        return parts if self.is_main else None

    def all_gather(self, obj: Any) -> list[Any]:
        return distributed.gather_object(obj)

    def device(self, requested: str) -> str:
        """One GPU per process: ``auto``/``cuda`` become ``cuda:<local_rank>`` when data-parallel."""
        import torch

        if requested == "auto":
            requested = "cuda" if torch.cuda.is_available() else "cpu"
        if self.world_size > 1 and requested == "cuda":
            return f"cuda:{self.local_rank}"
        return requested


def init() -> Dist:
    """Join the process group the launcher described; a plain run gets rank 0 of 1."""
    distributed.init()
    w = distributed.world()
    return Dist(w.rank, w.size, w.local_rank)


def spawn(fn: Callable[[Any], Any], arg: Any, world_size: int) -> None:
    """Run ``fn(arg)`` in ``world_size`` processes on this machine (one fails: all stop, the error is raised)."""
    # Fresh processes: a fork inherits the parent's torch thread pools (and any CUDA context) and can deadlock.
    distributed.spawn(world_size, fn, arg)
