"""The run report's SentiBench section: a before/after change is called significant only by a paired bootstrap."""

from __future__ import annotations

import json

from compeff_hf.evaluation import stats
from compeff_hf.report import write_report

GOLD = ["positive", "negative"] * 100


def _cls(preds):
    return [{"gold": g, "pred": p} for g, p in zip(GOLD, preds, strict=True)]


def _write(folder, per_item):
    folder.mkdir(parents=True)
    datasets = {
        name: {"group": "bsa", "metric": "macro-F1", "mean": 100 * stats.score(e["metric"], e["seeds"]["42"])}
        for name, e in per_item.items()
    }
    average = sum(d["mean"] for d in datasets.values()) / len(datasets)
    scores = {"datasets": datasets, "groups": {}, "average": average, "n_datasets": len(datasets)}
    (folder / "results.json").write_text(json.dumps({"scores": scores}))
    (folder / "per_item.json").write_text(json.dumps({"version": 1, "datasets": per_item}))


def test_report_marks_only_a_paired_significant_change(tmp_path):
    before = [g if i % 10 < 6 else ("negative" if g == "positive" else "positive") for i, g in enumerate(GOLD)]
    wrong = [i for i, (g, p) in enumerate(zip(GOLD, before, strict=True)) if g != p]
    better = [g if i in wrong[:30] else p for i, (g, p) in enumerate(zip(GOLD, before, strict=True))]
    few = [{"tp_pred": 1, "n_pred": 2, "tp_gold": 1, "n_gold": 1}] * 5 + [{"tp_pred": 0, "n_pred": 1, "tp_gold": 0, "n_gold": 1}]  # fmt: skip
    fewer = [{"tp_pred": 1, "n_pred": 2, "tp_gold": 1, "n_gold": 1}] * 4 + [{"tp_pred": 0, "n_pred": 1, "tp_gold": 0, "n_gold": 1}] * 2  # fmt: skip
    _write(
        tmp_path / "eval_base",
        {
            "sst2": {"metric": "macro_f1", "seeds": {"42": _cls(before)}},
            "atsa_rest16": {"metric": "tuple_f1", "seeds": {"42": few}},
        },  # fmt: skip
    )
    _write(
        tmp_path / "eval",
        {
            "sst2": {"metric": "macro_f1", "seeds": {"42": _cls(better)}},
            "atsa_rest16": {"metric": "tuple_f1", "seeds": {"42": fewer}},
        },  # fmt: skip
    )
    report = write_report(tmp_path).read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in report.splitlines() if line.startswith("| ")}
    assert "| **yes** | 200 |" in rows["sst2"] and "+" in rows["sst2"].split(" | ")[3]
    assert "| no (noise) | 6 |" in rows["atsa_rest16"]  # -8.4 points on 6 items is noise
    assert rows["average"].endswith("| 206 |")
    assert "paired bootstrap (1000 resamples" in report


def test_report_without_per_item_records_says_so(tmp_path):
    for stage, mean in (("eval_base", 40.0), ("eval", 60.0)):
        (tmp_path / stage).mkdir()
        scores = {"datasets": {"sst2": {"mean": mean}}, "average": mean}
        (tmp_path / stage / "results.json").write_text(json.dumps({"scores": scores}))
    report = write_report(tmp_path).read_text()
    assert "| sst2 | 40.0 | 60.0 | +20.0 |  |  |  |" in report
    assert "cannot be told apart from noise" in report
