"""The construct stage's built-in decontamination: user texts and assembled instructions that hold evaluation texts
are dropped, set aside in `rejected` with the sets they match, counted per set, and still reported after a resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripted_llm import ScriptedLLM

from compeff_hf.construct.config import ConstructConfig
from compeff_hf.construct.pipeline import main, sample_texts_path
from compeff_hf.data import load_rows
from compeff_hf.decontaminate import words
from compeff_hf.evaluation.tasks import TASKS

pytestmark = pytest.mark.slow
# Every analysis prompt the scripted generator writes first ends with this (10 words: matched inside a field).
PHRASE = "of this text and quote the words that reveal it"


def _test_item(sentibench_dir: Path, name: str, i: int) -> str:
    path = sentibench_dir / TASKS[name].path / "test.json"
    return json.loads(path.read_text(encoding="utf-8-sig"))[i]["sentence"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, sentibench_dir):
    root = tmp_path_factory.mktemp("construct-decontam")
    texts = [json.loads(line) for line in sample_texts_path().read_text().splitlines()[:16]]
    texts += [
        {"text": _test_item(sentibench_dir, "imdb", 4), "domain": "movie_review"},
        {"text": _test_item(sentibench_dir, "sst2", 1).upper(), "domain": "movie_review"},
    ]
    (root / "texts.jsonl").write_text("".join(json.dumps(t) + "\n" for t in texts))
    (root / "prompts.jsonl").write_text(json.dumps({"text": PHRASE}) + "\n")
    references = [json.loads(line) for line in sample_texts_path().read_text().splitlines()[100:110]]
    references.append({"text": _test_item(sentibench_dir, "twitter", 3), "domain": "tweet"})
    (root / "references.jsonl").write_text("".join(json.dumps(t) + "\n" for t in references))
    config = ConstructConfig(
        output_dir=str(root / "out"),
        input=str(root / "texts.jsonl"),
        reference_input=str(root / "references.jsonl"),
        min_attribute_count=2,
        ap_preference_percentile=10.0,
        analysis_prompts_per_perspective=3,
        tasks_per_perspective=3,
        demo_requests_per_task=1,
        max_perspectives=3,
        min_tasks_per_perspective=2,
        instructions_per_text=3,
        analysis_fraction=0.8,
        max_concurrency=4,
        decontaminate_sentibench=str(sentibench_dir),
        decontaminate_eval_sets=[str(root / "prompts.jsonl")],
    )
    with ScriptedLLM() as llm:
        config.endpoint_url = llm.url
        assert main(config) == 0
        first = json.loads((root / "out" / "summary.json").read_text())
        (root / "out" / "summary.json").unlink()  # the stage is unfinished again: a rerun reuses every sub-stage
        assert main(config) == 0
        assert llm.requests["attributes"] == 16  # the planted texts never reached the generator
    return root / "out", first


def test_contaminated_user_texts_are_dropped_before_any_request(run_dir):
    out, _ = run_dir
    summary = json.loads((out / "summary.json").read_text())
    texts = summary["decontamination"]["phases"]["texts"]
    assert (texts["rows_checked"], texts["rows_matched"], texts["rows_dropped"]) == (18, 2, 2)
    assert texts["per_test_set"] == dict.fromkeys(TASKS, 0) | {"imdb": 1, "sst2": 1, "prompts": 0}
    assert len(load_rows(out / "texts")) == 16
    rejected = [r for r in load_rows(out / "rejected").to_list() if r["kind"] == "contamination"]
    assert sorted(r["reason"] for r in rejected if r["substage"] == "texts") == [
        "matches evaluation set(s): imdb",
        "matches evaluation set(s): sst2",
    ]


def test_contaminated_reference_texts_are_not_shown_to_the_generator(run_dir):
    out, _ = run_dir
    phase = json.loads((out / "summary.json").read_text())["decontamination"]["phases"]["references"]
    assert (phase["rows_checked"], phase["rows_dropped"]) == (11, 1)
    assert phase["per_test_set"]["twitter"] == 1 and sum(phase["per_test_set"].values()) == 1


def test_instructions_holding_an_evaluation_text_are_dropped_and_counted(run_dir):
    out, _ = run_dir
    summary = json.loads((out / "summary.json").read_text())
    phase = summary["decontamination"]["phases"]["instructions"]
    data = load_rows(out / "data").to_list()
    dropped = [
        r
        for r in load_rows(out / "rejected").to_list()
        if r["kind"] == "contamination" and r["substage"] == "assemble"
    ]
    phrase = " ".join(words(PHRASE))
    assert dropped and all(phrase in " ".join(words(r["generation"])) for r in dropped)
    assert not any(phrase in " ".join(words(r["messages"][0]["content"])) for r in data)
    assert phase["rows_checked"] == len(data) + len(dropped) and phase["rows_dropped"] == len(dropped)
    assert phase["per_test_set"]["prompts"] == len(dropped) and phase["by_kind"]["contained"] == len(dropped)
    assert summary["rows"] == len(data)
    totals = summary["decontamination"]
    assert totals["rows_dropped"] == 2 + 1 + len(dropped) and totals["per_test_set"]["prompts"] == len(dropped)


def test_a_resumed_stage_reports_the_phases_it_reused(run_dir):
    out, first = run_dir
    assert json.loads((out / "summary.json").read_text())["decontamination"] == first["decontamination"]
