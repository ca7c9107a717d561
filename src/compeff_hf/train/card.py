"""What a trained student carries: `training_info.json` (machine-readable) and a README.md model card."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from ..log import get_logger

logger = get_logger(__name__)

HYPERPARAMETERS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "max_grad_norm",
    "max_length",
    "packing",
    "packing_strategy",
    "assistant_only_loss",
    "bf16",
    "gradient_checkpointing",
    "use_liger_kernel",
    "seed",
)


def write_card(output_dir: Path, info: dict[str, Any]) -> str:
    """Write README.md; use the publish stage's card builder when it exists, else a card of our own.

    Returns which builder wrote it ("hub.cards" or "train.card").
    """
    try:
        from ..hub.cards import build_model_card  # written by the publish stage; optional here
    except ImportError:
        build_model_card = None
    if build_model_card is not None:
        try:
            card = _call_hub_builder(build_model_card, info, output_dir)
            if card is not None:
                text = card if isinstance(card, str) else str(card)
                (output_dir / "README.md").write_text(text)
                return "hub.cards"
        except Exception as err:  # a card must never fail a finished training run
            logger.warning("hub.cards.build_model_card failed (%s); writing the built-in card instead", err)
    (output_dir / "README.md").write_text(own_card(info))
    return "train.card"


def _call_hub_builder(builder: Any, info: dict[str, Any], output_dir: Path) -> Any:
    """Map training_info onto `compeff_hf.hub.cards.build_model_card(model_dir, *, base_model, datasets, ...)`."""
    params = inspect.signature(builder).parameters
    training_keys = (
        "train_tokens",
        "loss_tokens",
        "train_runtime_s",
        "tokens_per_second",
        "global_steps",
        "epochs",
        "first_loss",
        "final_loss",
        "global_batch_size",
        "device",
        "end_of_turn_token",
        "data_stats",
        "distillation",
        "peft",
    )
    datasets = info.get("datasets") or []
    kwargs = {
        "base_model": info.get("base_model"),
        "datasets": [d["name"] for d in datasets if d.get("name")],
        "teacher": info.get("teacher"),
        "hyperparameters": info.get("hyperparameters"),
        "training": {k: info.get(k) for k in training_keys if info.get(k) is not None}
        | {f"filter.{k}": v for d in datasets for k, v in (d.get("filter") or {}).items()},
        "reproduce": info.get("reproduce_command"),
        "eval_results": info.get("eval_results"),
    }
    return builder(output_dir, **{k: v for k, v in kwargs.items() if k in params})


def own_card(info: dict[str, Any]) -> str:
    """A model card built with huggingface_hub's ModelCard (YAML metadata + markdown body)."""
    from huggingface_hub import ModelCard, ModelCardData

    datasets = [d["name"] for d in info.get("datasets", []) if _is_hub_id(d.get("name"))]
    data = ModelCardData(
        base_model=info["base_model"] if _is_hub_id(info.get("base_model")) else None,
        datasets=datasets or None,
        library_name="transformers" if not info.get("peft") else "peft",
        pipeline_tag="text-generation",
        tags=["compeff-hf", "distillation", "sentiment-analysis", "trl", "sft"],
        license=None,
    )
    hp = info.get("hyperparameters", {})
    rows = "\n".join(f"| {k} | {v} |" for k, v in hp.items())
    ds_lines = []
    for d in info.get("datasets", []):
        line = f"- `{d['name']}` ({d.get('rows', '?')} rows used"
        if d.get("filter"):
            line += ", filter: " + ", ".join(f"{k}={v}" for k, v in d["filter"].items())
        ds_lines.append(line + ")")
    stats = info.get("data_stats", {})
    results = info.get("eval_results")
    body = f"""
# {info.get("model_name", "compeff-hf student")}

A sentiment-analysis student distilled with [compeff-hf](https://github.com/HITSZ-HLT/COMPEFFDIST) (CompEffDist,
EMNLP 2025): supervised fine-tuning on teacher responses, loss on the response and its end-of-turn token only.

- **Base model (student):** `{info.get("base_model")}`
- **Teacher:** `{info.get("teacher") or "unknown"}`
- **Objective:** {info.get("distillation", "sft")}{" (LoRA adapter)" if info.get("peft") else " (full fine-tune)"}

## Training data
{chr(10).join(ds_lines) or "- (unknown)"}

Rows dropped because the prompt alone filled `max_length`: {stats.get("dropped_prompt_too_long", 0)};
dropped as overlong: {stats.get("dropped_overlong", 0)}; responses cut at `max_length`: {stats.get("truncated_response", 0)}.

## Training
| hyper-parameter | value |
| --- | --- |
{rows}

- Training tokens (real, non-padding, all epochs): {info.get("train_tokens")}; of which trained on (response + end-of-turn): {info.get("loss_tokens")}
- Wall time: {info.get("train_runtime_s")} s ({info.get("tokens_per_second")} tokens/s) on {info.get("device")}
- Loss: first {info.get("first_loss")} -> final {info.get("final_loss")}

## Evaluation
{_results_table(results) if results else "No evaluation yet: run `compeff-hf eval --model <this folder>`."}

## Reproduce
```bash
{info.get("reproduce_command")}
```
"""
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n{body}"))


def _results_table(results: dict[str, Any]) -> str:
    lines = ["| task | score |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in results.items()]
    return "\n".join(lines)


def _is_hub_id(ref: Any) -> bool:
    return isinstance(ref, str) and ref.count("/") == 1 and not Path(ref).exists() and not ref.startswith((".", "/"))


def read_eval_results(output_dir: Path) -> dict[str, Any] | None:
    """Scores from a results.json the eval stage may have written next to (or into) the model folder."""
    for candidate in (output_dir / "results.json", output_dir / "eval" / "results.json"):
        if candidate.exists():
            try:
                data = json.loads(candidate.read_text())
            except ValueError:
                continue
            scores = data.get("scores", data) if isinstance(data, dict) else None
            if isinstance(scores, dict):
                return {k: v for k, v in scores.items() if isinstance(v, (int, float))}
    return None
