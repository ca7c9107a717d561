"""Stage 2: the teacher answers every instruction through an endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .configs import StageConfig
from .errors import StageNotBuiltError
from .llm.config import EndpointArgs


@dataclass
class TeacherConfig(StageConfig, EndpointArgs):
    stage_name: ClassVar[str] = "teacher"

    input: str | None = field(default=None, metadata={"help": "Instructions dataset with a `messages` column."})


def main(config: TeacherConfig) -> int:
    raise StageNotBuiltError("the teacher stage is not built yet (issue #3)")
