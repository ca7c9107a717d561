"""Recipe fields of `compeff-hf eval`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..configs import StageConfig


@dataclass
class EvalConfig(StageConfig):
    stage_name: ClassVar[str] = "eval"

    model: str = field(default="gemma-3-270m", metadata={"help": "Model to evaluate."})
    data_dir: str | None = field(default=None, metadata={"help": "SentiBench folder in the published layout."})
    limit: int | None = field(default=None, metadata={"help": "Test items per dataset (quick runs)."})
