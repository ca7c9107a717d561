"""Recipe fields of decontamination: shared by `compeff-hf decontaminate` and the built-in step of construct and
filter (same names everywhere, so a flag means the same thing in each command)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from ..configs import StageConfig
from ..errors import RecipeError
from .rows import ACTIONS, DEFAULT_FIELDS


@dataclass
class DecontaminationArgs:
    """Which evaluation sets, how texts match them, and what happens to a matching row."""

    decontaminate_sentibench: str | None = field(
        default=None,
        metadata={
            "help": "SentiBench copy whose 12 test sets are checked: a folder in the published layout, a Hub "
            "dataset id, 'github' (downloaded once, verified), or 'none' (only decontaminate_eval_sets). Empty: "
            "$SENTIBENCH_DIR, else 'github' (as `compeff-hf eval`)."
        },
    )
    decontaminate_eval_sets: list[str] | None = field(
        default=None,
        metadata={
            "help": "More evaluation sets, each a local file/folder or a Hub dataset id (split 'test'), optionally "
            "REF::COLUMN; without a column the first of text, sentence, review, ... is read."
        },
    )
    decontaminate_action: Literal["drop", "flag"] = field(
        default="drop",
        metadata={
            "help": "drop: matching rows are removed; flag: they are kept with a `contamination` column naming "
            "the matched sets."
        },
    )
    decontaminate_ngram: int = field(
        default=13,
        metadata={"help": "A row matches an evaluation text when they share this many consecutive words."},
    )
    decontaminate_min_words: int = field(
        default=8,
        metadata={
            "help": "Evaluation texts shorter than decontaminate_ngram words match when they appear whole inside a "
            "field, if they have at least this many words; shorter ones only when a whole field equals them."
        },
    )


@dataclass
class DecontaminationStep(DecontaminationArgs):
    """The built-in step of construct and filter: the shared fields plus the switch."""

    decontaminate: bool = field(
        default=True,
        metadata={"help": "Check rows against the evaluation sets (see docs/decontamination.md)."},
    )


def validate_decontamination(config: DecontaminationArgs) -> None:
    """Clear errors for impossible values, before a stage writes anything."""
    if config.decontaminate_action not in ACTIONS:
        raise RecipeError(f"decontaminate_action must be one of {ACTIONS}, got {config.decontaminate_action!r}")
    if config.decontaminate_ngram < 1:
        raise RecipeError(f"decontaminate_ngram must be >= 1, got {config.decontaminate_ngram}")
    if not 1 <= config.decontaminate_min_words <= config.decontaminate_ngram:
        raise RecipeError(
            f"decontaminate_min_words must lie in [1, decontaminate_ngram={config.decontaminate_ngram}], "
            f"got {config.decontaminate_min_words}"
        )


@dataclass
class DecontaminateConfig(StageConfig, DecontaminationArgs):
    """`compeff-hf decontaminate`: check any dataset against the evaluation sets, write the kept rows."""

    stage_name: ClassVar[str] = "decontaminate"

    input: str | None = field(
        default=None,
        metadata={"help": "Rows to check: a stage folder (its data), a local file/folder, or a Hub dataset id."},
    )
    split: str = field(default="train", metadata={"help": "Split to read when `input` is a Hub id or folder."})
    input_config: str | None = field(default=None, metadata={"help": "Dataset config name (or stage dataset)."})
    fields: list[str] = field(
        default_factory=lambda: list(DEFAULT_FIELDS),
        metadata={
            "help": "Columns checked, those the input has: strings, chat `messages` (every turn) or lists of "
            "strings. At least one must exist."
        },
    )

    def __post_init__(self) -> None:
        validate_decontamination(self)
        if not self.fields:
            raise RecipeError("fields must name at least one column to check")
