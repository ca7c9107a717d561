"""Entry point of `compeff-hf publish`: a run's datasets and its student, with cards, to the Hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import RecipeError
from ..log import get_logger
from .config import PublishConfig
from .push import HubPushError, find_model_dir, find_stage_dirs, push_datasets, push_model, stage_configs

logger = get_logger(__name__)


def load_eval_results(path: Path, option: str) -> dict[str, Any]:
    """A ``compeff-hf eval`` results.json (read as it is written; the card builder turns it into model-index)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RecipeError(f"publish: --{option} {path}: not a readable JSON file ({err})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"publish: --{option} {path}: expected a results.json object from `compeff-hf eval`")
    return data


def _results(config: PublishConfig, option: str, default: Path | None) -> dict[str, Any] | None:
    """Results named by ``option``, or the run's default file when it exists; a named file must exist."""
    named = getattr(config, option)
    if named:
        if not Path(named).is_file():
            raise RecipeError(f"publish: --{option} {named} does not exist")
        return load_eval_results(Path(named), option)
    return load_eval_results(default, option) if default and default.is_file() else None


def merge_adapter(adapter_dir: Path, out_dir: Path) -> Path:
    """Merge a LoRA adapter into its base model and save full safetensors weights with the tokenizer and info."""
    import shutil

    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    model = AutoPeftModelForCausalLM.from_pretrained(str(adapter_dir))
    merged = model.merge_and_unload()
    merged.save_pretrained(str(out_dir), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(str(out_dir))
    for name in ("training_info.json", "generation_config.json"):
        if (adapter_dir / name).is_file():
            shutil.copy2(adapter_dir / name, out_dir / name)
    logger.info("publish: merged the LoRA adapter of %s into its base model", adapter_dir)
    return out_dir


def eval_comparison(run_dir: Path | None, results_path: Path | None) -> dict[str, Any] | None:
    """Before vs after training for the card: the paired bootstrap of the run's eval_base and eval per-item files
    (None when either is missing, or when the results published are not the run's own eval)."""
    if run_dir is None or results_path is None or results_path.parent != run_dir / "eval":
        return None
    from ..evaluation import stats

    try:
        return stats.compare(stats.load_per_item(run_dir / "eval_base"), stats.load_per_item(run_dir / "eval"))
    except (OSError, ValueError) as err:
        logger.info("publish: no before/after comparison for the card (%s)", err)
        return None


def _dataset_stage_dirs(config: PublishConfig) -> list[Path]:
    if config.stage_dirs:
        return [Path(p) for p in config.stage_dirs]
    out = []
    for stage_dir in find_stage_dirs(Path(config.run_dir)):
        try:
            stage_configs(stage_dir)
        except HubPushError:
            continue  # e.g. the train stage: a model, no datasets
        out.append(stage_dir)
    if not out:
        raise HubPushError(f"{config.run_dir}: no finished stage with datasets to publish")
    return out


def main(config: PublishConfig) -> int:
    """Push the datasets and/or the student; prints the repo URLs."""
    if not (config.dataset_repo_id or config.model_repo_id):
        raise RecipeError("publish: give --dataset_repo_id and/or --model_repo_id")
    if not config.run_dir and not config.stage_dirs and config.dataset_repo_id:
        raise RecipeError("publish: --dataset_repo_id needs --run_dir or --stage_dirs")
    if config.model_repo_id and not (config.model_dir or config.run_dir):
        raise RecipeError("publish: --model_repo_id needs --model_dir or --run_dir")
    run_dir = Path(config.run_dir) if config.run_dir else None
    dataset_repo = None
    dataset_stage_dirs = _dataset_stage_dirs(config) if config.dataset_repo_id else []
    model_inputs = _model_inputs(config, run_dir) if config.model_repo_id else {}
    if config.dataset_repo_id:
        result = push_datasets(
            dataset_stage_dirs,
            config.dataset_repo_id,
            private=config.private,
            overwrite_repo=config.overwrite_repo,
            reproduce=config.reproduce,
            replace_all=config.overwrite_repo,
            pretty_name=config.pretty_name,
        )
        dataset_repo = result["repo_id"]
        print(f"publish: datasets -> {result['url']} (pushed: {', '.join(result['pushed']) or 'nothing new'})")
    if config.model_repo_id:
        _publish_model(config, model_inputs, dataset_repo, dataset_stage_dirs)
    return 0


def _model_inputs(config: PublishConfig, run_dir: Path | None) -> dict[str, Any]:
    """Everything the model push reads, checked before anything is pushed."""
    from .cards import is_adapter

    model_dir = find_model_dir(Path(config.model_dir) if config.model_dir else run_dir / "train")
    if config.merge_adapter and not is_adapter(model_dir):
        raise RecipeError(f"publish: --merge_adapter true, but {model_dir} holds full weights, not an adapter")
    compare = {
        "base": _results(config, "base_eval_results", run_dir / "eval_base" / "results.json" if run_dir else None),
        "teacher": _results(config, "teacher_eval_results", None),
    }
    results_path = (
        Path(config.eval_results) if config.eval_results else (run_dir / "eval" / "results.json" if run_dir else None)
    )
    return {
        "model_dir": model_dir,
        "eval_results": _results(config, "eval_results", run_dir / "eval" / "results.json" if run_dir else None),
        "compare": {k: v for k, v in compare.items() if v is not None},
        "comparison": eval_comparison(run_dir, results_path),
    }


def _publish_model(
    config: PublishConfig, inputs: dict[str, Any], dataset_repo: str | None, dataset_stage_dirs: list[Path]
) -> None:
    import tempfile

    from .cards import model_card_from_training_info
    from .push import hub_api, read_stage, resolve_repo_id

    model_dir, eval_results = inputs["model_dir"], inputs["eval_results"]
    eval_dataset_id = config.eval_dataset_id
    if not eval_dataset_id and dataset_repo and any(read_stage(d)[0] == "eval" for d in dataset_stage_dirs):
        eval_dataset_id = dataset_repo  # the predictions behind the scores were pushed there
    if eval_results is not None and not eval_dataset_id:
        logger.info("publish: no Hub dataset for the model-index; pass --eval_dataset_id to add it")
    model_repo = resolve_repo_id(hub_api(), config.model_repo_id)
    with tempfile.TemporaryDirectory(prefix="compeff-hf-merge-") as tmp:
        if config.merge_adapter:
            model_dir = merge_adapter(model_dir, Path(tmp))
        card = model_card_from_training_info(
            model_dir,
            model_id=model_repo,
            datasets=[dataset_repo] if dataset_repo else None,
            eval_results=eval_results,
            compare_results=inputs["compare"],
            eval_dataset_id=eval_dataset_id,
            eval_comparison=inputs["comparison"],
        )
        result = push_model(
            model_dir, model_repo, card=card, private=config.private, overwrite_repo=config.overwrite_repo
        )
    print(f"publish: model -> {result['url']} ({'pushed' if result['pushed'] else 'unchanged'})")
