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


def load_eval_results(path: Path) -> Any:
    """SentiBench results for a model card: through the eval stage's ``model_index_results`` when present."""
    results = json.loads(path.read_text())
    try:
        from ..evaluation.report import model_index_results
    except ImportError:
        return results
    try:
        return model_index_results(results)
    except Exception as err:  # an eval format we cannot read must not block publishing the model
        logger.warning("publish: could not read %s as model-index results (%s); using its raw scores", path, err)
        return results


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
    if config.dataset_repo_id:
        result = push_datasets(
            _dataset_stage_dirs(config),
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
        from .cards import model_card_from_training_info

        model_dir = find_model_dir(Path(config.model_dir) if config.model_dir else run_dir / "train")
        results_path = (
            Path(config.eval_results)
            if config.eval_results
            else (run_dir / "eval" / "results.json" if run_dir else None)
        )
        eval_results = load_eval_results(results_path) if results_path and results_path.is_file() else None
        if results_path and config.eval_results and not results_path.is_file():
            raise RecipeError(f"publish: --eval_results {results_path} does not exist")
        from .push import hub_api, resolve_repo_id

        model_repo = resolve_repo_id(hub_api(), config.model_repo_id)
        card = model_card_from_training_info(
            model_dir,
            model_id=model_repo,
            datasets=[dataset_repo] if dataset_repo else None,
            eval_results=eval_results,
            eval_comparison=eval_comparison(run_dir, results_path),
        )
        result = push_model(
            model_dir, model_repo, card=card, private=config.private, overwrite_repo=config.overwrite_repo
        )
        print(f"publish: model -> {result['url']} ({'pushed' if result['pushed'] else 'unchanged'})")
    return 0
