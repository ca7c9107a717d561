"""Recipe fields of `compeff-hf train` and recipes/sft.py."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ScriptArguments:
    dataset_name: str | None = field(default=None, metadata={"help": "Training data: Hub id, local file or folder."})
    model_name_or_path: str = field(default="gemma-3-270m", metadata={"help": "Student model reference."})


def train_config_classes() -> list[type]:
    return [ScriptArguments]
