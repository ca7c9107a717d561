"""Recipe fields of `compeff-hf publish`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PublishConfig:
    """What to push: a run's stage datasets to one dataset repo, and its student to a model repo."""

    run_dir: str | None = field(
        default=None, metadata={"help": "Run folder whose stage outputs (<run_dir>/<stage>/) to publish."}
    )
    dataset_repo_id: str | None = field(
        default=None,
        metadata={"help": "Hub dataset repo for the stage datasets, one config each (owner/name, or name)."},
    )
    model_repo_id: str | None = field(
        default=None, metadata={"help": "Hub model repo for the trained student (owner/name, or name)."}
    )
    stage_dirs: list[str] | None = field(
        default=None,
        metadata={"help": "Stage folders to push instead of every finished stage of run_dir (space-separated)."},
    )
    model_dir: str | None = field(
        default=None, metadata={"help": "The student's folder. Default: the model saved by <run_dir>/train."}
    )
    eval_results: str | None = field(
        default=None,
        metadata={"help": "SentiBench results.json for the model card. Default: <run_dir>/eval/results.json."},
    )
    base_eval_results: str | None = field(
        default=None,
        metadata={
            "help": "SentiBench results.json of the student before training, a 'base' column of the card's table. "
            "Default: <run_dir>/eval_base/results.json when present."
        },
    )
    teacher_eval_results: str | None = field(
        default=None,
        metadata={
            "help": "SentiBench results.json of the teacher (`compeff-hf eval --model <teacher>`), a 'teacher' "
            "column of the card's table, so the student can be compared with the model it was distilled from."
        },
    )
    eval_dataset_id: str | None = field(
        default=None,
        metadata={
            "help": "Hub dataset id named in the card's model-index (it must be a Hub dataset). Default: the "
            "dataset repo of this publish when it holds the eval stage's predictions; without either, the results "
            "appear in the card's table only."
        },
    )
    merge_adapter: bool = field(
        default=False,
        metadata={
            "help": "For a LoRA student: merge the adapter into the base model and push full weights "
            "(library_name transformers). Default: push the adapter (library_name peft)."
        },
    )
    private: bool = field(default=False, metadata={"help": "Create the repos as private."})
    overwrite_repo: bool = field(
        default=False,
        metadata={
            "help": "Replace the content of a non-empty repo. Without it, pushing refuses to overwrite anything "
            "(identical content is skipped, new configs are added)."
        },
    )
    pretty_name: str | None = field(default=None, metadata={"help": "Title of the dataset card."})
    reproduce: str | None = field(
        default=None,
        metadata={"help": "Command shown under 'Reproduce' in the cards. Default: per-stage commands."},
    )
