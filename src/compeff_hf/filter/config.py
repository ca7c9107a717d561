"""Recipe fields of `compeff-hf filter`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from ..configs import StageConfig
from ..decontaminate.config import DecontaminationStep, validate_decontamination
from ..errors import RecipeError

METRICS = ("rank", "ppl", "ifd", "length", "random")


@dataclass
class FilterConfig(StageConfig, DecontaminationStep):
    """Score every (instruction, response) row for difficulty, then keep a fraction of them.

    Scores are computed by `scorer_model` (the student by default, or any cheaper proxy) with teacher forcing:
    one forward pass per row, no decoding. With `proxy_responses` the responses come from the scorer itself, so
    the stage runs *before* the teacher and only the kept instructions are sent to it.
    """

    stage_name: ClassVar[str] = "filter"
    volatile_fields: ClassVar[tuple[str, ...]] = (
        "batch_size",
        "max_batch_tokens",
        "chunk_tokens",
        "device",
        "num_processes",
    )

    input: str | None = field(
        default=None,
        metadata={
            "help": "Dataset to filter: a teacher stage folder, a local file/folder, or a Hub id. Rows need "
            "`messages` (last user turn = instruction) and `output`, or `instruction` and `output` columns."
        },
    )
    split: str = field(default="train", metadata={"help": "Split to read when `input` is a Hub id."})
    input_config: str | None = field(default=None, metadata={"help": "Dataset config name for a Hub id."})
    limit: int | None = field(default=None, metadata={"help": "Score only the first N rows (for quick trials)."})

    # ---- scoring
    scorer_model: str = field(
        default="gemma-3-270m",
        metadata={"help": "Model that scores difficulty: the student, or a cheaper proxy (Hub id, folder, alias)."},
    )
    metric: Literal["rank", "ppl", "ifd", "length", "random"] = field(
        default="rank",
        metadata={
            "help": "Difficulty metric (higher = harder): rank (the method's rank-based score), ppl (perplexity "
            "of the response), ifd (instruction-following difficulty: ppl(response|instruction)/ppl(response)), "
            "length (response tokens), random."
        },
    )
    top_p: float = field(default=0.95, metadata={"help": "Nucleus mass for the rank score."})
    rank_aggregation: Literal["non_top1", "all"] = field(
        default="non_top1",
        metadata={
            "help": "non_top1: mean over tokens the scorer does not rank first (the official code); "
            "all: mean over every response token (top-1 tokens count as 0)."
        },
    )
    formatting: Literal["raw", "chat"] = field(
        default="raw",
        metadata={
            "help": "Scoring text: raw = instruction + response concatenated as in the official code; "
            "chat = the scorer's chat template (what the student is trained on)."
        },
    )
    max_length: int = field(default=2048, metadata={"help": "Truncate scoring text to this many tokens."})
    dtype: Literal["float32", "bfloat16", "float16"] = field(
        default="float32",
        metadata={
            "help": "Scorer body dtype: float32 is the official precision; bfloat16 is faster on GPUs but moves "
            "scores slightly (docs/filter.md). Logits are always float32."
        },
    )
    device: str = field(
        default="auto", metadata={"help": "auto, cpu, cuda, cuda:1, ... (one GPU per process when data-parallel)"}
    )
    num_processes: int = field(
        default=1,
        metadata={
            "help": "Score with N data-parallel processes spawned here (one per GPU, or CPU processes). Not needed "
            "under accelerate launch / torchrun, which start the processes themselves."
        },
    )
    batch_size: int = field(default=16, metadata={"help": "Rows per forward pass (length-sorted batches)."})
    max_batch_tokens: int = field(
        default=16384, metadata={"help": "Cap on padded tokens per batch; long rows get smaller batches."}
    )
    chunk_tokens: int = field(
        default=256,
        metadata={"help": "Response positions per full-vocabulary logits block (memory: chunk x vocab x 8 bytes)."},
    )

    # ---- selection
    keep_ratio: float = field(default=0.1, metadata={"help": "Fraction of rows to keep (0 < r <= 1)."})
    method: Literal["hard", "soft", "random"] = field(
        default="hard",
        metadata={
            "help": "hard: keep the top fraction; soft: keep each row with a power-curve probability that rises "
            "with difficulty (expected kept fraction = keep_ratio); random: uniform sample."
        },
    )
    strategy: Literal["inprompt", "full"] = field(
        default="inprompt",
        metadata={
            "help": "inprompt: select within each instruction group (perspective/task ids, or the analysis "
            "prompt) so every instruction keeps its share; full: one global ranking."
        },
    )
    direction: Literal["hardest", "easiest"] = field(
        default="hardest", metadata={"help": "Prefer the hardest rows (the method) or the easiest (ablation)."}
    )
    soft_peak: float = field(
        default=1.0, metadata={"help": "Soft curve peak position a in (0, 1]; 1 = monotone preference for hard."}
    )
    hard_zero_count: Literal["keep_none", "keep_group"] = field(
        default="keep_none",
        metadata={
            "help": "hard: what a group whose keep count rounds to 0 keeps: keep_none (the paper) or keep_group "
            "(the official code's hard_full_sample keeps the whole group, ~3x the rows on groups of 1-12 at 0.1)."
        },
    )

    # ---- proxy pre-filter
    proxy_responses: bool = field(
        default=False,
        metadata={
            "help": "Pre-filter before the teacher: the scorer writes its own responses to the instructions, "
            "they are scored and selected, and only the kept instructions go to the teacher."
        },
    )
    proxy_max_new_tokens: int = field(default=128, metadata={"help": "Response budget of the proxy model."})
    proxy_batch_size: int = field(default=16, metadata={"help": "Rows per proxy generation batch."})

    def __post_init__(self) -> None:
        validate_decontamination(self)
        if not 0.0 < self.keep_ratio <= 1.0:
            raise RecipeError(f"keep_ratio must be in (0, 1], got {self.keep_ratio}")
        if not 0.0 < self.top_p <= 1.0:
            raise RecipeError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0.0 < self.soft_peak <= 1.0:
            raise RecipeError(f"soft_peak must be in (0, 1], got {self.soft_peak}")
        for name in (
            "batch_size",
            "max_batch_tokens",
            "chunk_tokens",
            "max_length",
            "proxy_max_new_tokens",
            "num_processes",
        ):
            if getattr(self, name) < 1:
                raise RecipeError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.metric not in METRICS:
            raise RecipeError(f"metric must be one of {METRICS}, got {self.metric!r}")
