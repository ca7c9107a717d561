"""Which process am I, and how do processes agree: one small place for the rank logic of every stage.

Works the same under ``accelerate launch``, ``torchrun`` and plain ``python`` (one process, where everything here is
a no-op). Rank and world size come from torch.distributed once it is initialised, else from the launcher's
environment (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, or the MPI names accelerate also reads), so a stage can ask
"am I the main process?" before any process group exists. Collective calls (``barrier``, ``broadcast_object``,
``gather_object``) start the process group through accelerate's ``PartialState`` when needed, which is the same
group the Trainer uses later (gloo on CPU, nccl on GPUs, DeepSpeed's when launched with a DeepSpeed config).

Usage, data-parallel scoring with results in the original order::

    from compeff_hf import distributed as dist

    mine = dist.shard(len(rows))                         # this rank's contiguous block of row indices
    scores = [score(rows[i]) for i in mine]
    everything = dist.gather_list(scores)                # all ranks' blocks, concatenated in rank order
    if dist.is_main_process():
        write(everything)
    dist.barrier()
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_RANK_ENV = ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
_SIZE_ENV = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_LOCAL_RANK_ENV = ("LOCAL_RANK", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_RANK")


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one launch."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.size > 1


def _env_int(names: tuple[str, ...], default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)
    return default


def _initialised() -> bool:
    # Only ask torch when it is already imported: a CLI that never touches torch must not pay for importing it.
    if "torch.distributed" not in sys.modules:
        return False
    import torch.distributed as tdist

    return tdist.is_available() and tdist.is_initialized()


def world() -> World:
    """Rank, local rank and world size of this process (``World()`` when not launched distributed)."""
    local = _env_int(_LOCAL_RANK_ENV, 0)
    if _initialised():
        import torch.distributed as tdist

        return World(rank=tdist.get_rank(), local_rank=local, size=tdist.get_world_size())
    return World(rank=_env_int(_RANK_ENV, 0), local_rank=local, size=_env_int(_SIZE_ENV, 1))


def is_main_process() -> bool:
    """True on the process that owns shared files (rank 0), and always in a single-process run."""
    return world().is_main


def is_distributed() -> bool:
    return world().is_distributed


def init() -> None:
    """Start the process group of a distributed launch (no-op for one process or when already started)."""
    if not is_distributed() or _initialised():
        return
    import torch
    from accelerate import PartialState

    # cpu=True picks gloo; otherwise accelerate picks the accelerator's backend (nccl on CUDA).
    PartialState(cpu=not torch.cuda.is_available())


def barrier() -> None:
    """Wait until every process of the launch gets here (no-op for one process)."""
    if not is_distributed():
        return
    init()
    import torch.distributed as tdist

    tdist.barrier()


def broadcast_object(obj: Any = None, src: int = 0) -> Any:
    """``obj`` as given on rank ``src``, returned on every rank (picklable objects only)."""
    if not is_distributed():
        return obj
    init()
    import torch.distributed as tdist

    box = [obj]
    tdist.broadcast_object_list(box, src=src)
    return box[0]


def gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, returned on every rank (``[obj]`` for one process)."""
    if not is_distributed():
        return [obj]
    init()
    import torch.distributed as tdist

    out: list[Any] = [None] * world().size
    tdist.all_gather_object(out, obj)
    return out


def gather_list(items: list[T]) -> list[T]:
    """Concatenate every rank's list in rank order: with ``shard`` this restores the original row order."""
    return [item for part in gather_object(list(items)) for item in part]


def shard(n: int, w: World | None = None) -> range:
    """This rank's contiguous block of ``range(n)``; blocks differ in size by at most one and cover every index."""
    w = w or world()
    base, extra = divmod(n, w.size)
    start = w.rank * base + min(w.rank, extra)
    return range(start, start + base + (1 if w.rank < extra else 0))


def shutdown() -> None:
    """End a distributed launch cleanly: wait for every rank, then close the process group (no-op otherwise).

    A rank that exits while another still talks to it can abort inside gloo ("terminate called without an active
    exception"), which the launcher reports as a failed run.
    """
    if not _initialised():
        return
    import torch.distributed as tdist

    tdist.barrier()
    tdist.destroy_process_group()


def device() -> str:
    """The device this rank should compute on: its own GPU under a multi-GPU launch, else cuda/cpu."""
    import torch

    if torch.cuda.is_available():
        return f"cuda:{world().local_rank}" if is_distributed() else "cuda"
    return "cpu"


_ON_MAIN = False  # True while the main process runs an on_main function


def on_main(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on the main process only and return its result on every rank.

    An exception on the main process is re-raised on every rank (same type when it can be rebuilt from its
    message), so no rank waits forever at a barrier for a main process that already failed.
    """
    global _ON_MAIN
    if not is_distributed() or _ON_MAIN:
        # Nested (e.g. StageDir.finish inside a stage's main-only step): the other ranks wait on the outer call.
        return fn(*args, **kwargs)
    outcome: tuple[str, Any]
    if is_main_process():
        _ON_MAIN = True
        try:
            outcome = ("ok", fn(*args, **kwargs))
        except BaseException as err:
            _ON_MAIN = False
            broadcast_object(("error", (type(err), str(err))))
            raise
        _ON_MAIN = False
        broadcast_object(outcome)
        return outcome[1]
    kind, value = broadcast_object(None)
    if kind == "ok":
        return value
    err_type, message = value
    try:
        error = err_type(message)
    except Exception:  # an exception class that cannot be built from one string
        error = RuntimeError(f"the main process failed: {err_type.__name__}: {message}")
    raise error


@contextmanager
def main_process_first() -> Iterator[None]:
    """Let the main process run the block first (e.g. a download or cache build), then the others."""
    if not is_main_process():
        barrier()
    try:
        yield
    finally:
        if is_main_process():
            barrier()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(index: int, nprocs: int, port: int, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(
        RANK=str(index),
        LOCAL_RANK=str(index),
        WORLD_SIZE=str(nprocs),
        LOCAL_WORLD_SIZE=str(nprocs),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    fn(*args)
    shutdown()  # every rank waits for the others before closing: a rank leaving early aborts inside gloo


def spawn(nprocs: int, fn: Callable[..., Any], *args: Any, start_method: str = "spawn") -> None:
    """Run ``fn(*args)`` in ``nprocs`` processes on this machine that see themselves as ranks 0..nprocs-1, as under
    torchrun (a stage's ``--num_processes N``). One failing stops them all and its error is raised here."""
    import torch.multiprocessing as mp

    mp.start_processes(_worker, args=(nprocs, free_port(), fn, args), nprocs=nprocs, start_method=start_method)
