"""The run report's decontamination section: one line per stage with the figures of its summary.json."""

from __future__ import annotations

import json

from compeff_hf.decontaminate import EvalSet, build_index
from compeff_hf.decontaminate.step import StageCheck
from compeff_hf.filter.config import FilterConfig
from compeff_hf.report import write_report

TEST_TEXT = "the soup was cold and the waiter ignored us for most of the evening so we left early"


def decontamination_summary(monkeypatch, action: str) -> dict:
    """A real StageCheck summary over a one-set index: 1 of 3 rows matches set `bench`."""
    from compeff_hf.decontaminate import step

    index = build_index([EvalSet("bench", [TEST_TEXT], "bench.jsonl"), EvalSet("other", ["cats are nice"])])
    monkeypatch.setattr(step, "index_for", lambda config: index)
    check = StageCheck(FilterConfig(input="x", decontaminate_action=action))
    rows = [{"id": "a", "text": TEST_TEXT.upper()}, {"id": "b", "text": "fine"}, {"id": "c", "text": "good"}]
    check.rows("rows", rows, ["text"])
    return check.summary()


def test_report_has_a_line_per_stage_with_its_counts(tmp_path, monkeypatch):
    for stage, action in (("construct", "drop"), ("filter", "flag")):
        (tmp_path / stage).mkdir()
        summary = {"stage": stage, "status": "done", "decontamination": decontamination_summary(monkeypatch, action)}
        (tmp_path / stage / "summary.json").write_text(json.dumps(summary))
    report = write_report(tmp_path).read_text()
    section = report.split("## Decontamination", 1)[1].split("\n## ", 1)[0]
    assert "- **construct**: checked 3 rows against 2 evaluation sets" in section
    assert "1 row matched and dropped (bench 1)." in section
    assert "- **filter**: checked 3 rows against 2 evaluation sets" in section
    assert "1 row matched and flagged (bench 1)." in section
    assert section.count("| bench (0) | ngram |") == 2
    assert "decontamination." not in report  # not repeated in the flat counts table


def test_report_says_when_decontamination_was_off(tmp_path):
    (tmp_path / "filter").mkdir()
    (tmp_path / "filter" / "summary.json").write_text(json.dumps({"decontamination": {"enabled": False}}))
    assert "- **filter**: off (decontaminate: false)." in write_report(tmp_path).read_text()
