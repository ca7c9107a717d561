"""Attribute-name normalisation (the official rules), frequency threshold, vocabulary statistics."""

from __future__ import annotations

import pytest

from compeff_hf.construct.normalize import build_vocabulary, normalize_name, text_attribute_index


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Tone: sarcastic", ["tone"]),  # rule 1: part before ':'
        ("Anger/Frustration", ["anger", "frustration"]),  # rule 2: split on '/'
        ("Use of Humor", ["humor"]),  # rule 3: what follows 'use of '
        ("attribute: Tone", ["tone"]),  # a leading 'attribute:' is stripped first
        ("tone: a/b", ["tone"]),  # rule order: ':' wins over '/'
        ("  **Emotional   Intensity**  ", ["emotional intensity"]),
        ("the use of sarcasm/irony", ["the use of sarcasm", "irony"]),  # '/' wins over 'use of'
        ("/", []),
    ],
)
def test_normalize_name_official_rules(raw, expected):
    assert normalize_name(raw) == expected


def _pairs(names):
    return [(f"t{i}", {"name": n, "description": f"d-{n}", "value": "v"}) for i, n in enumerate(names)]


def test_frequency_threshold_is_strictly_greater():
    names = ["Tone"] * 11 + ["Mood"] * 10 + ["Irony"] * 3
    vocab, rejected = build_vocabulary(_pairs(names), min_count=10)
    kept = {v["name"]: v["kept"] for v in vocab}
    assert kept == {"tone": True, "mood": False, "irony": False}  # 10 is not > 10
    assert [v["name"] for v in vocab] == ["tone", "mood", "irony"]  # by count
    assert rejected == []


def test_vocabulary_merges_surface_forms_and_picks_top_description():
    pairs = [
        ("a", {"name": "Tone: angry", "description": "how it sounds", "value": "Angry"}),
        ("b", {"name": "tone", "description": "how it sounds", "value": "calm"}),
        ("b", {"name": "TONE", "description": "attitude", "value": "calm"}),
    ]
    vocab, _ = build_vocabulary(pairs, min_count=0)
    (tone,) = vocab
    assert tone["count"] == 3 and tone["n_texts"] == 2
    assert set(tone["surface_forms"]) == {"Tone: angry", "tone", "TONE"}
    assert tone["top_description"] == "how it sounds"
    assert tone["top_values"][0] == "calm"


def test_vocabulary_rejects_sentences_and_symbols_with_reasons():
    pairs = _pairs(["this text is about a very long and winding thing", "123", "", "Tone"])
    vocab, rejected = build_vocabulary(pairs, min_count=0, max_words=6)
    assert [v["name"] for v in vocab] == ["tone"]
    reasons = sorted(r["reason"] for r in rejected)
    assert reasons == ["attribute name longer than 6 words", "empty attribute name", "no letters in attribute name"]


def test_text_attribute_index():
    index = text_attribute_index(_pairs(["Tone", "Anger/Joy"]))
    assert index == {"t0": {"tone"}, "t1": {"anger", "joy"}}


def test_seed_vocabulary_tops_up_only_what_is_missing():
    from compeff_hf.construct.normalize import seed_vocabulary

    existing = [{"name": "tone", "kept": True}, {"name": "irony", "kept": False}]
    seeds = seed_vocabulary(existing, target=3, min_count=10)
    assert [s["name"] for s in seeds] == ["emotional intensity", "overall sentiment"]  # "tone" is already there
    assert all(s["kept"] and s["seed"] and s["count"] == 11 for s in seeds)
    assert seed_vocabulary(existing, target=1, min_count=10) == []
