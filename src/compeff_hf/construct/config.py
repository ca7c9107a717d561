"""Recipe fields of `compeff-hf construct`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..configs import StageConfig
from ..llm.config import EndpointArgs


@dataclass
class ConstructConfig(StageConfig, EndpointArgs):
    stage_name: ClassVar[str] = "construct"

    input: str | None = field(default=None, metadata={"help": "User texts: Hub dataset id, local file or folder."})
    text_column: str = field(default="text", metadata={"help": "Column holding the user text."})
