"""How the eval stage shares its rows between processes: every N-th row, so long and short rows spread evenly.

The process group, collectives and ``--num_processes`` launches are :mod:`compeff_hf.distributed`'s.
"""

from __future__ import annotations

from typing import Any


def shard(rows: list[Any], rank: int, size: int) -> list[Any]:
    """This process's share of ``rows`` (every size-th row, so long and short rows spread evenly)."""
    return rows[rank::size]


def unshard(parts: list[list[Any]]) -> list[Any]:
    """The inverse of ``shard`` over all ranks: the rows back in their original order."""
    out = []
    for i in range(max((len(p) for p in parts), default=0)):
        out += [p[i] for p in parts if i < len(p)]
    return out
