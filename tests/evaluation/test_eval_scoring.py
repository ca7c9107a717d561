"""scoring.py: per-task scores, seeds, groups and the SentiBench average, on hand-computed cases."""

from __future__ import annotations

import json

import pytest

from compeff_hf.evaluation.metrics import load_metric
from compeff_hf.evaluation.scoring import aggregate, item_records, oracle_predictions, parse_prediction, score_task
from compeff_hf.evaluation.tasks import TASKS

# An asymmetric case, so that macro, micro (= accuracy) and weighted F1 all differ:
#   a: P 2/3, R 1/2 -> F1 4/7;  b: P 1/3, R 1 -> F1 1/2;  c: F1 0
#   macro (4/7 + 1/2 + 0) / 3 = 5/14;  micro 3/6 = 1/2;  weighted (4 * 4/7 + 1/2) / 6 = 13/28
REFS = ["a", "a", "a", "a", "b", "c"]
PREDS = ["a", "a", "b", "b", "b", "a"]


def test_macro_f1_is_the_unweighted_mean_over_labels_not_micro_or_weighted():
    out = load_metric("macro_f1").compute(predictions=PREDS, references=REFS)
    assert out["macro_f1"] == pytest.approx(5 / 14)
    assert out["macro_f1"] != pytest.approx(1 / 2) and out["macro_f1"] != pytest.approx(13 / 28)
    assert out["accuracy"] == pytest.approx(1 / 2) and out["n"] == 6
    # a label only predicted (never gold) still counts in the mean, as sklearn's average='macro'
    out = load_metric("macro_f1").compute(predictions=["a", "z"], references=["a", "a"])
    assert out["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)
    assert load_metric("macro_f1").compute(predictions=[], references=[]) == {"macro_f1": 0.0, "accuracy": 0.0, "n": 0}


def test_score_task_classification_lowercases_gold_and_reports_both_figures():
    items = [{"sentence": "s", "label": label.upper()} for label in REFS]
    out = score_task(TASKS["sst2"], items, PREDS)
    assert out == {"score": pytest.approx(5 / 14), "macro_f1": pytest.approx(5 / 14), "accuracy": pytest.approx(0.5)}


def _atsa_item(*pairs):
    aspects = [
        {"target": t, "category": "FOOD#QUALITY", "polarity": p, "from": str(i), "to": str(i + 1)}
        for i, (t, p) in enumerate(pairs)
    ]
    return {"sentence": " ".join(t for t, _ in pairs), "aspects": aspects}


def test_score_task_tuple_f1_is_micro_over_sentences():
    items = [_atsa_item(("pasta", "negative"), ("wine", "positive")), _atsa_item(("bread", "neutral"))]
    # sentence 0: 1 of 2 found, plus an invalid item; sentence 1: "pasta" is right for sentence 0, not for 1
    preds = [[["pasta", "negative"], []], [["pasta", "negative"]]]
    out = score_task(TASKS["atsa_rest16"], items, preds)
    p, r = 1 / 3, 1 / 3
    assert out["precision"] == pytest.approx(p) and out["recall"] == pytest.approx(r)
    assert out["score"] == out["f1"] == pytest.approx(2 * p * r / (p + r))
    perfect = score_task(TASKS["atsa_rest16"], items, oracle_predictions(TASKS["atsa_rest16"], items))
    assert perfect["score"] == 1.0


def test_score_task_opener_uses_graph_f1_with_gold_opinions():
    text = "I think the food was very good"
    gold = {"Source": [["I"], ["0:1"]], "Target": [["food"], ["12:16"]], "Polar_expression": [["very good"], ["21:30"]], "Polarity": "Positive"}  # fmt: skip
    items = [{"sentence": text, "opinions": [gold]}, {"sentence": "nothing here", "opinions": []}]
    out = score_task(TASKS["opener"], items, [[["I", "food", "good", "positive"]], []])
    assert out["precision"] == pytest.approx(1.0) and out["recall"] == pytest.approx(5 / 6)
    assert out["score"] == out["f1"] == pytest.approx(2 * (5 / 6) / (1 + 5 / 6))
    wrong = score_task(TASKS["opener"], items, [[["I", "food", "good", "negative"]], []])
    assert wrong["score"] == pytest.approx(0.0)


def test_oracle_predictions_are_the_lowercased_labels_and_parsed_gold():
    assert oracle_predictions(TASKS["sst2"], [{"label": "Positive"}]) == ["positive"]
    item = _atsa_item(("pasta", "negative"))
    assert oracle_predictions(TASKS["atsa_rest16"], [item]) == [[("pasta", "negative")]]


def test_parse_prediction_takes_the_answer_after_the_demos():
    item = _atsa_item(("pasta", "negative"))
    demo = 'Sentence: x\nOutput: [{"aspect_term": "x", "sentiment": "positive"}]\n\n'
    text = f'{demo}Sentence: pasta\nOutput: [{{"aspect_term": "pasta", "sentiment": "negative"}}]\n\nSentence: y'
    out = parse_prediction(TASKS["atsa_rest16"], item, text, k_shot=1)
    assert out == {"answer": '[{"aspect_term": "pasta", "sentiment": "negative"}]', "tuples": [["pasta", "negative"]]}
    assert parse_prediction(TASKS["atsa_rest16"], item, text, k_shot=0)["tuples"] == [[]]  # the demo's "x": invalid


def _seeds(*scores, accuracy=None):
    return {
        42 + 10 * i: ({"score": s} if accuracy is None else {"score": s, "accuracy": accuracy[i]})
        for i, s in enumerate(scores)
    }


def test_aggregate_average_is_the_mean_of_datasets_not_of_group_means():
    tasks = [TASKS[n] for n in ("sst2", "imdb", "tweeteval", "atsa_rest16", "opener")]
    per_seed = {
        "sst2": _seeds(0.5, 0.7, accuracy=[0.6, 0.8]),
        "imdb": _seeds(0.9, 0.9, accuracy=[0.9, 0.9]),
        "atsa_rest16": _seeds(0.2, 0.2),
        "opener": _seeds(0.1, 0.4),
    }  # tweeteval did not run: no msa group
    out = aggregate(per_seed, tasks)
    sst2 = out["datasets"]["sst2"]
    assert sst2["mean"] == pytest.approx(60.0) and sst2["std"] == pytest.approx(10.0)  # population std
    assert sst2["accuracy"] == pytest.approx(70.0) and sst2["metric"] == "macro-F1" and sst2["group"] == "bsa"
    assert sst2["per_seed"] == {"42": {"score": 0.5, "accuracy": 0.6}, "52": {"score": 0.7, "accuracy": 0.8}}
    assert out["datasets"]["atsa_rest16"]["metric"] == "micro-F1" and "accuracy" not in out["datasets"]["atsa_rest16"]
    assert out["datasets"]["opener"]["metric"] == "graph-F1" and out["datasets"]["opener"]["mean"] == pytest.approx(25)
    assert out["groups"] == {
        "bsa": {"mean": pytest.approx(75.0), "datasets": 2},
        "fsa": {"mean": pytest.approx(22.5), "datasets": 2},
    }
    # datasets: (60 + 90 + 20 + 25) / 4 = 48.75; the mean of the group means would be (75 + 22.5) / 2 = 48.75 too
    # here, so check a case with unequal group sizes as well
    assert out["average"] == pytest.approx(48.75) and out["n_datasets"] == 4
    del per_seed["opener"]
    out = aggregate(per_seed, tasks)
    assert out["average"] == pytest.approx((60 + 90 + 20) / 3)  # not (75 + 20) / 2 = 47.5
    assert list(out["datasets"]) == ["sst2", "imdb", "atsa_rest16"]  # benchmark order, skipped ones left out


def test_aggregate_single_seed_has_zero_std_and_empty_input_averages_zero():
    out = aggregate({"sst2": {42: {"score": 0.25, "accuracy": 0.5}}}, [TASKS["sst2"]])
    assert out["datasets"]["sst2"]["std"] == 0.0 and out["datasets"]["sst2"]["mean"] == pytest.approx(25.0)
    assert aggregate({}, [TASKS["sst2"]]) == {"datasets": {}, "groups": {}, "average": 0.0, "n_datasets": 0}


def test_graph_f1_building_blocks():
    from compeff_hf.evaluation.metrics.sentiment_graph_f1.sentiment_graph_f1 import space_spans, token_set

    assert space_spans("a  bc d") == [(0, 1), (2, 2), (3, 5), (6, 7)]  # a double space makes an empty token
    assert space_spans(" a") == [(1, 2)] and space_spans("a ") == [(0, 1)] and space_spans("") == []
    spans = space_spans("the food was very good")
    assert token_set(["4:8"], spans) == frozenset({1})
    assert token_set(["13:22"], spans) == frozenset({3, 4})  # "very good"
    assert token_set(["0:3", "18:22"], spans) == frozenset({0, 4})
    assert token_set([], spans) == frozenset()


def _sent(text, *ops):
    return json.dumps({"text": text, "opinions": list(ops)})


def _op(source, target, expr, polarity="Positive"):
    return {"Source": source, "Target": target, "Polar_expression": expr, "Polarity": polarity}


def test_graph_f1_empty_holder_matches_empty_and_counts_every_tuple():
    m = load_metric("sentiment_graph_f1")
    text = "the food was very good but the wine bad"
    food = _op([[], []], [["food"], ["4:8"]], [["very good"], ["13:22"]])
    wine = _op([[], []], [["wine"], ["31:35"]], [["bad"], ["36:39"]], "Negative")
    out = m.compute(predictions=[_sent(text, food)], references=[_sent(text, food, wine)])
    assert out["precision"] == pytest.approx(1.0) and out["recall"] == pytest.approx(0.5)
    # a holder on one side only: no overlap in the holder part, so no credit
    held = _op([["the"], ["0:3"]], [["food"], ["4:8"]], [["very good"], ["13:22"]])
    out = m.compute(predictions=[_sent(text, held)], references=[_sent(text, food)])
    assert out["f1"] == pytest.approx(0.0)
    # no prediction: precision 0 (not 1 as tuple F1), recall 0
    out = m.compute(predictions=[_sent(text)], references=[_sent(text, food)])
    assert out["precision"] == 0.0 and out["recall"] == 0.0 and out["f1"] == pytest.approx(0.0)
    # partial target overlap: credit (1 + 1/2 + 1) / 3 on the prediction side
    wide = _op([[], []], [["the food"], ["0:8"]], [["very good"], ["13:22"]])
    out = m.compute(predictions=[_sent(text, wide)], references=[_sent(text, food)])
    assert out["precision"] == pytest.approx((1 + 0.5 + 1) / 3) and out["recall"] == pytest.approx(1.0)
    # the best-overlapping gold tuple gives the credit
    out = m.compute(predictions=[_sent(text, food)], references=[_sent(text, wide, food)])
    assert out["precision"] == pytest.approx(1.0)


def test_tuple_f1_edge_cases():
    m = load_metric("tuple_f1")
    assert m.compute(predictions=[[]], references=[[]]) == {"f1": 1.0, "precision": 1.0, "recall": 1.0, "n_pred": 0, "n_gold": 0}  # fmt: skip
    out = m.compute(predictions=[[]], references=[[["a", "b"]]])
    assert (out["precision"], out["recall"], out["f1"]) == (1.0, 0.0, 0.0)
    out = m.compute(predictions=[[["a", "b"]]], references=[[]])
    assert (out["precision"], out["recall"], out["f1"]) == (0.0, 1.0, 0.0)
    out = m.compute(predictions=[[["x", "y"]]], references=[[["a", "b"]]])
    assert out["f1"] == 0.0
    # the right tuple in the wrong sentence is not a match
    out = m.compute(predictions=[[], [["a", "b"]]], references=[[["a", "b"]], []])
    assert out["precision"] == 0.0 and out["recall"] == 0.0
    # gold duplicates are each found by one prediction (gold is a list, predictions a set for recall)
    out = m.compute(predictions=[[["a", "b"]]], references=[[["a", "b"], ["a", "b"]]])
    assert out["recall"] == 1.0 and out["n_gold"] == 2


def test_graph_f1_partial_holder_and_expression_credit_on_each_side():
    m = load_metric("sentiment_graph_f1")
    text = "my old friend said the food was very good"
    # my=0 old=1 friend=2 said=3 the=4 food=5 was=6 very=7 good=8
    gold = _op([["my old friend"], ["0:13"]], [["food"], ["23:27"]], [["very good"], ["32:41"]])
    pred = _op([["friend"], ["7:13"]], [["food"], ["23:27"]], [["good"], ["37:41"]])
    out = m.compute(predictions=[_sent(text, pred)], references=[_sent(text, gold)])
    # prediction side: holder 1/1, target 1/1, expression 1/1 -> 1; gold side: 1/3, 1, 1/2 -> 11/18
    assert out["precision"] == pytest.approx(1.0) and out["recall"] == pytest.approx((1 / 3 + 1 + 1 / 2) / 3)


def test_predictions_and_items_must_pair_up():
    items = [{"sentence": "s", "label": "a"}] * 2
    for task, preds in ((TASKS["sst2"], ["a"]), (TASKS["atsa_rest16"], [[]]), (TASKS["opener"], [[]])):
        with pytest.raises(ValueError):
            score_task(task, [dict(i, aspects=[], opinions=[]) for i in items], preds)
        with pytest.raises(ValueError):
            item_records(task, [dict(i, aspects=[], opinions=[]) for i in items], preds)


def test_graph_f1_needs_an_expression_overlap_and_holder_target_overlaps():
    m = load_metric("sentiment_graph_f1")
    text = "I said the food was good and the wine was bad"
    # I=0 said=1 the=2 food=3 was=4 good=5 and=6 the=7 wine=8 was=9 bad=10
    gold = _op([["I"], ["0:1"]], [["food"], ["11:15"]], [["good"], ["20:24"]])
    other_expression = _op([["I"], ["0:1"]], [["food"], ["11:15"]], [["bad"], ["42:45"]])
    other_target = _op([["I"], ["0:1"]], [["wine"], ["33:37"]], [["good"], ["20:24"]])
    no_holder = _op([[], []], [["food"], ["11:15"]], [["good"], ["20:24"]])
    for pred in (other_expression, other_target, no_holder):
        out = m.compute(predictions=[_sent(text, pred)], references=[_sent(text, gold)])
        assert out["precision"] == 0.0 and out["recall"] == 0.0
    # two predictions, one right: credits add up (1 + 0) / 2
    out = m.compute(predictions=[_sent(text, gold, other_target)], references=[_sent(text, gold)])
    assert out["precision"] == pytest.approx(0.5) and out["recall"] == pytest.approx(1.0)
    # partial target and holder overlap both count, on both sides
    wide = _op([["I said"], ["0:6"]], [["the food"], ["7:15"]], [["good"], ["20:24"]])
    out = m.compute(predictions=[_sent(text, wide)], references=[_sent(text, gold)])
    assert out["precision"] == pytest.approx((0.5 + 0.5 + 1) / 3) and out["recall"] == pytest.approx(1.0)


def test_graph_f1_credits_of_several_tuples_add_up():
    m = load_metric("sentiment_graph_f1")
    text = "I said the food was good and the wine was bad"
    food = _op([["I"], ["0:1"]], [["food"], ["11:15"]], [["good"], ["20:24"]])
    wine = _op([["I"], ["0:1"]], [["wine"], ["33:37"]], [["bad"], ["42:45"]], "Negative")
    wide = _op([["I said"], ["0:6"]], [["the food"], ["7:15"]], [["good"], ["20:24"]])
    out = m.compute(predictions=[_sent(text, wide, wine)], references=[_sent(text, food, wine)])
    assert out["precision"] == pytest.approx(((0.5 + 0.5 + 1) / 3 + 1) / 2) and out["recall"] == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["macro_f1", "tuple_f1", "sentiment_graph_f1"])
def test_metric_cards_describe_inputs_and_cite(name):
    import datasets

    metric = type(load_metric(name))()  # a fresh instance: its info is read again
    string = datasets.Value("string")
    tuples = datasets.Sequence(datasets.Sequence(string))
    kind = tuples if name == "tuple_f1" else string
    assert metric.features == datasets.Features({"predictions": kind, "references": kind})
    assert metric.description.split()[0] in ("Macro-averaged", "Micro", "Sentiment-graph")
    assert "Args:" in metric.inputs_description and "Returns:" in metric.inputs_description
    assert ("Targeted Distillation" in metric.citation) == (name == "macro_f1")
    if name != "macro_f1":
        assert metric.citation == ""
