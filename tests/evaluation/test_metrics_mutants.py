"""Metric and aggregation details that mutation testing (`make mutation`) showed no test pinned: macro (not micro
or weighted) F1 on an unbalanced case, tuple-F1 edge cases, the graph-F1 token spans, and the SentiBench average
as the mean of datasets (not of groups)."""

from __future__ import annotations

import importlib
import json

import pytest

from compeff_hf.evaluation.metrics import METRICS, load_metric
from compeff_hf.evaluation.scoring import aggregate, score_task
from compeff_hf.evaluation.tasks import TASKS

CLASSES = {"macro_f1": "MacroF1", "tuple_f1": "TupleF1", "sentiment_graph_f1": "SentimentGraphF1"}


def _by_import(name: str):
    """The same module imported as a package module (evaluate.load runs a copy of it from its cache)."""
    module = importlib.import_module(f"compeff_hf.evaluation.metrics.{name}.{name}")
    return getattr(module, CLASSES[name])()


@pytest.fixture(params=["evaluate.load", "import"])
def metric(request):
    return load_metric if request.param == "evaluate.load" else _by_import


def test_macro_f1_on_an_unbalanced_case(metric):
    # gold: 4 x pos, 1 x neg; predicted all pos. pos: P 4/5, R 1 -> F1 8/9; neg: F1 0.
    # macro (8/9 + 0)/2 = 0.444; micro = accuracy = 0.8; weighted (4*8/9)/5 = 0.711
    out = metric("macro_f1").compute(predictions=["pos"] * 5, references=["pos"] * 4 + ["neg"])
    assert out == {"macro_f1": pytest.approx(4 / 9), "accuracy": pytest.approx(0.8), "n": 5}


def test_macro_f1_of_nothing_is_zero(metric):
    assert metric("macro_f1").compute(predictions=[], references=[]) == {"macro_f1": 0.0, "accuracy": 0.0, "n": 0}


def test_tuple_f1_edges(metric):
    metric = metric("tuple_f1")
    # nothing predicted and nothing to find: P = R = 1
    assert metric.compute(predictions=[[]], references=[[]]) == {
        "f1": 1.0, "precision": 1.0, "recall": 1.0, "n_pred": 0, "n_gold": 0}  # fmt: skip
    # a tuple right for another sentence is wrong for this one
    out = metric.compute(predictions=[[], [["food", "pos"]]], references=[[["food", "pos"]], []])
    assert out == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "n_pred": 1, "n_gold": 1}
    # nothing predicted, something to find: P = 1 by convention, R = 0, F1 = 0
    out = metric.compute(predictions=[[]], references=[[["food", "pos"]]])
    assert (out["precision"], out["recall"], out["f1"]) == (1.0, 0.0, 0.0)


def _graph_module():
    return importlib.import_module("compeff_hf.evaluation.metrics.sentiment_graph_f1.sentiment_graph_f1")


def test_graph_token_spans():
    graph = _graph_module()
    assert graph.space_spans("a bb  c") == [(0, 1), (2, 4), (5, 5), (6, 7)]
    assert graph.space_spans(" a") == [(1, 2)] and graph.space_spans("a ") == [(0, 1)] and graph.space_spans("") == []
    spans = graph.space_spans("the food was very good")
    assert graph.token_set(["4:8"], spans) == {1}
    assert graph.token_set(["13:22", "0:3"], spans) == {0, 3, 4}


def test_graph_f1_takes_the_best_overlap_and_counts_every_tuple(metric):
    text = "the food was very good but the wine bad"
    food = {"Source": [[], []], "Target": [["food"], ["4:8"]], "Polar_expression": [["very good"], ["13:22"]], "Polarity": "Positive"}  # fmt: skip
    wine = {"Source": [[], []], "Target": [["wine"], ["31:35"]], "Polar_expression": [["bad"], ["36:39"]], "Polarity": "Negative"}  # fmt: skip
    half = dict(food, Polar_expression=[["good"], ["18:22"]])
    gold = json.dumps({"text": text, "opinions": [food, wine]})
    pred = json.dumps({"text": text, "opinions": [half, food]})
    out = metric("sentiment_graph_f1").compute(predictions=[pred], references=[gold])
    # precision: half gets its best match food (1 + 1 + 1)/3 = 1 (the half expression lies inside), food 1 -> 1
    # recall: food best-matched by food (1), wine unmatched (0) -> 1/2
    assert out["precision"] == pytest.approx(1.0) and out["recall"] == pytest.approx(0.5)
    assert out["f1"] == pytest.approx(2 / 3)


def _seed(score, **extra):
    return {"score": score, **extra}


def test_aggregate_averages_datasets_not_groups():
    tasks = [TASKS["imdb"], TASKS["sst2"], TASKS["opener"]]  # two bsa datasets, one fsa
    per_seed = {
        "imdb": {42: _seed(0.9, accuracy=0.9), 52: _seed(0.7, accuracy=0.8)},
        "sst2": {42: _seed(0.5, accuracy=0.6)},
        "opener": {42: _seed(0.2), 52: _seed(0.4)},
    }
    out = aggregate(per_seed, tasks)
    imdb, sst2, opener = (out["datasets"][n] for n in ("imdb", "sst2", "opener"))
    assert imdb["mean"] == pytest.approx(80.0) and imdb["std"] == pytest.approx(10.0)
    assert imdb["accuracy"] == pytest.approx(85.0) and "accuracy" not in opener
    assert sst2["std"] == 0.0 and imdb["per_seed"] == {
        "42": {"score": 0.9, "accuracy": 0.9},
        "52": {"score": 0.7, "accuracy": 0.8},
    }
    assert (imdb["metric"], opener["metric"]) == ("macro-F1", "graph-F1")
    assert out["groups"] == {
        "bsa": {"mean": pytest.approx(65.0), "datasets": 2},
        "fsa": {"mean": pytest.approx(30.0), "datasets": 1},
    }
    # (80 + 50 + 30) / 3, not the mean of group means (65 + 30) / 2
    assert out["average"] == pytest.approx(160 / 3) and out["n_datasets"] == 3


def test_aggregate_of_nothing():
    assert aggregate({}, [TASKS["imdb"]]) == {"datasets": {}, "groups": {}, "average": 0.0, "n_datasets": 0}


def test_tuple_tasks_are_micro_f1():
    out = aggregate({"atsa_rest16": {42: _seed(0.5)}}, [TASKS["atsa_rest16"]])
    assert out["datasets"]["atsa_rest16"]["metric"] == "micro-F1"


def test_classification_scores_lowercase_gold_labels():
    task = TASKS["sst2"]
    items = [
        {"sentence": "x", "label": "Positive"},
        {"sentence": "y", "label": "NEGATIVE"},
        {"sentence": "z", "label": "positive"},
    ]
    out = score_task(task, items, ["positive", "positive", "positive"])
    assert out == {"score": pytest.approx(0.4), "macro_f1": pytest.approx(0.4), "accuracy": pytest.approx(2 / 3)}


def test_every_shipped_metric_loads():
    assert set(METRICS) == {"macro_f1", "tuple_f1", "sentiment_graph_f1"}
    for name in METRICS:
        assert load_metric(name) is load_metric(name)


def test_parse_prediction_takes_the_answer_after_the_demos():
    from compeff_hf.evaluation.scoring import parse_prediction

    text = 'Output: [{"aspect_term": "x", "sentiment": "positive"}]\nOutput: [{"aspect_term": "wine", "sentiment": "negative"}]'
    out = parse_prediction(TASKS["atsa_rest16"], {"sentence": "the wine was bad"}, text, 1)
    assert out == {"answer": '[{"aspect_term": "wine", "sentiment": "negative"}]', "tuples": [["wine", "negative"]]}


def test_a_dataset_without_seeds_is_skipped_not_the_end():
    out = aggregate({"sst2": {42: _seed(0.5, accuracy=0.5)}}, [TASKS["imdb"], TASKS["sst2"]])
    assert list(out["datasets"]) == ["sst2"]


def test_tuple_task_scores_carry_f1_precision_recall():
    task = TASKS["atsa_rest16"]
    items = [
        {
            "sentence": "the wine was bad",
            "aspects": [
                {"from": "4", "to": "8", "target": "wine", "category": "DRINKS#QUALITY", "polarity": "negative"}
            ],
        }
    ]
    out = score_task(task, items, [[["wine", "negative"], ["x", "positive"]]])
    assert out == {"score": pytest.approx(2 / 3), "f1": pytest.approx(2 / 3), "precision": 0.5, "recall": 1.0}


def test_tuple_f1_hand_computed_through_both_loaders(metric):
    preds = [[["pasta", "negative"], ["pasta", "negative"], []], [["wine", "positive"]]]
    refs = [[["pasta", "negative"], ["bread", "positive"]], [["wine", "neutral"]]]
    out = metric("tuple_f1").compute(predictions=preds, references=refs)
    assert (out["precision"], out["recall"]) == (0.5, pytest.approx(1 / 3)) and out["f1"] == pytest.approx(0.4)


def _op(source, target, expression, polarity):
    return {"Source": source, "Target": target, "Polar_expression": expression, "Polarity": polarity}


def test_graph_f1_needs_every_part_to_overlap_and_the_polarity_to_agree(metric):
    text = "I think the food was very good"
    gold = _op([[], []], [["food"], ["12:16"]], [["very good"], ["21:30"]], "Positive")
    graph = metric("sentiment_graph_f1")

    def f1(pred):
        return graph.compute(
            predictions=[json.dumps({"text": text, "opinions": [pred]})],
            references=[json.dumps({"text": text, "opinions": [gold]})],
        )

    assert f1(dict(gold, Polarity="Negative"))["f1"] == pytest.approx(0.0)
    assert f1(dict(gold, Target=[["the"], ["8:11"]]))["f1"] == pytest.approx(0.0)  # expression alone is not enough
    # partial holder and expression: precision (1/2 + 1 + 1/2) / 3, recall (1 + 1 + 1) / 3
    gold_i = dict(gold, Source=[["I"], ["0:1"]], Polar_expression=[["good"], ["26:30"]])
    pred = dict(gold, Source=[["I think"], ["0:7"]])
    out = graph.compute(
        predictions=[json.dumps({"text": text, "opinions": [pred]})],
        references=[json.dumps({"text": text, "opinions": [gold_i]})],
    )
    assert out["precision"] == pytest.approx(2 / 3) and out["recall"] == pytest.approx(1.0)
    assert out["f1"] == pytest.approx(0.8)
