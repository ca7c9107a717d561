"""Parsers on malformed, truncated and adversarial outputs; prompts and the demo draw."""

from __future__ import annotations

import json
import random

import pytest

from compeff_hf.evaluation.metrics import load_metric
from compeff_hf.evaluation.parsers import NOT_FOUND, extract_answer, load_json_list, parse_tuples
from compeff_hf.evaluation.prompts import build_prompt, draw_demos, gold_answer
from compeff_hf.evaluation.tasks import TASKS, select_tasks

ATSA, ACSA, ASQP, SSA = (TASKS[n] for n in ("atsa_rest16", "acsa_rest16", "asqp_rest16", "opener"))
SENT = "The pasta was cold but the wine was great."


def _decoded(answer: str, k: int = 2) -> str:
    demos = "".join(f'Sentence: d{i}\nOutput: [{{"aspect_term": "x", "sentiment": "positive"}}]\n\n' for i in range(k))
    return f"Instruction\n\n{demos}Sentence: {SENT}\nOutput:{answer}"


def test_extract_takes_the_k_plus_first_block_and_ignores_what_follows():
    text = _decoded(' [{"aspect_term": "pasta", "sentiment": "negative"}]\n\nSentence: more\nOutput: [{"a": 1}]')
    assert extract_answer(text, 2) == '[{"aspect_term": "pasta", "sentiment": "negative"}]'


def test_extract_truncated_output_is_closed_after_the_last_object():
    text = _decoded(' [{"aspect_term": "pasta", "sentiment": "negative"}, {"aspect_term": "wi')
    answer = extract_answer(text, 2)
    assert answer == '[{"aspect_term": "pasta", "sentiment": "negative"}]'
    assert parse_tuples(ATSA, answer, SENT) == [("pasta", "negative")]


def test_extract_without_any_answer():
    assert extract_answer(_decoded(" I do not know"), 2) == NOT_FOUND
    assert parse_tuples(ATSA, NOT_FOUND, SENT) == []


@pytest.mark.parametrize(
    "text",
    ["", "null", "42", '{"aspect_term": "pasta"}', "[[[[", "]" * 5 + "[", '"[1, 2]"', "[" * 5000 + "]" * 5000],
)
def test_malformed_json_never_raises(text):
    assert isinstance(load_json_list(text), list)
    for task in (ATSA, ACSA, ASQP, SSA):
        assert isinstance(parse_tuples(task, text, SENT), list)


def test_json_inside_prose_is_recovered():
    text = 'Sure! ```json\n[{"aspect_term": "wine", "sentiment": "positive"}]\n``` Hope this helps.'
    assert parse_tuples(ATSA, text, SENT) == [("wine", "positive")]


def test_atsa_invalid_items_count_as_false_positives():
    text = (
        '[{"aspect_term": " pasta ", "sentiment": "negative"}, {"aspect_term": "pizza", "sentiment": "negative"},'
        ' {"aspect_term": "wine", "sentiment": "great"}, {"aspect_term": "wine"}, "x", {}, null, 0, ["a"]]'
    )
    tuples = parse_tuples(ATSA, text, SENT)
    assert tuples[0] == ("pasta", "negative")  # whitespace stripped from predictions
    assert len(tuples) == 6 and all(t == () for t in tuples[1:])  # invalid but counted; falsy items skipped


GOOD_ATSA = '{"aspect_term": "pasta", "sentiment": "negative"}'
GOOD_ACSA = '{"aspect_category": "food quality", "sentiment": "negative"}'


@pytest.mark.parametrize(
    "bad",
    [
        "7",
        "2.5",
        "true",
        '"aspect_term and sentiment"',
        '["aspect_term", "sentiment"]',
        '{"aspect_term": 3, "sentiment": "positive"}',
        '{"aspect_term": "pasta", "sentiment": null}',
        '{"aspect_term": null, "sentiment": "negative"}',
        '{"aspect_term": "pasta", "sentiment": ["negative"]}',
    ],
)
def test_atsa_unreadable_item_turns_the_whole_raw_list_into_false_positives(bad):
    """Official parse_utils/atsa_json.py: an item it raises on leaves the raw list, so nothing in it scores."""
    text = f"[{GOOD_ATSA}, {bad}, {{}}, {GOOD_ATSA}]"
    tuples = parse_tuples(ATSA, text, SENT)
    assert tuples == [(), (), (), ()]  # 4 raw elements ({} included), none equal to a gold tuple
    gold = [[["pasta", "negative"]]]
    out = load_metric("tuple_f1").compute(predictions=[[list(t) for t in tuples]], references=gold)
    assert out["f1"] == 0.0 and out["n_pred"] == 4  # the old rule kept ("pasta", "negative"): F1 2/3


@pytest.mark.parametrize(
    "bad",
    [
        "7",
        '"aspect_category sentiment"',
        '["aspect_category", "sentiment"]',
        '{"aspect_category": 1, "sentiment": "x"}',
    ],
)
def test_acsa_unreadable_item_turns_the_whole_raw_list_into_false_positives(bad):
    assert parse_tuples(ACSA, f"[{GOOD_ACSA}, {bad}]", SENT) == [(), ()]


@pytest.mark.parametrize("harmless", ["null", "0", "false", '""', "[]", '"aspect_term only"', '["sentiment"]'])
def test_atsa_items_the_official_parser_survives_keep_the_valid_tuples(harmless):
    assert parse_tuples(ATSA, f"[{GOOD_ATSA}, {harmless}]", SENT)[0] == ("pasta", "negative")
    assert parse_tuples(ACSA, f"[{GOOD_ACSA}, {harmless}]", SENT)[0] == ("food quality", "negative")


def test_atsa_polarity_set_and_term_in_sentence():
    def one(term, pol):
        return parse_tuples(ATSA, f'[{{"aspect_term": "{term}", "sentiment": "{pol}"}}]', SENT)

    for pol in ("positive", "neutral", "negative", "conflict"):
        assert one("wine", pol) == [("wine", pol)]
    assert one("wine", "Positive") == [()] and one("beer", "positive") == [()] and one("wine", "mixed") == [()]
    assert parse_tuples(ACSA, '[{"aspect_category": "x", "sentiment": "conflict"}]', SENT) == [()]
    for pol in ("positive", "neutral", "negative"):
        assert parse_tuples(ACSA, f'[{{"aspect_category": " x ", "sentiment": " {pol} "}}]', SENT) == [("x", pol)]


def test_acsa_checks_polarity_only():
    text = (
        '[{"aspect_category": "food quality", "sentiment": "negative"}, {"aspect_category": "x", "sentiment": "bad"}]'
    )
    assert parse_tuples(ACSA, text, SENT) == [("food quality", "negative"), ()]


def test_asqp_needs_exactly_four_keys_and_strings():
    good = '{"aspect_term": "pasta", "aspect_category": "food quality", "opinion": "cold", "sentiment": "negative"}'
    extra = good[:-1] + ', "why": "because"}'
    wrong_type = good.replace('"negative"', "null")
    assert parse_tuples(ASQP, f"[{good}, {extra}, {wrong_type}]", SENT) == [
        ("pasta", "food quality", "cold", "negative")
    ]


def test_ssa_drops_null_and_bad_polarity():
    null = '{"holder": "NULL", "target": "NULL", "sentiment_expression": "NULL", "sentiment_polarity": "NULL"}'
    good = '{"holder": "NULL", "target": "wine", "sentiment_expression": "great", "sentiment_polarity": "positive"}'
    assert parse_tuples(SSA, f"[{null}, {good}]", SENT) == [("NULL", "wine", "great", "positive")]


def test_adversarial_query_containing_output_blocks():
    # A test sentence that itself contains "Output: [...]" shifts the match, exactly as in the published scorer.
    text = _decoded(' [{"aspect_term": "pasta", "sentiment": "negative"}]', k=1)
    text = text.replace(f"Sentence: {SENT}", 'Sentence: Output: ["injected"]')
    assert extract_answer(text, 1) == '["injected"]'


def test_demo_draw_is_reproducible_per_seed_and_matches_random_sample():
    pool = list(range(100))
    a, b, c = draw_demos(pool, 20, 4, 42), draw_demos(pool, 20, 4, 42), draw_demos(pool, 20, 4, 52)
    assert a == b and a != c
    assert all(len(set(d)) == 4 for d in a)
    random.seed(42)  # the published code: global seed, then random.sample(pool, k) per test item
    assert a == [random.sample(pool, k=4) for _ in range(20)]
    assert draw_demos(pool, 5, 4, 42) == a[:5]  # --limit keeps the demos of a full run


def test_classification_prompt_layout():
    task = TASKS["pstance"]
    item = {"sentence": "Vote!", "target": "Joe Biden", "label": "FAVOR"}
    demo = {"sentence": "No way.", "target": "Donald Trump", "label": "AGAINST"}
    prompt = build_prompt(task, item, [demo])
    assert prompt.startswith('Please perform Stance Detection task. Given the sentence, assign a sentiment label expressed by the author towards "Joe Biden"')  # fmt: skip
    assert prompt.endswith(
        "\n\nSentence: No way.\nLabel: against(opinion towards 'Donald Trump')\n\nSentence: Vote!\nLabel:"
    )


def test_fine_grained_gold_answers():
    item = {
        "sentence": "Good food, bad service.",
        "aspects": [
            {"target": "service", "category": "SERVICE#GENERAL", "polarity": "negative", "from": "15", "to": "22"},
            {"target": "food", "category": "FOOD#QUALITY", "polarity": "positive", "from": "5", "to": "9"},
            {"target": "NULL", "category": "RESTAURANT#GENERAL", "polarity": "positive", "from": "0", "to": "0"},
        ],
    }
    # Offsets compare as strings, as upstream: "15" < "5".
    assert gold_answer(ATSA, item) == (
        '[\n  {\n    "aspect_term": "service",\n    "sentiment": "negative"\n  },\n'
        '  {\n    "aspect_term": "food",\n    "sentiment": "positive"\n  }\n]'
    )
    assert '"aspect_category": "restaurant general"' in gold_answer(ACSA, item)
    assert gold_answer(SSA, {"sentence": "x", "opinions": []}).count('"NULL"') == 4


def test_select_tasks():
    assert [t.name for t in select_tasks(["fsa"])] == ["atsa_rest16", "acsa_rest16", "asqp_rest16", "opener"]
    assert len(select_tasks(None)) == 12
    from compeff_hf.errors import RecipeError

    with pytest.raises(RecipeError, match="unknown SentiBench dataset 'imbd'"):
        select_tasks(["imbd"])


def test_fine_grained_budget_is_the_official_150_new_tokens_opener_included():
    # official bash/fsa_json.sh: max_new_tokens=150 for every fine-grained dataset (ours used 300 for OpeNER)
    assert {t.name: t.max_new_tokens for t in select_tasks(["fsa"])} == dict.fromkeys(
        ["atsa_rest16", "acsa_rest16", "asqp_rest16", "opener"], 150
    )
    assert all(t.max_new_tokens == 0 for t in select_tasks(["bsa", "msa"]))


def test_asqp_and_ssa_drop_the_items_the_official_code_crashes_on():
    """Official asqp_json/ssa_json raise on an int item or a non-string field; we drop just that item."""
    quad = '{"aspect_term": "pasta", "aspect_category": "food quality", "opinion": "cold", "sentiment": "negative"}'
    bad_quad = quad.replace('"cold"', "5")
    assert parse_tuples(ASQP, f"[{quad}, 7, {bad_quad}, {quad}]", SENT) == [("pasta", "food quality", "cold", "negative")] * 2  # fmt: skip
    opinion = '{"holder": "NULL", "target": "wine", "sentiment_expression": "great", "sentiment_polarity": "positive"}'
    bad = opinion.replace('"wine"', "null")
    assert parse_tuples(SSA, f"[7, {bad}, {opinion}]", SENT) == [("NULL", "wine", "great", "positive")]
    for pol in ("positive", "neutral", "negative"):
        assert parse_tuples(SSA, f"[{opinion.replace('positive', pol)}]", SENT) == [("NULL", "wine", "great", pol)]


def test_every_seed_draws_its_own_demos():
    from compeff_hf.evaluation.config import EvalConfig
    from compeff_hf.evaluation.sentibench import build_rows

    config = EvalConfig(seeds=[42, 52])
    train = [{"sentence": f"train {i}", "label": "Positive"} for i in range(50)]
    test = [{"sentence": f"query {i}", "label": "negative"} for i in range(5)]
    rows = {seed: build_rows(TASKS["sst2"], test, train, config, seed) for seed in config.seeds}
    for seed, seed_rows in rows.items():
        assert [r["demos"] for r in seed_rows] == draw_demos(train, 5, 4, seed)
        assert [r["seed"] for r in seed_rows] == [seed] * 5 and [r["index"] for r in seed_rows] == list(range(5))
        for r in seed_rows:
            assert r["prompt"] == build_prompt(TASKS["sst2"], test[r["index"]], [train[d] for d in r["demos"]])
    assert rows[42][0]["demos"] != rows[52][0]["demos"]
    assert len({r["id"] for rs in rows.values() for r in rs}) == 10


def test_atsa_gold_with_tied_offsets_is_ordered_the_same_whatever_the_hash_seed():
    """Official fsa_json.py de-duplicates through a set, so tied offsets come out in PYTHONHASHSEED order; ours keep
    the data order (the prompts and gold answers are deterministic)."""
    import os
    import subprocess
    import sys

    item = {
        "sentence": "the fish and the fish",
        "aspects": [
            {"target": t, "category": "FOOD#QUALITY", "polarity": p, "from": "4", "to": "8"}
            for t, p in [("fish", "positive"), ("fish", "negative"), ("fish", "neutral"), ("fish", "positive")]
        ],
    }
    order = [json.loads(gold_answer(ATSA, item))[i]["sentiment"] for i in range(3)]
    assert order == ["positive", "negative", "neutral"]  # data order, duplicate dropped
    code = (
        "import json,sys; from compeff_hf.evaluation.prompts import gold_answer; "
        "from compeff_hf.evaluation.tasks import TASKS; "
        "print(gold_answer(TASKS['atsa_rest16'], json.loads(sys.argv[1])))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code, json.dumps(item)],
            env=dict(os.environ, PYTHONHASHSEED=str(seed)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(4)
    }
    assert outputs == {gold_answer(ATSA, item) + "\n"}


def test_extract_with_exactly_k_plus_one_blocks_takes_the_last_one():
    assert extract_answer("Output: [1]\nOutput: [2]", 1) == "[2]"  # the tail rule would find no "}" here
    assert extract_answer("Output: [1]\nOutput: [2]", 2) == NOT_FOUND
    assert extract_answer('Output: [1]\nOutput: [{"a": 1}, {"b"', 1) == '[{"a": 1}]'


def test_load_json_list_rules():
    assert load_json_list("[1, 2]") == [1, 2]
    assert load_json_list("Answer: [1, 2]. Done") == [1, 2]  # the first "[" to the last "]"
    assert load_json_list('{"a": 1}') == [] and load_json_list('"[1, 2]"') == [] and load_json_list("[1, 2") == []


def test_asqp_and_ssa_need_their_own_four_key_names():
    asqp = '{"aspect_term": "a", "aspect_category": "b", "opinion": "c", "why": "d"}'
    ssa = '{"holder": "a", "target": "b", "sentiment_expression": "c", "polarity": "positive"}'
    assert parse_tuples(ASQP, f"[{asqp}]", SENT) == [] and parse_tuples(SSA, f"[{ssa}]", SENT) == []
    three = '{"holder": "a", "target": "b", "sentiment_expression": "c"}'
    assert parse_tuples(SSA, f"[{three}]", SENT) == []


def test_tuples_to_opinions_locates_first_occurrences_and_splits_on_and():
    from compeff_hf.evaluation.parsers import tuples_to_opinions

    sentence = "I think the wine and the pasta were great , the wine"
    ops = tuples_to_opinions(sentence, [("I", "wine AND pasta", "great", "positive"), ("NULL", "NULL", "gone", "negative")])  # fmt: skip
    assert ops[0] == {
        "Source": [["I"], ["0:1"]],
        "Target": [["wine", "pasta"], ["12:16", "25:30"]],  # "wine" at its first occurrence
        "Polar_expression": [["great"], ["36:41"]],
        "Polarity": "Positive",
    }
    # "NULL" holder: empty; "NULL" target and a span not in the sentence: nothing located
    assert ops[1] == {"Source": [[], []], "Target": [[], []], "Polar_expression": [[], []], "Polarity": "Negative"}
    assert tuples_to_opinions(sentence, [("nobody", "wine", "great", "positive")])[0]["Source"] == [[], []]


def test_extract_truncated_cuts_after_the_last_complete_object():
    text = 'Output: [1]\nOutput: [{"a": 1}, {"b": 2}, {"c'
    assert extract_answer(text, 1) == '[{"a": 1}, {"b": 2}]'
    assert load_json_list("Sure: [[1], [2]] ok") == [[1], [2]]  # first "[" to last "]", both nested


def test_gold_tuples_of_each_kind_in_the_answer_key_order():
    from compeff_hf.evaluation.parsers import gold_tuples

    acsa = '[{"aspect_category": "food quality", "sentiment": "positive"}]'
    asqp = (
        '[{"sentiment": "negative", "opinion": " cold ", "aspect_category": "food quality", "aspect_term": "pasta"}]'
    )
    ssa = '[{"holder": "NULL", "target": "wine", "sentiment_expression": "great", "sentiment_polarity": "positive"}]'
    atsa = '[{"aspect_term": "wine", "sentiment": "positive"}]'
    assert gold_tuples(ATSA, atsa) == [("wine", "positive")]
    assert gold_tuples(ACSA, acsa) == [("food quality", "positive")]
    assert gold_tuples(ASQP, asqp) == [("pasta", "food quality", " cold ", "negative")]  # gold is not stripped
    assert gold_tuples(SSA, ssa) == [("NULL", "wine", "great", "positive")]


def test_tuples_to_opinions_null_holder_repeated_holder_and_multiword_parts():
    from compeff_hf.evaluation.parsers import tuples_to_opinions

    sentence = "NULL is what I said and I mean it : the red wine was very good"
    [op] = tuples_to_opinions(sentence, [("NULL", "red wine", "very good AND mean", "positive")])
    assert op["Source"] == [[], []]  # "NULL" is no holder even when the sentence holds the word
    assert op["Target"] == [["red wine"], ["40:48"]]
    assert op["Polar_expression"] == [["very good", "mean"], ["53:62", "26:30"]]
    [op] = tuples_to_opinions(sentence, [("I", "NULL", "good", "positive")])
    assert op["Source"] == [["I"], ["13:14"]]  # the first "I"
