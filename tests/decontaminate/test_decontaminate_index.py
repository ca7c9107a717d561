"""Normalisation and the hashed index: planted contamination is found exactly, near-misses are not."""

from __future__ import annotations

import numpy as np
import pytest

from compeff_hf.decontaminate import EvalSet, build_index, decontaminate_rows, words
from compeff_hf.decontaminate import index as index_module
from compeff_hf.errors import RecipeError

LONG = (
    "the waiter forgot our order twice and then charged us for a dessert we never ordered "
    "so we will not be back"
)  # 23 words
SHORT = "the plot drags but the ending is worth it"  # 9 words: matched whole, inside a field
EIGHT = "battery life is great but the screen scratches"  # exactly min_words
SEVEN = "battery dies fast and the screen scratches"  # under min_words: whole-field only
TINY = "Yum!"


def _index(**kwargs):
    sets = [EvalSet("bench", [LONG, SHORT, EIGHT, SEVEN, TINY]), EvalSet("other", ["an unrelated tweet about cats"])]
    return build_index(sets, **kwargs)


def _kinds(index, texts):
    return [sorted((m.set_name, m.test_index, m.kind) for m in found) for found in index.match(texts)]


def test_words_ignore_case_punctuation_spacing_line_breaks_and_tokenisation():
    assert words("Don't  STOP,\nbelieving!!") == ["dont", "stop", "believing"]
    assert words("do n't stop believing .") == ["dont", "stop", "believing"]  # SST-2 splits clitics off
    assert words("It\u2019s -lrb- really -rrb- good<br /><br />Yes") == ["its", "really", "good", "yes"]
    assert words("@user #Happy_days 🙂 ５0") == ["user", "happy", "days", "50"]


def test_planted_copies_match_and_near_misses_do_not():
    index = _index()
    rewrapped = "\n".join(" ".join(LONG.split()[i : i + 3]) for i in range(0, 23, 3))
    texts = [
        LONG,  # 0 exact copy
        LONG.upper().replace(" and ", ", and ") + "!!!",  # 1 case and punctuation changed
        rewrapped,  # 2 re-wrapped into short lines
        f"Lovely terrace. {LONG.capitalize()}. Still, the wine list is good.",  # 3 embedded in a longer review
        f"My verdict: {SHORT.upper()}; go see it.",  # 4 a short test text inside a field
        f"In short, {EIGHT}, sadly.",  # 5 exactly min_words words inside a field
        "Seven words: " + SEVEN,  # 6 near-miss: under min_words, not the whole field
        SEVEN.title() + ".",  # 7 the whole field equals a text under min_words
        " ".join(LONG.split()[:12]) + " tonight",  # 8 near-miss: 12 shared words, one short of a 13-gram
        " ".join(w if i % 12 != 6 else "nope" for i, w in enumerate(LONG.split())),  # 9 near-miss: no 13 in a row
        SHORT.replace("ending", "finale"),  # 10 near-miss: a short text with one word changed
        "Yum! The pasta was great.",  # 11 near-miss: a tiny text inside a longer field
        "yum",  # 12 the whole field equals a tiny text
        "",  # 13 empty
        " ".join(LONG.split()[:10]),  # 14 and 15: near-miss, 20 shared words but split over two fields
        " ".join(LONG.split()[10:20]),
    ]
    assert _kinds(index, texts) == [
        [("bench", 0, "ngram")],
        [("bench", 0, "ngram")],
        [("bench", 0, "ngram")],
        [("bench", 0, "ngram")],
        [("bench", 1, "contained")],
        [("bench", 2, "contained")],
        [],
        [("bench", 3, "exact")],
        [],
        [],
        [],
        [],
        [("bench", 4, "exact")],
        [],
        [],
        [],
    ]


def test_ngram_size_is_exact_and_configurable():
    index = _index(ngram=5, min_words=3)
    shared = LONG.split()
    assert _kinds(index, ["x " + " ".join(shared[3:8]) + " y"]) == [[("bench", 0, "ngram")]]  # 5 shared words
    assert _kinds(index, ["x " + " ".join(shared[3:7]) + " y"]) == [[]]  # 4 shared words
    assert _kinds(index, ["so " + SEVEN]) == [[("bench", 3, "ngram")]]  # 7 words >= 5: an n-gram text now


def test_one_row_counts_once_per_set_and_every_matched_set_is_named():
    sets = [EvalSet("a", [LONG]), EvalSet("b", [LONG, SHORT]), EvalSet("c", ["nothing in common here at all"])]
    index = build_index(sets)
    rows = [
        {"id": "both", "text": f"{LONG} and also {SHORT}", "output": LONG},
        {"id": "clean", "text": "a fine day", "output": "positive"},
        {"id": "chat", "messages": [{"role": "user", "content": "Input: " + SHORT}, {"role": "assistant"}]},
    ]
    result = decontaminate_rows(rows, index, ["text", "messages", "output"])
    assert [r["id"] for r in result.kept] == ["clean"] and "contamination" not in result.kept[0]
    assert [(r["id"], r["contamination"]) for r in result.matched] == [("both", "a,b"), ("chat", "b")]
    rep = result.report
    assert rep["per_test_set"] == {"a": 1, "b": 2, "c": 0}
    assert (rep["rows_checked"], rep["rows_matched"], rep["rows_dropped"]) == (3, 2, 2)
    assert rep["by_kind"] == {"ngram": 1, "contained": 2, "exact": 0}
    assert rep["fields"] == ["text", "messages", "output"]
    first = rep["examples"][0]
    assert first["row_id"] == "both" and first["field"] == "text" and first["test_set"] == "a"
    assert first["overlap"] == " ".join(LONG.split()[:13]) and first["test_text"] == LONG


def test_flag_keeps_every_row_and_marks_the_matched_ones():
    result = decontaminate_rows(
        [{"id": 1, "text": LONG}, {"id": 2, "text": "clean"}], _index(), ["text"], action="flag"
    )
    assert [(r["id"], r["contamination"]) for r in result.kept] == [(1, "bench"), (2, "")]
    assert result.report["rows_matched"] == 1 and result.report["rows_dropped"] == 0
    with pytest.raises(RecipeError, match="decontaminate_action"):
        decontaminate_rows([], _index(), ["text"], action="delete")


def test_a_hash_collision_never_makes_a_match(monkeypatch):
    # With base 0 every window hashes to 0: collisions everywhere, so only the
    # word-by-word confirmation stands between them and false matches.
    monkeypatch.setattr(index_module, "_BASE", np.uint64(0))
    index = _index()
    near = " ".join(LONG.split()[:12]) + " it"  # ends with a word the index knows, shares only 12 words
    assert _kinds(index, [near, "it it it it it it it it it it it it it it", LONG]) == [
        [],
        [],
        [("bench", 0, "ngram")],
    ]


def test_a_large_batch_is_scanned_in_chunks_with_the_same_result(monkeypatch):
    texts = [f"row {i}: " + (LONG if i % 7 == 0 else "nothing to see here today at all") for i in range(50)]
    whole = _kinds(_index(), texts)
    monkeypatch.setattr(index_module, "CHUNK_WORDS", 40)
    assert _kinds(_index(), texts) == whole
    assert sum(bool(k) for k in whole) == 8


def test_bad_settings_are_refused():
    with pytest.raises(RecipeError, match="decontaminate_min_words"):
        _index(ngram=5, min_words=6)
    with pytest.raises(RecipeError, match="names repeat"):
        build_index([EvalSet("a", []), EvalSet("a", [])])
