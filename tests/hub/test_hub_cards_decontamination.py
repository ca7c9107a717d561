"""The dataset card says what decontamination found, per stage, with examples."""

from __future__ import annotations

from compeff_hf.decontaminate import EvalSet, build_index
from compeff_hf.decontaminate.step import StageCheck
from compeff_hf.filter.config import FilterConfig
from compeff_hf.hub.cards import build_dataset_card, validate_card_metadata

TEST_TEXT = "the soup was cold and the waiter ignored us for most of the evening so we left early"


def decontamination_summary(monkeypatch, action: str = "drop") -> dict:
    """A real StageCheck summary over a one-set index: 1 of 3 rows matches set `bench`."""
    from compeff_hf.decontaminate import step

    index = build_index([EvalSet("bench", [TEST_TEXT], "bench.jsonl"), EvalSet("other", ["cats are nice"])])
    monkeypatch.setattr(step, "index_for", lambda config: index)
    check = StageCheck(FilterConfig(input="x", decontaminate_action=action))
    rows = [{"id": "a", "text": TEST_TEXT.upper()}, {"id": "b", "text": "fine"}, {"id": "c", "text": "good"}]
    check.rows("rows", rows, ["text"])
    return check.summary()


def test_dataset_card_has_a_decontamination_section(monkeypatch):
    summary = decontamination_summary(monkeypatch)
    manifest = {
        "configs": {
            "filtered": {"name": "filtered", "stage": "filter", "rows": 2, "columns": ["id"], "folder": "filter/data"}
        },
        "stages": {"filter": {"configs": ["filtered"], "summary": {"rows_in": 2, "decontamination": summary}}},
    }
    card = build_dataset_card("me/data", manifest, {"filter": {"keep_ratio": 0.5}})
    text = str(card)
    assert "## Decontamination" in text
    assert (
        "- **filter**: checked 3 rows against 2 evaluation sets (13-word overlap; test texts under 13 words matched "
        "whole): 1 row matched and dropped (bench 1)." in text
    )
    assert "| filter | rows | `a` | text | bench (0) | ngram | the soup was cold and the waiter" in text
    validate_card_metadata(card)


def test_no_section_without_decontamination():
    manifest = {
        "configs": {"data": {"name": "data", "stage": "teacher", "rows": 1, "columns": ["id"], "folder": "t/data"}},
        "stages": {"teacher": {"configs": ["data"], "summary": {"rows": 1}}},
    }
    assert "## Decontamination" not in str(build_dataset_card("me/data", manifest, {}))
