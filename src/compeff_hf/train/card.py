"""What a trained student carries: `training_info.json` (machine-readable) and a README.md model card."""

from __future__ import annotations

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
    """Write the student's README.md with the project's one model-card builder (``hub.cards``).

    Returns the builder's name, recorded in the stage summary.
    """
    from ..hub.cards import model_card_from_training_info

    try:
        card = model_card_from_training_info(output_dir, info)
    except Exception as err:  # the model is saved already: a card problem must not fail the finished run
        logger.warning("model card not written (%s); `compeff-hf publish` renders it again", err)
        return "none"
    (output_dir / "README.md").write_text(str(card))
    return "hub.cards"


def read_eval_results(output_dir: Path) -> dict[str, Any] | None:
    """A ``compeff-hf eval`` results.json written next to (or into) the model folder, if any."""
    for candidate in (output_dir / "results.json", output_dir / "eval" / "results.json"):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text())
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("scores"), dict):
                return data
    return None
