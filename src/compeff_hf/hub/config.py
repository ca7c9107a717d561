"""Recipe fields of `compeff-hf publish`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PublishConfig:
    run_dir: str | None = field(default=None, metadata={"help": "Run folder whose stage outputs to publish."})
    dataset_repo_id: str | None = field(default=None, metadata={"help": "Hub dataset repo for the stage datasets."})
    model_repo_id: str | None = field(default=None, metadata={"help": "Hub model repo for the trained student."})
