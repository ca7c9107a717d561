"""Parsing details that mutation testing (`make mutation`) showed no test pinned: which block is the answer, the
JSON repair span, each task's validation (every polarity, missing keys, wrong key counts), the gold tuples and the
SemEval opinions built for OpeNER."""

from __future__ import annotations

import pytest

from compeff_hf.evaluation.parsers import (
    INVALID,
    NOT_FOUND,
    extract_answer,
    gold_tuples,
    load_json_list,
    parse_tuples,
    tuples_to_opinions,
)
from compeff_hf.evaluation.tasks import TASKS

SENTENCE = "The pasta was cold but the wine great"


def test_the_answer_is_the_block_after_the_demos():
    demos = 'Output: ["d1"]\nOutput: ["d2"]\n'
    assert extract_answer(demos + 'Output: ["answer"]', 2) == '["answer"]'
    assert extract_answer(demos + 'Output: ["answer"]\nOutput: ["extra"]', 2) == '["answer"]'
    # one block short: the tail after the last Output:, cut at its LAST brace and closed
    assert extract_answer(demos + 'Output: [{"a": 1}, {"b": 2}, {"c"', 2) == '[{"a": 1}, {"b": 2}]'
    assert extract_answer(demos + "Output: nothing", 2) == NOT_FOUND


def test_json_repair_takes_the_first_to_last_bracket():
    assert load_json_list("noise [1, [2, 3], 4]x") == [1, [2, 3], 4]
    assert load_json_list("x [1] ]") == []  # the last ], not the first: the span is no JSON
    assert load_json_list('{"a": 1}') == [] and load_json_list("no json") == []


@pytest.mark.parametrize("pol", ["positive", "neutral", "negative", "conflict"])
def test_atsa_polarities(pol):
    answer = f'[{{"aspect_term": "pasta", "sentiment": "{pol}"}}]'
    assert parse_tuples(TASKS["atsa_rest16"], answer, SENTENCE) == [("pasta", pol)]


def test_atsa_invalid_items_count_as_predictions():
    task = TASKS["atsa_rest16"]
    answer = '[{"aspect_term": "pasta"}, {"sentiment": "positive"}, {"aspect_term": "soup", "sentiment": "negative"}, {"aspect_term": "wine", "sentiment": "great"}, {}]'
    assert parse_tuples(task, answer, SENTENCE) == [INVALID] * 4


@pytest.mark.parametrize("pol", ["positive", "neutral", "negative"])
def test_acsa_polarities(pol):
    answer = f'[{{"aspect_category": "food#quality", "sentiment": " {pol} "}}]'
    assert parse_tuples(TASKS["acsa_rest16"], answer, SENTENCE) == [("food#quality", pol)]


def test_acsa_invalid_items():
    task = TASKS["acsa_rest16"]
    answer = '[{"aspect_category": "food"}, {"sentiment": "positive"}, {"aspect_category": "food", "sentiment": "conflict"}, "x"]'
    assert parse_tuples(task, answer, SENTENCE) == [INVALID] * 4


def test_asqp_needs_exactly_the_four_keys():
    task = TASKS["asqp_rest16"]
    good = {"aspect_term": "pasta", "aspect_category": "food#quality", "opinion": "cold", "sentiment": "negative"}
    assert parse_tuples(task, str([good]).replace("'", '"'), SENTENCE) == [
        ("pasta", "food#quality", "cold", "negative")
    ]
    five = dict(good, extra="x")
    three = {k: v for k, v in good.items() if k != "opinion"}
    renamed = {**three, "opinions": "cold"}
    for bad in (five, three, renamed):
        assert parse_tuples(task, str([bad]).replace("'", '"'), SENTENCE) == []


@pytest.mark.parametrize("pol", ["positive", "neutral", "negative"])
def test_ssa_polarities_and_keys(pol):
    task = TASKS["opener"]
    good = {"holder": "NULL", "target": "wine", "sentiment_expression": "great", "sentiment_polarity": pol}
    assert parse_tuples(task, str([good]).replace("'", '"'), SENTENCE) == [("NULL", "wine", "great", pol)]
    renamed = {"holder": "NULL", "target": "wine", "expression": "great", "sentiment_polarity": pol}
    five = dict(good, extra="x")
    for bad in (renamed, five, dict(good, sentiment_polarity="conflict")):
        assert parse_tuples(task, str([bad]).replace("'", '"'), SENTENCE) == []


def test_gold_tuples_per_kind():
    assert gold_tuples(TASKS["atsa_rest16"], '[{"aspect_term": "pasta ", "sentiment": "negative"}]') == [("pasta ", "negative")]  # fmt: skip
    assert gold_tuples(TASKS["acsa_rest16"], '[{"aspect_category": "food", "sentiment": "positive"}]') == [("food", "positive")]  # fmt: skip
    asqp = '[{"aspect_term": "a", "aspect_category": "c", "opinion": "o", "sentiment": "s"}]'
    assert gold_tuples(TASKS["asqp_rest16"], asqp) == [("a", "c", "o", "s")]
    ssa = '[{"holder": "h", "target": "t", "sentiment_expression": "e", "sentiment_polarity": "p"}]'
    assert gold_tuples(TASKS["opener"], ssa) == [("h", "t", "e", "p")]


def test_tuples_to_opinions_offsets():
    sentence = "I think the food and the wine were great"
    ops = tuples_to_opinions(
        sentence, [("I", "food AND wine", "great", "positive"), ("NULL", "menu", "great", "negative")]
    )
    assert ops == [
        {
            "Source": [["I"], ["0:1"]],
            "Target": [["food", "wine"], ["12:16", "25:29"]],
            "Polar_expression": [["great"], ["35:40"]],
            "Polarity": "Positive",
        },
        {"Source": [[], []], "Target": [[], []], "Polar_expression": [["great"], ["35:40"]], "Polarity": "Negative"},
    ]
    # a holder not in the sentence is left empty, as is the literal NULL
    assert tuples_to_opinions("abc", [("zz", "NULL", "abc", "neutral")])[0]["Source"] == [[], []]


def test_opinion_spans_first_occurrence_and_multiword_parts():
    sentence = "good red wine and good food"
    (op,) = tuples_to_opinions(sentence, [("NULL", "red wine", "good", "positive")])
    assert op["Target"] == [["red wine"], ["5:13"]] and op["Polar_expression"] == [["good"], ["0:4"]]
    (op,) = tuples_to_opinions("we like good wine", [("we", "wine", "like", "positive")])
    assert op["Source"] == [["we"], ["0:2"]]
    (op,) = tuples_to_opinions("food we love and we cook", [("we", "food", "love", "positive")])
    assert op["Source"] == [["we"], ["5:7"]]


def test_a_json_string_is_not_a_list():
    assert load_json_list('"[1, 2]"') == []
