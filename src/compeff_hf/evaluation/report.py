"""Presenting SentiBench results: a markdown table and `model-index` entries for the model card."""

from __future__ import annotations

from typing import Any

from .tasks import GROUPS, TASKS


def markdown_table(results: dict[str, Any]) -> str:
    """Per dataset (mean ± std over seeds, x100), per group, and the average of the datasets run."""
    scores = results["scores"]
    protocol = results.get("protocol", {})
    lines = [
        f"### SentiBench: `{results.get('model', '?')}`",
        "",
        f"{protocol.get('k_shot', '?')}-shot, seeds {protocol.get('seeds', '?')}, "
        f"{protocol.get('limit') or 'all'} test items per dataset"
        f"{', chat template' if protocol.get('chat_template') else ', raw prompts'}.",
        "",
        "| group | dataset | metric | score | 95% CI (items) | ± std (seeds) | items | accuracy |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, entry in scores["datasets"].items():
        acc = f"{entry['accuracy']:.1f}" if "accuracy" in entry else ""
        ci = f"{entry['ci_low']:.1f}-{entry['ci_high']:.1f}" if "ci_low" in entry else ""
        lines.append(
            f"| {entry['group'].upper()} | {TASKS[name].title} | {entry['metric']} | {entry['mean']:.1f} | {ci} "
            f"| {entry['std']:.1f} | {entry.get('n_items', '')} | {acc} |"
        )
    for group, entry in scores["groups"].items():
        lines.append(
            f"| {group.upper()} | *{GROUPS[group]} ({entry['datasets']})* | mean | {entry['mean']:.1f} | | | | |"
        )
    ci = scores.get("average_ci")
    lines.append(
        f"| | **average ({scores['n_datasets']} datasets)** | | **{scores['average']:.1f}** "
        f"| {f'{ci[0]:.1f}-{ci[1]:.1f}' if ci else ''} | | {scores.get('n_items', '')} | |"
    )
    if ci:
        lines += [
            "",
            "95% CI: percentile bootstrap over the test items (the same resample for every seed), "
            f"{scores['bootstrap']['samples']} resamples; ± std: the spread over seeds.",
        ]
    return "\n".join(lines) + "\n"


def _metric_config(results: dict[str, Any], entry: dict[str, Any]) -> str:
    """The protocol, and how many test items the figure rests on with its 95% bootstrap interval."""
    text = f"{results['protocol']['k_shot']}-shot, seeds {results['protocol']['seeds']}"
    if "n_items" in entry:
        text += f", {entry['n_items']} test items"
    if "ci_low" in entry:
        text += f", 95% CI {entry['ci_low']:.1f}-{entry['ci_high']:.1f}"
    return text


def model_index_results(results: dict[str, Any]) -> list[Any]:
    """`huggingface_hub.EvalResult` entries (one per dataset, plus the average) for a model card's model-index."""
    from huggingface_hub import EvalResult

    out = []
    source = {
        "source_name": "compeff-hf eval (SentiBench, published protocol)",
        "source_url": "https://github.com/HITSZ-HLT/Sentiment-Distillation",
    }
    for name, entry in results["scores"]["datasets"].items():
        task = TASKS[name]
        out.append(
            EvalResult(
                task_type="text-classification" if task.is_classification else "text-generation",
                task_name=task.kind if not task.is_classification else "sentiment-analysis",
                dataset_type="sentibench",
                dataset_name=f"SentiBench {task.title}",
                dataset_config=name,
                dataset_split="test",
                metric_type="f1",
                metric_name=entry["metric"],
                metric_value=round(entry["mean"], 2),
                metric_config=_metric_config(results, entry),
                **source,
            )
        )
    out.append(
        EvalResult(
            task_type="text-classification",
            task_name="sentiment-analysis",
            dataset_type="sentibench",
            dataset_name="SentiBench",
            dataset_config="average",
            dataset_split="test",
            metric_type="f1",
            metric_name=f"average of {results['scores']['n_datasets']} datasets",
            metric_value=round(results["scores"]["average"], 2),
            **source,
        )
    )
    return out
