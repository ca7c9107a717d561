"""`compeff-hf serve`: the embedded TGI-compatible server."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import StageNotBuiltError


@dataclass
class ServeConfig:
    model: str = field(default="gemma-3-270m", metadata={"help": "Model to serve."})
    port: int = field(default=0, metadata={"help": "Port on 127.0.0.1 (0 = a free port)."})


def main(config: ServeConfig) -> int:
    raise StageNotBuiltError("`compeff-hf serve` is not built yet (issue #3)")
