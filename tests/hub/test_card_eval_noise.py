"""The model card's evaluation part: item counts and intervals per figure, and before/after changes marked
significant only by the paired bootstrap."""

from __future__ import annotations

import json

from compeff_hf.evaluation import model_index_results, stats
from compeff_hf.hub.cards import build_model_card
from compeff_hf.hub.publish import eval_comparison

GOLD = ["positive", "negative"] * 100
BEFORE = [g if i % 10 < 6 else ("negative" if g == "positive" else "positive") for i, g in enumerate(GOLD)]
WRONG = [i for i, (g, p) in enumerate(zip(GOLD, BEFORE, strict=True)) if g != p]
AFTER = [g if i in WRONG[:30] else p for i, (g, p) in enumerate(zip(GOLD, BEFORE, strict=True))]
HIT = {"tp_pred": 1, "n_pred": 1, "tp_gold": 1, "n_gold": 1}
MISS = {"tp_pred": 0, "n_pred": 1, "tp_gold": 0, "n_gold": 1}


def _doc(preds, tuples):
    return {
        "version": 1,
        "datasets": {
            "sst2": {
                "metric": "macro_f1",
                "seeds": {"42": [{"gold": g, "pred": p} for g, p in zip(GOLD, preds, strict=True)]},
            },
            "atsa_rest16": {"metric": "tuple_f1", "seeds": {"42": tuples}},
        },
    }


def test_card_marks_only_the_paired_significant_change_and_counts_items(tmp_path):
    before, after = _doc(BEFORE, [HIT] * 4 + [MISS] * 2), _doc(AFTER, [HIT] * 3 + [MISS] * 3)
    results = {
        "protocol": {"k_shot": 4, "seeds": [42]},
        "scores": {
            "datasets": {
                "sst2": {
                    "group": "bsa",
                    "metric": "macro-F1",
                    "mean": 75.0,
                    "std": 0.0,
                    "n_items": 200,
                    "ci_low": 69.1,
                    "ci_high": 80.6,
                },  # fmt: skip
            },
            "groups": {},
            "average": 75.0,
            "n_datasets": 1,
        },
    }
    card = build_model_card(
        tmp_path,
        base_model="gemma-3-270m",
        datasets=None,
        hyperparameters={},
        training={},
        reproduce="compeff-hf run",
        eval_results=model_index_results(results),
        eval_comparison=stats.compare(before, after),
    )
    text = str(card)
    assert "| sst2 | test | macro-F1 | 75 | 4-shot, seeds [42], 200 test items, 95% CI 69.1-80.6 |" in text
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert rows["sst2"].count("| yes | 200 |") == 1 and "| 60.0 | 75.0 | +15.0 |" in rows["sst2"]
    assert rows["atsa_rest16"].endswith("| no (noise) | 6 |")  # -16.7 points on 6 items
    assert rows["average"].endswith("| 206 |")
    assert "paired bootstrap (1000" in text


def test_publish_compares_the_runs_own_eval_with_eval_base(tmp_path):
    for stage, doc in (("eval_base", _doc(BEFORE, [HIT])), ("eval", _doc(AFTER, [HIT]))):
        (tmp_path / stage).mkdir()
        (tmp_path / stage / "per_item.json").write_text(json.dumps(doc))
    result = eval_comparison(tmp_path, tmp_path / "eval" / "results.json")
    assert result["datasets"]["sst2"]["significant"] and result["datasets"]["sst2"]["n_items"] == 200
    assert eval_comparison(tmp_path, tmp_path / "other" / "results.json") is None  # someone else's results
    (tmp_path / "eval_base" / "per_item.json").unlink()
    assert eval_comparison(tmp_path, tmp_path / "eval" / "results.json") is None
