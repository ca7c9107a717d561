"""`compeff-hf run`: every stage from one recipe."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import StageNotBuiltError


@dataclass
class RunConfig:
    output_dir: str = field(
        default="runs/quickstart", metadata={"help": "Run folder; each stage writes <output_dir>/<stage>."}
    )


def main(config: RunConfig) -> int:
    raise StageNotBuiltError("`compeff-hf run` is not built yet (issue #9); run the stages one by one meanwhile")
