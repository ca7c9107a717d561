"""Endpoint settings shared by every stage that calls an LLM (construct's generator, the teacher)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


@dataclass
class EndpointArgs:
    """Where and how to send chat requests. Leave endpoint_url empty to start the embedded server on `model`."""

    volatile_fields: ClassVar[tuple[str, ...]] = (
        "endpoint_url", "api_key_env", "max_concurrency", "request_timeout_s", "max_retries", "max_failure_rate",
        "retry_backoff_s", "server_startup_timeout_s",
    )  # fmt: skip

    endpoint_url: str | None = field(
        default=None,
        metadata={
            "help": "Base URL of a TGI / vLLM / SGLang / Inference Endpoint (OpenAI-compatible Messages API); "
            "several replicas: URLs separated by commas (requests go to the one with the fewest in flight). "
            "Empty: serve `model` locally with the embedded engine."
        },
    )
    model: str = field(
        default="gemma-3-270m",
        metadata={
            "help": "Model name sent to the endpoint, or the model the embedded engine serves "
            "(Hub id, local folder, or gemma-3-270m)."
        },
    )
    api_key_env: str = field(
        default="HF_TOKEN",
        metadata={"help": "Environment variable holding the endpoint's API token (never logged or saved)."},
    )
    max_new_tokens: int = field(default=512, metadata={"help": "Completion budget per request."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (0 = greedy)."})
    top_p: float | None = field(default=None, metadata={"help": "Nucleus sampling; empty = server default."})
    stop: list[str] | None = field(default=None, metadata={"help": "Extra stop strings."})
    enable_thinking: bool | None = field(
        default=None,
        metadata={
            "help": "Thinking models (Qwen3): false turns thinking off, sent as chat_template_kwargs "
            "(vLLM, SGLang, the embedded server). Empty: the chat template's default. <think> blocks are always "
            "removed from answers."
        },
    )
    max_concurrency: int = field(
        default=8, metadata={"help": "Requests in flight at once, over all endpoint replicas together."}
    )
    request_timeout_s: float = field(default=120.0, metadata={"help": "Per-request timeout."})
    max_retries: int = field(default=5, metadata={"help": "Retries per request (backoff, honours Retry-After)."})
    max_failure_rate: float = field(
        default=0.2,
        metadata={"help": "Stop the run when more than this fraction of finished requests failed (after 20)."},
    )
    retry_backoff_s: float = field(
        default=1.0,
        metadata={"help": "First retry waits about this long, doubling per attempt (a Retry-After header wins)."},
    )
    server_startup_timeout_s: float = field(
        default=600.0, metadata={"help": "How long to wait for the embedded server to load its model."}
    )
