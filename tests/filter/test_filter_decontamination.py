"""The filter's built-in decontamination: matched rows are dropped before scoring (or flagged), counted per set."""

from __future__ import annotations

import json
from pathlib import Path

from compeff_hf.data import load_rows
from compeff_hf.evaluation.tasks import TASKS
from compeff_hf.filter.config import FilterConfig
from compeff_hf.filter.pipeline import run


def _test_item(sentibench_dir: Path, name: str, i: int) -> str:
    path = sentibench_dir / TASKS[name].path / "test.json"
    return json.loads(path.read_text(encoding="utf-8-sig"))[i]["sentence"]


def _rows(sentibench_dir: Path) -> list[dict]:
    tweet = _test_item(sentibench_dir, "twitter", 3).split()
    rewrapped = "\n".join(" ".join(tweet[i : i + 5]) for i in range(0, len(tweet), 5))
    rows = [
        {
            "id": f"row-{i}",
            "messages": [{"role": "user", "content": f"Classify the polarity.\n\nInput: fine product number {i}"}],
            "output": "positive",
        }
        for i in range(10)
    ]
    rows[2]["output"] = "Sure. " + _test_item(sentibench_dir, "yelp2", 0)  # the teacher recites a test review
    rows[7]["messages"][0]["content"] = "Analyze the tone.\n\nInput: " + rewrapped  # a re-wrapped test tweet
    return rows


def _config(tmp_path: Path, sentibench_dir: Path, **overrides) -> FilterConfig:
    data = tmp_path / "teacher.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows(sentibench_dir)))
    values = {"input": str(data), "output_dir": str(tmp_path / "filter"), "metric": "random", "keep_ratio": 0.5}
    return FilterConfig(**{**values, "decontaminate_sentibench": str(sentibench_dir), **overrides})


def test_matched_rows_are_dropped_before_scoring_and_counted(tmp_path, sentibench_dir):
    summary = run(_config(tmp_path, sentibench_dir))
    scored = load_rows(tmp_path / "filter" / "scored")
    assert summary["rows_in"] == len(scored) == 8
    assert not {"row-2", "row-7"} & set(scored["id"])
    d = summary["decontamination"]
    assert d["per_test_set"] == dict.fromkeys(TASKS, 0) | {"yelp2": 1, "twitter": 1}
    assert (d["rows_matched"], d["rows_dropped"]) == (2, 2)
    phase = d["phases"]["rows"]
    assert phase["rows_checked"] == 10 and phase["fields"] == ["messages", "output"]
    assert {(e["row_id"], e["field"], e["test_set"]) for e in phase["examples"]} == {
        ("row-2", "output", "yelp2"),
        ("row-7", "messages", "twitter"),
    }


def test_flag_only_keeps_and_marks_the_rows(tmp_path, sentibench_dir):
    summary = run(_config(tmp_path, sentibench_dir, decontaminate_action="flag"))
    scored = load_rows(tmp_path / "filter" / "scored")
    assert summary["rows_in"] == len(scored) == 10
    assert {i: c for i, c in zip(scored["id"], scored["contamination"], strict=True) if c} == {
        "row-2": "yelp2",
        "row-7": "twitter",
    }
    assert (summary["decontamination"]["rows_matched"], summary["decontamination"]["rows_dropped"]) == (2, 0)


def test_switched_off_checks_nothing(tmp_path, sentibench_dir):
    summary = run(_config(tmp_path, sentibench_dir, decontaminate=False))
    assert summary["rows_in"] == 10 and summary["decontamination"] == {"enabled": False}
    assert not (tmp_path / "filter" / "_ledger" / "decontamination.jsonl").exists()
