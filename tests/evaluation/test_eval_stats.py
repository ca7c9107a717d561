"""stats.py: per-item records reproduce the metrics; seeded bootstrap intervals; the paired before/after test."""

from __future__ import annotations

import json

import pytest

from compeff_hf.evaluation import stats
from compeff_hf.evaluation.scoring import item_records, score_task
from compeff_hf.evaluation.tasks import TASKS


def _cls(golds, preds):
    return [{"gold": g, "pred": p} for g, p in zip(golds, preds, strict=True)]


def _atsa_item(*pairs):
    aspects = [
        {"target": t, "category": "FOOD#QUALITY", "polarity": p, "from": str(i), "to": str(i + 1)}
        for i, (t, p) in enumerate(pairs)
    ]
    return {"sentence": " ".join(t for t, _ in pairs) or "nothing", "aspects": aspects}


def test_records_reproduce_every_metric():
    refs, preds = ["a", "a", "a", "a", "b", "c"], ["a", "a", "b", "b", "b", "a"]
    items = [{"sentence": "s", "label": r.upper()} for r in refs]
    records = item_records(TASKS["sst2"], items, preds)
    assert stats.score("macro_f1", records) == pytest.approx(5 / 14)
    assert stats.score("macro_f1", records) == pytest.approx(score_task(TASKS["sst2"], items, preds)["score"])

    atsa = TASKS["atsa_rest16"]
    items = [_atsa_item(("pasta", "negative"), ("wine", "positive")), _atsa_item(("bread", "neutral")), _atsa_item()]
    preds = [[["pasta", "negative"], [], ["pasta", "negative"]], [["pasta", "negative"]], []]
    records = item_records(atsa, items, preds)
    assert records[0] == {"tp_pred": 2, "n_pred": 3, "tp_gold": 1, "n_gold": 2}
    assert records[2] == {"tp_pred": 0, "n_pred": 0, "tp_gold": 0, "n_gold": 0}
    assert stats.score("tuple_f1", records) == pytest.approx(score_task(atsa, items, preds)["score"])
    assert stats.score("tuple_f1", records[2:]) == 1.0  # nothing predicted, nothing gold: P = R = 1
    assert stats.score("tuple_f1", [{"tp_pred": 0, "n_pred": 1, "tp_gold": 0, "n_gold": 1}]) == 0.0

    opener = TASKS["opener"]
    text = "I think the food was very good"
    gold = {"Source": [["I"], ["0:1"]], "Target": [["food"], ["12:16"]], "Polar_expression": [["very good"], ["21:30"]], "Polarity": "Positive"}  # fmt: skip
    items = [{"sentence": text, "opinions": [gold]}, {"sentence": "none", "opinions": []}]
    preds = [[["I", "food", "good", "positive"], ["NULL", "food", "think", "negative"]], []]
    records = item_records(opener, items, preds)
    assert records[0] == {"tp_pred": pytest.approx(1.0), "n_pred": 2, "tp_gold": pytest.approx(5 / 6), "n_gold": 1}
    assert stats.score("sentiment_graph_f1", records) == pytest.approx(score_task(opener, items, preds)["score"])
    assert stats.score("sentiment_graph_f1", records[1:]) == pytest.approx(0.0)  # graph F1: nothing scores 0
    with pytest.raises(ValueError, match="unknown metric"):
        stats.score("bleu", records)


def _doc(per_dataset):
    return {"version": 1, "datasets": per_dataset}


GOLD = ["pos", "neg"] * 100


def _flip(preds, indices):
    return [g if i in indices else p for i, (g, p) in enumerate(zip(GOLD, preds, strict=True))]


BEFORE = [g if i % 10 < 7 else ("neg" if g == "pos" else "pos") for i, g in enumerate(GOLD)]  # 70% right


def test_interval_is_seeded_contains_the_mean_and_reports_seed_spread():
    per_seed = {"42": _cls(GOLD, BEFORE), "52": _cls(GOLD, _flip(BEFORE, set(range(7, 200, 10))))}
    a = stats.dataset_interval("macro_f1", per_seed, n_boot=300, seed=0, name="sst2")
    assert a == stats.dataset_interval("macro_f1", per_seed, n_boot=300, seed=0, name="sst2")
    assert a != stats.dataset_interval("macro_f1", per_seed, n_boot=300, seed=1, name="sst2")
    scores = [100 * stats.score("macro_f1", r) for r in per_seed.values()]
    assert a["mean"] == pytest.approx(sum(scores) / 2) and a["low"] < a["mean"] < a["high"]
    assert a["seed_min"] == pytest.approx(min(scores)) and a["seed_max"] == pytest.approx(max(scores))
    assert a["seed_std"] == pytest.approx(abs(scores[0] - scores[1]) / 2)  # population std of two
    assert a["n_items"] == 200 and a["n_seeds"] == 2
    assert 2 < a["high"] - a["low"] < 20  # about +-1.96 * sqrt(.75 * .25 / 200) x100 = +-6
    perfect = stats.dataset_interval("macro_f1", {"42": _cls(GOLD, GOLD)}, n_boot=50)
    assert (perfect["low"], perfect["mean"], perfect["high"]) == (100.0, 100.0, 100.0)
    with pytest.raises(ValueError, match="same, non-zero number of items"):
        stats.dataset_interval("macro_f1", {"42": _cls(GOLD, BEFORE), "52": _cls(GOLD[:4], BEFORE[:4])})


def test_paired_bootstrap_finds_a_small_consistent_gain_an_unpaired_one_would_miss():
    # after = before with 8 of 200 wrong items fixed and nothing broken: +4 points of accuracy, always >= 0
    # within a resample of the same items, while each side alone is uncertain by about +-6 points.
    wrong = [i for i, (g, p) in enumerate(zip(GOLD, BEFORE, strict=True)) if g != p]
    after = _flip(BEFORE, set(wrong[:8]))
    result = stats.paired_difference("macro_f1", {"42": _cls(GOLD, BEFORE)}, {"42": _cls(GOLD, after)}, n_boot=500)
    assert result["delta"] == pytest.approx(
        100 * (stats.score("macro_f1", _cls(GOLD, after)) - stats.score("macro_f1", _cls(GOLD, BEFORE)))
    )
    assert result["significant"] and result["low"] > 0 and result["p_value"] < 0.05 and result["n_items"] == 200
    before_ci = stats.dataset_interval("macro_f1", {"42": _cls(GOLD, BEFORE)}, n_boot=500)
    after_ci = stats.dataset_interval("macro_f1", {"42": _cls(GOLD, after)}, n_boot=500)
    assert before_ci["high"] > after_ci["low"]  # the two intervals overlap: only pairing shows the gain


def test_paired_bootstrap_calls_a_few_item_difference_noise():
    gold, before = GOLD[:6], ["pos", "neg", "pos", "pos", "neg", "neg"]  # 4 of 6 right
    after = ["pos", "neg", "neg", "neg", "neg", "neg"]  # one fixed, one broken... and one more broken
    result = stats.paired_difference("macro_f1", {"42": _cls(gold, before)}, {"42": _cls(gold, after)}, n_boot=500)
    assert not result["significant"] and result["low"] < 0 < result["high"] and result["p_value"] > 0.05
    same = stats.paired_difference("macro_f1", {"42": _cls(gold, before)}, {"42": _cls(gold, before)}, n_boot=100)
    assert same["delta"] == 0.0 and (same["low"], same["high"]) == (0.0, 0.0) and not same["significant"]
    assert same["p_value"] == 1.0


def test_paired_bootstrap_refuses_different_items():
    with pytest.raises(ValueError, match="different numbers of items"):
        stats.paired_difference("macro_f1", {"42": _cls(GOLD, BEFORE)}, {"42": _cls(GOLD[:10], BEFORE[:10])})
    with pytest.raises(ValueError, match="not the same items"):
        stats.paired_difference("macro_f1", {"42": _cls(GOLD, BEFORE)}, {"42": _cls(GOLD[::-1], BEFORE)})


def test_compare_and_intervals_of_documents(tmp_path):
    wrong = [i for i, (g, p) in enumerate(zip(GOLD, BEFORE, strict=True)) if g != p]
    counts = [{"tp_pred": 1, "n_pred": 1, "tp_gold": 1, "n_gold": 2}] * 30
    before = _doc(
        {
            "sst2": {"metric": "macro_f1", "seeds": {"42": _cls(GOLD, BEFORE), "52": _cls(GOLD, BEFORE)}},
            "atsa_rest16": {"metric": "tuple_f1", "seeds": {"42": counts}},
            "imdb": {"metric": "macro_f1", "seeds": {"42": _cls(GOLD, BEFORE)}},
        }
    )
    fixed = _cls(GOLD, _flip(BEFORE, set(wrong[:20])))
    after = _doc(
        {
            "sst2": {"metric": "macro_f1", "seeds": {"42": fixed, "52": fixed}},
            "atsa_rest16": {"metric": "tuple_f1", "seeds": {"42": counts}},
        }
    )
    (tmp_path / "per_item.json").write_text(json.dumps(after))
    assert stats.load_per_item(tmp_path) == after
    result = stats.compare(before, stats.load_per_item(tmp_path / "per_item.json"), n_boot=200)
    assert set(result["datasets"]) == {"sst2", "atsa_rest16"}  # imdb only ran before
    gain = 100 * (stats.score("macro_f1", fixed) - stats.score("macro_f1", _cls(GOLD, BEFORE)))
    assert result["datasets"]["sst2"]["significant"] and result["datasets"]["sst2"]["delta"] == pytest.approx(gain)
    assert result["datasets"]["atsa_rest16"]["delta"] == 0.0 and not result["datasets"]["atsa_rest16"]["significant"]
    assert result["average"]["delta"] == pytest.approx(gain / 2) and result["average"]["n_items"] == 230
    found = stats.intervals(before, n_boot=200)
    assert found["datasets"]["atsa_rest16"]["mean"] == pytest.approx(100 * 2 * 1 * 0.5 / 1.5)
    assert found["average"]["mean"] == pytest.approx(sum(d["mean"] for d in found["datasets"].values()) / 3)
    assert found["average"]["low"] < found["average"]["mean"] < found["average"]["high"]
    assert "draws" not in found["datasets"]["sst2"]
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(ValueError, match="not a per-item document"):
        stats.load_per_item(tmp_path / "bad.json")
