"""Recipe fields of `compeff-hf filter`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..configs import StageConfig


@dataclass
class FilterConfig(StageConfig):
    stage_name: ClassVar[str] = "filter"

    input: str | None = field(default=None, metadata={"help": "(messages, output) dataset from the teacher stage."})
    scorer_model: str = field(
        default="gemma-3-270m", metadata={"help": "Model that scores difficulty (the student or a proxy)."}
    )
    keep_ratio: float = field(default=0.1, metadata={"help": "Fraction of rows to keep."})
