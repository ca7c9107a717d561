"""Noise-aware SentiBench figures: bootstrap intervals over test items, the spread over seeds, and a paired
bootstrap that says whether a before/after difference is more than noise.

Everything works from **per-item records**, which ``compeff-hf eval`` writes to ``per_item.json`` beside
``results.json`` (one list per dataset and seed, in test order, the same items for every seed)::

    {"version": 1, "datasets": {"sst2": {"metric": "macro_f1", "seeds": {"42": [record, ...], ...}}, ...}}

A record holds what the dataset's metric needs to be recomputed on any resample of the items:

* ``macro_f1`` (classification): ``{"gold": str, "pred": str}``
* ``tuple_f1`` (ATSA, ACSA, ASQP) and ``sentiment_graph_f1`` (OpeNER): ``{"tp_pred": float, "n_pred": int,
  "tp_gold": float, "n_gold": int}``: the item's matched predictions (graph F1: their credit) and its number of
  predictions, the same for gold; precision = sum(tp_pred) / sum(n_pred), recall = sum(tp_gold) / sum(n_gold).

API (all scores x100, as the results table; every function is deterministic for a given ``seed``):

* ``score(metric, records) -> float``: the metric on all records (0-1, equals the eval stage's score).
* ``dataset_interval(metric, per_seed, n_boot=1000, level=0.95, seed=0) -> dict``: ``mean`` over seeds, the
  percentile bootstrap interval ``low``/``high`` of that mean (items resampled, the same resample for every seed),
  ``seed_std``/``seed_min``/``seed_max`` (the spread over seeds), ``n_items``, ``n_seeds``.
* ``paired_difference(metric, before, after, n_boot=1000, level=0.95, seed=0) -> dict``: ``before``, ``after``
  (means over each side's seeds), ``delta`` (after - before), its interval ``low``/``high``, a two-sided bootstrap ``p_value``,
  ``significant`` (the interval excludes 0) and ``n_items``. Both sides must hold the same items (same count, and
  the same gold labels for classification); otherwise ``ValueError``.
* ``compare(before, after, ...) -> dict``: the paired comparison of every dataset two ``per_item.json`` documents
  share, plus ``average`` (datasets resampled independently, their deltas averaged).
* ``intervals(doc, ...) -> dict``: ``dataset_interval`` of every dataset of a document, plus ``average``.
* ``load_per_item(path) -> dict`` (``path``: a ``per_item.json`` or its eval output folder).

Example (a nightly gate)::

    from compeff_hf.evaluation import stats
    result = stats.compare(stats.load_per_item("ref/per_item.json"), stats.load_per_item("runs/eval"))
    worse = [name for name, d in result["datasets"].items() if d["significant"] and d["delta"] < 0]
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

COUNT_METRICS = ("tuple_f1", "sentiment_graph_f1")
_EPS = 1e-16  # the graph-F1 scorer's guard (SemEval-2022 Task 10), kept so the figures agree


def _resample_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """How often each item is drawn in each of ``n_boot`` resamples of ``n`` items with replacement."""
    draws = rng.integers(0, n, size=(n_boot, n)) + (np.arange(n_boot) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(float)


def _weighted_scores(metric: str, records: Sequence[Mapping[str, Any]], weights: np.ndarray) -> np.ndarray:
    """The metric (0-1) on each row of ``weights`` (item multiplicities)."""
    if metric == "macro_f1":
        labels = sorted({r["gold"] for r in records} | {r["pred"] for r in records})
        index = {label: i for i, label in enumerate(labels)}
        gold = np.zeros((len(records), len(labels)))
        pred = np.zeros((len(records), len(labels)))
        for i, r in enumerate(records):
            gold[i, index[r["gold"]]] = 1
            pred[i, index[r["pred"]]] = 1
        tp, n_gold, n_pred = weights @ (gold * pred), weights @ gold, weights @ pred
        seen = (n_gold + n_pred) > 0  # sklearn: the labels present in this sample's gold or predictions
        f1 = np.divide(2 * tp, n_gold + n_pred, out=np.zeros_like(tp), where=seen)
        return (f1 * seen).sum(1) / np.maximum(seen.sum(1), 1)
    if metric not in COUNT_METRICS:
        raise ValueError(f"unknown metric {metric!r}: expected macro_f1, {', '.join(COUNT_METRICS)}")
    counts = np.array([[r["tp_pred"], r["n_pred"], r["tp_gold"], r["n_gold"]] for r in records], dtype=float)
    tp_pred, n_pred, tp_gold, n_gold = (weights @ counts.reshape(len(records), 4)).T
    if metric == "tuple_f1":  # precision 1 without predictions, recall 1 without gold, as the published scorer
        precision = np.divide(tp_pred, n_pred, out=np.ones_like(tp_pred), where=n_pred > 0)
        recall = np.divide(tp_gold, n_gold, out=np.ones_like(tp_gold), where=n_gold > 0)
        total = precision + recall
        return np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    precision, recall = tp_pred / (n_pred + _EPS), tp_gold / (n_gold + _EPS)
    return 2 * precision * recall / (precision + recall + 1e-17)


def score(metric: str, records: Sequence[Mapping[str, Any]]) -> float:
    """The metric (0-1) on all records."""
    return float(_weighted_scores(metric, records, np.ones((1, len(records))))[0])


def _check(per_seed: Mapping[Any, Sequence[Mapping[str, Any]]]) -> int:
    sizes = {len(records) for records in per_seed.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"per-item records: every seed needs the same, non-zero number of items (got {sizes})")
    return sizes.pop()


def _seed_mean_draws(metric: str, per_seed: Mapping[Any, Sequence[Mapping[str, Any]]], weights: np.ndarray):
    """Per resample: the metric on each seed's records under the same item weights, averaged over seeds (x100)."""
    return 100 * np.mean([_weighted_scores(metric, records, weights) for records in per_seed.values()], axis=0)


def _rng(seed: int, name: str = "") -> np.random.Generator:
    # one stream per dataset, so datasets resample independently yet reproducibly
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _percentiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def dataset_interval(
    metric: str,
    per_seed: Mapping[Any, Sequence[Mapping[str, Any]]],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    name: str = "",
) -> dict[str, Any]:
    """Mean over seeds, its bootstrap interval over items, and the spread over seeds (all x100)."""
    result = _interval(metric, per_seed, n_boot, level, seed, name)
    result.pop("draws")
    return result


def _interval(metric, per_seed, n_boot, level, seed, name) -> dict[str, Any]:
    n = _check(per_seed)
    per_seed_scores = [100 * score(metric, records) for records in per_seed.values()]
    draws = _seed_mean_draws(metric, per_seed, _resample_weights(n, n_boot, _rng(seed, name)))
    low, high = _percentiles(draws, level)
    return {
        "mean": float(np.mean(per_seed_scores)),
        "low": low,
        "high": high,
        "level": level,
        "seed_std": float(np.std(per_seed_scores)),
        "seed_min": float(min(per_seed_scores)),
        "seed_max": float(max(per_seed_scores)),
        "n_items": n,
        "n_seeds": len(per_seed_scores),
        "draws": draws,
    }


def _paired_draws(metric, before, after, n_boot, seed, name):
    n = _check(before)
    if _check(after) != n:
        raise ValueError(
            f"{name or 'dataset'}: before and after hold different numbers of items ({n} vs {_check(after)})"
        )
    if metric == "macro_f1":
        golds = {tuple(r["gold"] for r in records) for records in [*before.values(), *after.values()]}
        if len(golds) != 1:
            raise ValueError(f"{name or 'dataset'}: before and after are not the same items (gold labels differ)")
    weights = _resample_weights(n, n_boot, _rng(seed, name))
    means = [100 * float(np.mean([score(metric, r) for r in side.values()])) for side in (before, after)]
    return n, means, _seed_mean_draws(metric, after, weights) - _seed_mean_draws(metric, before, weights)


def _summarise(means: Sequence[float], draws: np.ndarray, level: float, n_items: int) -> dict[str, Any]:
    low, high = _percentiles(draws, level)
    p_value = min(1.0, 2 * min(float(np.mean(draws <= 0)), float(np.mean(draws >= 0))))
    return {
        "before": means[0],
        "after": means[1],
        "delta": means[1] - means[0],
        "low": low,
        "high": high,
        "level": level,
        "p_value": p_value,
        "significant": bool(low > 0 or high < 0),
        "n_items": n_items,
    }


def paired_difference(
    metric: str,
    before: Mapping[Any, Sequence[Mapping[str, Any]]],
    after: Mapping[Any, Sequence[Mapping[str, Any]]],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    name: str = "",
) -> dict[str, Any]:
    """After minus before on the same items, with a paired bootstrap (one resample applied to both sides)."""
    n, means, draws = _paired_draws(metric, before, after, n_boot, seed, name)
    return _summarise(means, draws, level, n)


def compare(
    before: Mapping[str, Any], after: Mapping[str, Any], n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """Paired comparison of every dataset two per-item documents share, and of their average."""
    out: dict[str, Any] = {}
    all_draws, all_means, items = [], [], 0
    for name, entry in after["datasets"].items():
        if name not in before["datasets"]:
            continue
        metric = entry["metric"]
        n, means, draws = _paired_draws(metric, before["datasets"][name]["seeds"], entry["seeds"], n_boot, seed, name)
        out[name] = _summarise(means, draws, level, n)
        all_draws.append(draws)
        all_means.append(means)
        items += n
    average = None
    if all_means:
        average = _summarise(np.mean(all_means, axis=0).tolist(), np.mean(all_draws, axis=0), level, items)
    return {"datasets": out, "average": average, "n_boot": n_boot, "seed": seed}


def intervals(doc: Mapping[str, Any], n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """``dataset_interval`` of every dataset of a per-item document, and the interval of their average."""
    out, all_draws, means, items = {}, [], [], 0
    for name, entry in doc["datasets"].items():
        result = _interval(entry["metric"], entry["seeds"], n_boot, level, seed, name)
        all_draws.append(result.pop("draws"))
        means.append(result["mean"])
        items += result["n_items"]
        out[name] = result
    average = None
    if means:
        low, high = _percentiles(np.mean(all_draws, axis=0), level)
        average = {"mean": float(np.mean(means)), "low": low, "high": high, "level": level, "n_items": items}
    return {"datasets": out, "average": average, "n_boot": n_boot, "seed": seed}


def load_per_item(path: str | Path) -> dict[str, Any]:
    """A ``per_item.json`` document (``path`` may be the eval output folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "per_item.json"
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("datasets"), dict):
        raise ValueError(f"{path}: not a per-item document (no 'datasets' mapping)")
    return doc
