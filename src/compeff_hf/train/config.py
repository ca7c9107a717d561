"""Recipe fields of `compeff-hf train` and `recipes/sft.py`: ScriptArguments + TRL's ModelConfig + TrainConfig.

The three dataclasses follow the shape of TRL's and alignment-handbook's scripts, so a recipe written for
`trl sft` reads the same here. TrainConfig is TRL's SFTConfig with the official training script's defaults (method.md
section 4) and with the correct-supervision settings switched on: loss on the response and its end-of-turn token only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from transformers.trainer_utils import SaveStrategy, SchedulerType
from trl import ModelConfig, SFTConfig


@dataclass
class ScriptArguments:
    """What to train on, how to treat rows that do not fit, and which distillation objective to use."""

    volatile_fields: ClassVar[tuple[str, ...]] = ("overwrite", "teacher_model")

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Training data: a stage folder of our pipeline (filter/teacher output with `messages`+`output`), "
            "a local .jsonl/.json/.csv/.parquet file or folder, or a Hub dataset id with `instruction`/`output`, "
            "`messages` or `prompt`/`completion` columns (e.g. zhang-yice/sentiment-distillation-v2)."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset config (subset) name."})
    dataset_split: str = field(default="train", metadata={"help": "Split to train on."})
    dataset_files: list[str] | None = field(
        default=None,
        metadata={
            "help": "Data files inside a Hub dataset repo, e.g. Qwen3-32B_50k.jsonl for the v2 corpus (one file per "
            "teacher)."
        },
    )
    instruction_column: str = field(
        default="instruction", metadata={"help": "Column holding the user instruction (instruction/output data)."}
    )
    input_column: str = field(
        default="input",
        metadata={"help": "Optional column appended to the instruction after a blank line (Alpaca-style data)."},
    )
    response_column: str = field(
        default="output",
        metadata={"help": "Column holding the teacher's response, e.g. `output` or `Qwen/Qwen3-32B_output`."},
    )
    system_prompt: str | None = field(
        default=None,
        metadata={"help": "System message prepended to every prompt (the official training data has none)."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Train on the first N rows only (after shuffling with `seed`)."}
    )
    overlong: Literal["truncate", "drop", "error"] = field(
        default="truncate",
        metadata={
            "help": "Rows longer than max_length: `truncate` cuts the response's tail (the row still teaches its "
            "start), `drop` skips the row, `error` stops. Rows whose prompt alone fills max_length would train on "
            "nothing: they are always dropped and counted (or fail under `error`)."
        },
    )
    global_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Sequences per optimizer step over all devices (official script: 8 x 8 x 2 GPUs = 128). Sets "
            "gradient_accumulation_steps = global_batch_size / (per_device_train_batch_size x processes)."
        },
    )
    distillation: Literal["sft", "gkd"] = field(
        default="sft",
        metadata={
            "help": "`sft`: sequence-level distillation on teacher responses (the paper). `gkd`: logit-level "
            "distillation with TRL's GKD (needs `gkd_teacher_model` with the student's vocabulary)."
        },
    )
    gkd_teacher_model: str | None = field(
        default=None, metadata={"help": "Teacher for `distillation: gkd` (Hub id, folder or built-in alias)."}
    )
    gkd_lmbda: float = field(
        default=0.0,
        metadata={"help": "GKD: fraction of on-policy (student-generated) batches; 0 = teacher responses only."},
    )
    gkd_beta: float = field(
        default=0.5, metadata={"help": "GKD: generalised JSD interpolation (0 = forward KL, 1 = reverse KL)."}
    )
    gkd_temperature: float = field(default=1.0, metadata={"help": "GKD: softmax temperature of both models."})
    enable_thinking: bool = field(
        default=False,
        metadata={
            "help": "Passed to the student's chat template when rows are rendered (read by Qwen3-style templates "
            "only). false: the prompt ends with the empty thinking block, so the student answers directly as the "
            "teacher's text does; render prompts at inference with the same value (apply_chat_template(..., "
            "enable_thinking=False))."
        },
    )
    teacher_model: str | None = field(
        default=None,
        metadata={
            "help": "Teacher that wrote the responses, for the model card (read from the data's lineage if unset)."
        },
    )
    overwrite: bool = field(
        default=False, metadata={"help": "Discard finished or partial output in output_dir and train again."}
    )


@dataclass
class ModelArguments(ModelConfig):
    """TRL's ModelConfig (dtype, attention, LoRA, quantisation); the student defaults to the embedded model."""

    model_name_or_path: str | None = field(
        default="gemma-3-270m",
        metadata={"help": "Student: Hub id, local folder, or the built-in alias gemma-3-270m."},
    )


@dataclass
class TrainConfig(SFTConfig):
    """TRL's SFTConfig with the official training script's hyper-parameters as defaults (full fine-tune; see
    method.md section 4 and the comments of recipes/*/sft/config_full.yaml for where each value comes from)."""

    volatile_fields: ClassVar[tuple[str, ...]] = (
        "output_dir",
        "logging_dir",
        "logging_steps",
        "report_to",
        "run_name",
        "push_to_hub",
        "hub_model_id",
        "hub_private_repo",
        "hub_strategy",
        "hub_token",
        "save_steps",
        "save_strategy",
        "save_total_limit",
        "dataloader_num_workers",
        "dataset_num_proc",
        "disable_tqdm",
        "resume_from_checkpoint",
    )

    output_dir: str | None = field(default="runs/train", metadata={"help": "Where the model, card and logs go."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Peak AdamW learning rate (official script: 5e-5)."})
    num_train_epochs: float = field(
        default=4.0, metadata={"help": "Epochs over the training set (official script: 4)."}
    )
    lr_scheduler_type: SchedulerType | str = field(
        default="cosine", metadata={"help": "Learning-rate schedule (official script: cosine)."}
    )
    warmup_steps: float = field(default=0, metadata={"help": "Warm-up steps (official script: 0)."})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay (official script: 0.1)."})
    max_length: int | None = field(
        default=2048, metadata={"help": "Tokens per (packed) training sequence (official torchtune config: 2048)."}
    )
    packing: bool = field(
        default=True,
        metadata={
            "help": "Pack rows into max_length sequences (best-fit decreasing, position ids reset per row, no "
            "attention across rows). Saves the compute spent on padding."
        },
    )
    assistant_only_loss: bool = field(
        default=True,
        metadata={"help": "Loss on assistant tokens and the end-of-turn token only (prompt tokens are masked)."},
    )
    completion_only_loss: bool | None = field(
        default=True, metadata={"help": "Loss on the completion only (kept on with assistant_only_loss)."}
    )
    logging_steps: float = field(default=1, metadata={"help": "Log every N optimizer steps."})
    save_strategy: SaveStrategy | str = field(
        default="epoch", metadata={"help": "Checkpoint every `epoch` (resumable) or `no`."}
    )
    save_total_limit: int | None = field(default=1, metadata={"help": "Keep only the latest N checkpoints."})
    seed: int = field(
        default=42,
        metadata={"help": "Seed for shuffling, initialisation and dropout (official torchtune config: 42)."},
    )

    def __post_init__(self):
        # transformers refuses bf16 without an accelerator unless use_cpu is set; on a CPU-only machine train on
        # CPU, and keep fp32 unless the recipe asked for bf16 explicitly.
        import torch

        has_accelerator = torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())
        if not has_accelerator:
            self.use_cpu = True
            if self.bf16 is None:
                self.bf16 = False
        # TRL's own default (gradient_checkpointing=True) trips a transformers rename notice on every parse.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated.*")
            super().__post_init__()


def train_config_classes() -> list[type]:
    """The dataclasses a train recipe maps onto, in parsing order."""
    return [ScriptArguments, ModelArguments, TrainConfig]
