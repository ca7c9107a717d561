"""Scores from per-item predictions: one shipped `evaluate` metric per task, then seeds, groups and the average."""

from __future__ import annotations

import json
import statistics
from typing import Any

from .metrics import load_metric
from .parsers import extract_answer, gold_tuples, parse_tuples, tuples_to_opinions
from .prompts import gold_answer
from .tasks import GROUPS, Task


def parse_prediction(task: Task, item: dict[str, Any], text: str, k_shot: int) -> dict[str, Any]:
    """From a decoded prompt+continuation: the extracted answer and its parsed tuples (fine-grained tasks)."""
    answer = extract_answer(text, k_shot)
    return {"answer": answer, "tuples": [list(t) for t in parse_tuples(task, answer, item["sentence"])]}


def score_task(task: Task, items: list[dict[str, Any]], predictions: list[Any]) -> dict[str, float]:
    """Score one (task, seed): ``predictions`` are label strings (classification) or tuple lists (fine-grained)."""
    if task.is_classification:
        refs = [item["label"].lower() for item in items]
        out = load_metric("macro_f1").compute(predictions=list(predictions), references=refs)
        return {"score": out["macro_f1"], "macro_f1": out["macro_f1"], "accuracy": out["accuracy"]}
    if task.kind == "ssa":
        preds, refs = [], []
        for item, tuples in zip(items, predictions, strict=True):
            opinions = tuples_to_opinions(item["sentence"], [tuple(t) for t in tuples])
            preds.append(json.dumps({"text": item["sentence"], "opinions": opinions}))
            refs.append(json.dumps({"text": item["sentence"], "opinions": item.get("opinions")}))
        out = load_metric("sentiment_graph_f1").compute(predictions=preds, references=refs)
    else:
        refs = [[list(t) for t in gold_tuples(task, gold_answer(task, item))] for item in items]
        out = load_metric("tuple_f1").compute(predictions=[[list(t) for t in p] for p in predictions], references=refs)
    return {"score": out["f1"], "f1": out["f1"], "precision": out["precision"], "recall": out["recall"]}


def item_records(task: Task, items: list[dict[str, Any]], predictions: list[Any]) -> list[dict[str, Any]]:
    """Per-item records from which ``stats`` recomputes the task's metric on any resample of the items."""
    if task.is_classification:
        return [{"gold": item["label"].lower(), "pred": p} for item, p in zip(items, predictions, strict=True)]
    records = []
    if task.kind == "ssa":
        from .metrics.sentiment_graph_f1.sentiment_graph_f1 import graph_tuples, side_credit

        for item, tuples in zip(items, predictions, strict=True):
            opinions = tuples_to_opinions(item["sentence"], [tuple(t) for t in tuples])
            pred = graph_tuples({"text": item["sentence"], "opinions": opinions})
            gold = graph_tuples({"text": item["sentence"], "opinions": item.get("opinions")})
            (tp_pred, n_pred), (tp_gold, n_gold) = side_credit(pred, gold), side_credit(gold, pred)
            records.append({"tp_pred": tp_pred, "n_pred": n_pred, "tp_gold": tp_gold, "n_gold": n_gold})
        return records
    for item, tuples in zip(items, predictions, strict=True):
        pred = [tuple(t) for t in tuples]
        gold = [tuple(t) for t in gold_tuples(task, gold_answer(task, item))]
        records.append(
            {
                "tp_pred": sum(t in gold for t in pred),
                "n_pred": len(pred),
                "tp_gold": sum(t in pred for t in gold),
                "n_gold": len(gold),
            }
        )
    return records


def oracle_predictions(task: Task, items: list[dict[str, Any]]) -> list[Any]:
    """Gold answers fed back through the parser, as a perfect model would write them (the scorer's ceiling)."""
    if task.is_classification:
        return [item["label"].lower() for item in items]
    return [parse_tuples(task, gold_answer(task, item), item["sentence"]) for item in items]


def aggregate(per_seed: dict[str, dict[int, dict[str, float]]], tasks: list[Task]) -> dict[str, Any]:
    """Mean and spread over seeds per dataset (x100), then per group and the unweighted average of datasets."""
    datasets: dict[str, Any] = {}
    for task in tasks:
        seeds = per_seed.get(task.name) or {}
        if not seeds:
            continue
        values = [100 * s["score"] for s in seeds.values()]
        entry = {
            "group": task.group,
            "metric": "macro-F1" if task.is_classification else ("graph-F1" if task.kind == "ssa" else "micro-F1"),
            "mean": statistics.fmean(values),
            "std": statistics.pstdev(values),  # population std over seeds (0 for one seed)
            "per_seed": {str(seed): dict(s.items()) for seed, s in seeds.items()},
        }
        if task.is_classification:
            entry["accuracy"] = statistics.fmean(100 * s["accuracy"] for s in seeds.values())
        datasets[task.name] = entry
    groups = {}
    for group in GROUPS:
        members = [d["mean"] for name, d in datasets.items() if d["group"] == group]
        if members:
            groups[group] = {"mean": statistics.fmean(members), "datasets": len(members)}
    average = statistics.fmean(d["mean"] for d in datasets.values()) if datasets else 0.0
    return {"datasets": datasets, "groups": groups, "average": average, "n_datasets": len(datasets)}
