"""Recipe fields that choose how a stage's distilabel Pipeline runs: which LLM, which runner (local or Ray).

Kept apart from :mod:`compeff_hf.llm.pipelines` so that reading a recipe does not import distilabel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

BACKENDS = ("local", "ray")


@dataclass
class PipelineArgs:
    """How the stage's distilabel Pipeline runs (LLM class, runner, batching)."""

    volatile_fields: ClassVar[tuple[str, ...]] = ("pipeline_backend", "ray_address")

    llm_class: str = field(
        default="compeff",
        metadata={
            "help": "LLM of the pipeline's generation steps: 'compeff' (our ledger-backed client: resumable, "
            "retries, failure budget; default) or one of distilabel's LLM classes by name (OpenAILLM, "
            "InferenceEndpointsLLM, vLLM, TransformersLLM, ...) or dotted path (my_pkg.MyLLM). distilabel LLMs still "
            "go through our ledger: answered requests are not sent again, None generations become failed rows."
        },
    )
    llm_kwargs: str | None = field(
        default=None,
        metadata={
            "help": 'JSON object of keyword arguments for `llm_class` (e.g. \'{"base_url": "http://host/v1"}\'). '
            "Defaults: model=`model`, base_url=`endpoint_url`/v1 (OpenAILLM) or `endpoint_url` (others), api_key "
            "from `api_key_env`. Never put a key here: it would be saved with the recipe."
        },
    )
    pipeline_backend: str = field(
        default="local",
        metadata={
            "help": "'local' (distilabel's multiprocessing Pipeline) or 'ray' (pipeline.ray(): RayPipeline, for "
            "several machines; needs `pip install ray`).",
            "choices": list(BACKENDS),
        },
    )
    ray_address: str | None = field(
        default=None,
        metadata={"help": "Ray head node to join (ray://host:10001); empty: start or join a local Ray instance."},
    )

    def check_pipeline_args(self) -> None:
        from ..errors import RecipeError

        if self.pipeline_backend not in BACKENDS:
            raise RecipeError(f"pipeline_backend must be one of {BACKENDS}, got {self.pipeline_backend!r}")
        if getattr(self, "pipeline_batch_size", 1) < 1:
            raise RecipeError(f"pipeline_batch_size must be >= 1, got {self.pipeline_batch_size}")
        self.parsed_llm_kwargs()

    def parsed_llm_kwargs(self) -> dict[str, Any]:
        from ..errors import RecipeError

        if not self.llm_kwargs:
            return {}
        try:
            value = json.loads(self.llm_kwargs)
        except json.JSONDecodeError as err:
            raise RecipeError(f"llm_kwargs must be a JSON object: {err}") from None
        if not isinstance(value, dict):
            raise RecipeError(f"llm_kwargs must be a JSON object, got {type(value).__name__}")
        return value


@dataclass
class StreamingPipelineArgs(PipelineArgs):
    """For a pipeline whose rows stream through in batches (the teacher)."""

    volatile_fields: ClassVar[tuple[str, ...]] = ("pipeline_batch_size",)

    pipeline_batch_size: int = field(
        default=256,
        metadata={"help": "Rows per batch streamed through the pipeline (held in memory at once per step)."},
    )
