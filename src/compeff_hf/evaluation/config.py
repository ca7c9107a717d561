"""Recipe fields of `compeff-hf eval`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..configs import StageConfig


@dataclass
class EvalConfig(StageConfig):
    """SentiBench with the published protocol: raw 4-shot prompts, seeds 42/52/62, label logits or greedy JSON."""

    stage_name: ClassVar[str] = "eval"
    volatile_fields: ClassVar[tuple[str, ...]] = (
        "batch_size",
        "max_batch_tokens",
        "device",
        "threads",
        "num_processes",
    )

    model: str = field(
        default="gemma-3-270m", metadata={"help": "Model to evaluate: Hub id, local folder, or gemma-3-270m."}
    )
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "SentiBench data: a folder in the published layout (e.g. ../shared/sentibench), a Hub dataset "
            "id holding the same files, or 'github' (download once at the pinned commit, verified, cached). "
            "Default: $SENTIBENCH_DIR, else 'github'."
        },
    )
    datasets: list[str] | None = field(
        default=None,
        metadata={"help": "Datasets (e.g. sst2 opener) or groups (bsa msa fsa) to run. Default: all 12."},
    )
    limit: int | None = field(
        default=None, metadata={"help": "Test items per dataset: the first N, with the demos of a full run."}
    )
    seeds: list[int] = field(
        default_factory=lambda: [42, 52, 62], metadata={"help": "Demo-draw seeds; scores are averaged over them."}
    )
    k_shot: int = field(default=4, metadata={"help": "Demonstrations per test item, drawn from the train split."})
    batch_size: int = field(default=16, metadata={"help": "Rows per forward pass / generate call."})
    max_batch_tokens: int = field(
        default=16384, metadata={"help": "Cap on padded tokens per batch (long IMDb prompts get smaller batches)."}
    )
    max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Generation budget (new tokens) of the fine-grained tasks (ATSA, ACSA, ASQP, OpeNER). Default: 150, "
            "the official bash/fsa_json.sh default."
        },
    )
    chat_template: bool = field(
        default=False,
        metadata={"help": "Wrap each prompt in the model's chat template (off in the published protocol)."},
    )
    bootstrap_samples: int = field(
        default=1000,
        metadata={
            "help": "Bootstrap resamples of the test items for each dataset's 95 percent interval (seeded); "
            "0 leaves the intervals out."
        },
    )
    dtype: str = field(default="auto", metadata={"help": "Model dtype: auto, bfloat16, float16 or float32."})
    attn_implementation: str | None = field(
        default=None, metadata={"help": "Attention kernel (upstream used 'eager' for Gemma-3); default: sdpa."}
    )
    device: str | None = field(default=None, metadata={"help": "cuda, cpu, ... Default: cuda when available."})
    num_processes: int = field(
        default=1,
        metadata={
            "help": "Processes that share the rows (data parallel, one GPU each on CUDA); results are identical to "
            "one process. Under torchrun / accelerate launch, the launcher's processes are used instead."
        },
    )
    threads: int | None = field(
        default=None,
        metadata={"help": "CPU threads for torch (torch.set_num_threads). 1 is much faster on an oversubscribed CPU."},
    )
