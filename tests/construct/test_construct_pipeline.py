"""The whole construct stage against a real HTTP endpoint: every dataset, rejections, resumption, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripted_llm import ScriptedLLM

from compeff_hf.construct.config import ConstructConfig
from compeff_hf.construct.pipeline import main, sample_balanced, sample_texts_path
from compeff_hf.data import load_rows, read_jsonl
from compeff_hf.errors import CompEffError

pytestmark = pytest.mark.slow


def _config(out: Path, url: str, **overrides) -> ConstructConfig:
    values = {
        "output_dir": str(out),
        "endpoint_url": url,
        "max_texts": 21,
        "min_attribute_count": 2,
        "ap_preference_percentile": 10.0,
        "analysis_prompts_per_perspective": 3,
        "tasks_per_perspective": 3,
        "demo_requests_per_task": 2,
        "max_perspectives": 3,
        "min_tasks_per_perspective": 2,
        "instructions_per_text": 2,
        "k_demos": 2,
        "max_concurrency": 4,
    }
    values.update(overrides)
    return ConstructConfig(**values)


def _ds(out: Path, name: str) -> list[dict]:
    return load_rows(out / name).to_list()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("construct")
    with ScriptedLLM() as llm:
        assert main(_config(out, llm.url)) == 0
        requests = dict(llm.requests)
        requests["temperatures"] = dict(llm.temperatures)
    return out, requests


def test_every_substage_dataset_has_content(finished_run):
    out, requests = finished_run
    summary = json.loads((out / "summary.json").read_text())
    texts = _ds(out, "texts")
    assert len(texts) == 21 and {t["domain"] for t in texts} == {
        "product_review", "restaurant_review", "movie_review", "tweet", "political_tweet",
    }  # fmt: skip
    assert requests["attributes"] == 21
    vocab = _ds(out, "attribute_vocabulary")
    assert {"tone", "frustration", "anger", "humor"} <= {v["name"] for v in vocab}  # normalised names
    persp = _ds(out, "perspectives")
    assert any(len(p["members"]) > 1 for p in persp)
    assert sum(p["selected"] for p in persp) == min(3, len(persp))
    tasks = _ds(out, "tasks")
    assert {t["source"] for t in tasks} >= {"generated"}
    assert not any("Comparison" in t["task_name"] for t in tasks)  # two-text tasks dropped
    demos = _ds(out, "demos")
    assert demos and all(d["output"] in ("positive", "negative", "3", "4") for d in demos)
    prompts = _ds(out, "analysis_prompts")
    assert prompts and all(p["prompt"].split()[0] in ("Analyze", "What", "How") for p in prompts)
    sub = summary["substages"]
    assert sub["tasks"]["two_text_dropped"] >= 1
    assert summary["llm"]["attributes"]["requests"] == 21
    assert "attributes" in summary["prompts"]
    card = (out / "README.md").read_text()
    assert "config_name: perspectives" in card and "what kind of sentiment-related attributes" in card
    assert "## Pipeline (distilabel)" in card and "perspectives --> task_specs" in card  # the DAG it ran
    assert "name: compeff-construct" in (out / "pipeline.yaml").read_text()
    assert requests["temperatures"]["attributes"] == {0.0} and requests["temperatures"]["ideas"] == {1.0}
    assert summary["decoding"]["attributes"] == "greedy" and summary["decoding"]["other"].startswith("sample")


@pytest.fixture(scope="module")
def completion_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("construct-completion")
    with ScriptedLLM() as llm:
        assert main(_config(out, llm.url, prompt_format="completion")) == 0
        return out, dict(llm.requests), list(llm.completion_params)


def test_completion_prompts_for_base_models_give_parsed_tasks_without_copies(completion_run):
    out, requests, params = completion_run
    # Every request went raw through TGI's generate API, none through the Messages API.
    assert requests and all(k.startswith("completion:") for k in requests), requests
    assert requests["completion:attributes"] == 21 and requests["completion:tasks"] >= 2
    # Each continuation is cut at the end of its paragraph (demos: at the end of their list).
    assert {tuple(p["stop"]) for p in params} == {("\n\n",), ("\n\n\n", "\nTask:", "\nReal texts")}
    assert all("another one" not in r["generation"] for r in _ds(out, "attributes"))
    tasks = _ds(out, "tasks")
    generated = [t for t in tasks if t["source"] == "generated"]
    assert generated and all(t["examples"] for t in generated)
    names = {t["task_name"] for t in tasks}
    assert "Frustration Level Rating" not in names  # a copy of the prompt's worked example
    assert not any("Comparison" in n for n in names)  # two-text task
    inputs = {e["input"] for t in tasks for e in t["examples"]}
    assert "I am so angry right now." in inputs
    assert not any(i.startswith("The parcel is late again") for i in inputs)  # copied example dropped
    ideas = {i["task_name"] for i in _ds(out, "task_ideas")}
    assert ideas and "Frustration Level Rating" not in ideas
    prompts = [p["prompt"] for p in _ds(out, "analysis_prompts")]
    assert prompts and not any(p.startswith("Identify the sarcastic") for p in prompts)
    demos = _ds(out, "demos")
    assert demos and all(d["output"] in ("positive", "negative", "3") for d in demos)
    assert len({(d["task_id"], d["input"]) for d in demos}) == len(demos)
    reasons = {r["reason"] for r in _ds(out, "rejected_demos")}
    assert "input repeats an earlier demo of the task" in reasons
    summary = json.loads((out / "summary.json").read_text())
    assert summary["prompt_format"] == "completion" and "completion/task_spec" in summary["prompts"]
    card = (out / "README.md").read_text()
    assert "Sentiment-analysis task definitions" in card


def test_instructions_schema_and_formats(finished_run):
    out, _ = finished_run
    rows = _ds(out, "data")
    assert len(rows) == 21 * 2
    assert len({r["id"] for r in rows}) == len(rows)
    tasks = {t["id"]: t for t in _ds(out, "tasks")}
    persp = {p["id"] for p in _ds(out, "perspectives")}
    for r in rows:
        assert r["perspective_id"] in persp
        (msg,) = r["messages"]
        assert msg["role"] == "user" and r["text"] in msg["content"]
        if r["instruction_type"] == "task":
            assert r["task_id"] in tasks and r["task_name"] == tasks[r["task_id"]]["task_name"]
            assert msg["content"].endswith(f"Input: {r['text']}\nOutput:")
        else:
            assert r["instruction_type"] == "analysis" and r["task_id"] is None and r["task_name"] == "analysis"
            assert msg["content"].endswith(f"\n\nInput: {r['text']}")
    assert {r["instruction_type"] for r in rows} == {"analysis", "task"}


def test_rejected_rows_carry_reasons(finished_run):
    out, _ = finished_run
    rejected = _ds(out, "rejected")
    by_stage = {r["substage"] for r in rejected}
    assert {"attributes", "tasks", "demos"} <= by_stage
    assert all(r["reason"] for r in rejected)
    junk = [r for r in rejected if r["substage"] == "attributes"]
    assert junk[0]["generation"].startswith("I am sorry") and junk[0]["kind"] == "parse"


def test_finished_stage_is_skipped(finished_run):
    out, _ = finished_run
    before = (out / "summary.json").read_text()
    with ScriptedLLM() as llm:
        assert main(_config(out, llm.url)) == 0
        assert sum(llm.requests.values()) == 0
    assert (out / "summary.json").read_text() == before


def test_interrupted_run_resumes_finished_substages_and_rows(finished_run, tmp_path):
    import shutil

    src, _ = finished_run
    out = tmp_path / "run"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns(".lock"))
    # Simulate a kill during attribute enumeration: the summary and every marker from "attributes" on are gone,
    # and only the first 12 requests of that sub-stage reached the ledger.
    (out / "summary.json").unlink()
    marks = out / "_ledger" / "substages.jsonl"
    marks.write_text(marks.read_text().splitlines()[0] + "\n")
    ledger = out / "_ledger" / "llm_attributes.jsonl"
    lines = ledger.read_text().splitlines()
    ledger.write_text("\n".join(lines[:12]) + "\n" + lines[12][:20])  # plus a half-written line
    with ScriptedLLM() as llm:
        assert main(_config(out, llm.url)) == 0
        assert dict(llm.requests) == {"attributes": 21 - 12}  # later sub-stages: same prompts, all in their ledgers
    assert _ds(out, "data") == _ds(src, "data")
    assert len(read_jsonl(ledger)) == 21


def test_other_config_is_refused(finished_run):
    out, _ = finished_run
    with ScriptedLLM() as llm, pytest.raises(CompEffError, match="different construct config"):
        main(_config(out, llm.url, k_demos=1))


def test_no_frequent_attribute_is_a_clear_error(tmp_path):
    with ScriptedLLM() as llm, pytest.raises(CompEffError, match="min_attribute_count"):
        main(_config(tmp_path / "r", llm.url, max_texts=3, min_attribute_count=50))


def test_fallback_seed_tasks_when_generator_gives_none(tmp_path):
    with ScriptedLLM() as llm:
        cfg = _config(tmp_path / "r", llm.url, tasks_per_perspective=0, min_tasks_per_perspective=3)
        assert main(cfg) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["substages"]["tasks"]["seed_tasks"] >= 1
    assert "seed" in {t["source"] for t in _ds(tmp_path / "r", "tasks")}


def test_bad_input_names_the_column(tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"body": "hello there friends"}\n')
    with pytest.raises(CompEffError, match=r"missing column\(s\) \['text'\]"):
        main(_config(tmp_path / "r", "http://127.0.0.1:9", input=str(path)))


def test_sample_texts_and_balanced_sampling():
    rows = [json.loads(line) for line in sample_texts_path().read_text().splitlines()]
    assert len(rows) >= 200 and len({r["text"] for r in rows}) == len(rows)
    tagged = [{"id": str(i), "domain": r["domain"]} for i, r in enumerate(rows)]
    picked = sample_balanced(tagged, 10, seed=1)
    assert len(picked) == 10 and all(sum(p["domain"] == d for p in picked) == 2 for d in {r["domain"] for r in rows})
    assert picked == sample_balanced(tagged, 10, seed=1)


@pytest.mark.parametrize("recipe", ["quickstart", "paper"])
def test_recipes_parse(recipe, monkeypatch):
    from compeff_hf.configs import parse_recipe

    monkeypatch.setenv("GENERATOR_URL", "http://127.0.0.1:8080")  # the paper recipe names its endpoint by variable
    root = Path(__file__).resolve().parents[2]
    path = str(root / "recipes" / recipe / "construct.yaml")
    if recipe == "paper":  # no silent built-in sample at paper scale: both text pools must be named
        monkeypatch.delenv("PAPER_TEXTS", raising=False)
        with pytest.raises(CompEffError, match=r"PAPER_TEXTS"):
            parse_recipe([ConstructConfig], ["--config", path])
        monkeypatch.setenv("PAPER_TEXTS", "my-org/user-texts")
        monkeypatch.setenv("PAPER_REFERENCE_TEXTS", "my-org/reference-texts")
    (cfg,) = parse_recipe([ConstructConfig], ["--config", path])
    assert cfg.output_dir == f"runs/{recipe}/construct"
    assert cfg.min_attribute_count == (1 if recipe == "quickstart" else 10)
    assert cfg.endpoint_url == (None if recipe == "quickstart" else "http://127.0.0.1:8080")
    if recipe == "paper":
        assert (cfg.input, cfg.reference_input) == ("my-org/user-texts", "my-org/reference-texts")
        assert cfg.instructions_per_text == 25


def test_cli_prints_summary_of_finished_run(finished_run, capsys):
    from compeff_hf.cli import main as cli

    out, _ = finished_run
    with ScriptedLLM() as llm:
        flags = {k: v for k, v in _config(out, llm.url).__dict__.items() if v is not None}
        args = ["construct"]
        for key, value in flags.items():
            if isinstance(value, list):
                args += [f"--{key}", *value]
            elif key in ("model", "api_key_env", "seed") or not isinstance(value, bool) or value:
                args += [f"--{key}", str(value)]
        assert cli(args) == 0
        assert sum(llm.requests.values()) == 0
    printed = capsys.readouterr().out
    assert "construct: 42 instructions" in printed and "perspectives" in printed


def test_unknown_prompt_format_is_refused_with_the_field_name(tmp_path):
    from compeff_hf.errors import RecipeError

    with pytest.raises(RecipeError, match="prompt_format"):
        _config(tmp_path, "http://127.0.0.1:9", prompt_format="raw")


def test_a_substage_whose_requests_all_failed_is_not_done_and_a_rerun_retries_it(tmp_path):
    """Issue #15 item 3: an endpoint answering 500 to everything must not leave a finished attribute step."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "llm"))
    from faulty_server import FaultyServer, Schedule

    from compeff_hf.errors import EndpointError

    out = tmp_path / "c"
    outage = Schedule(fault_rate=1.0, kinds=("500",))
    with FaultyServer(outage) as down, pytest.raises(EndpointError, match="all 8 requests failed"):
        main(_config(out, down.url, max_retries=0, retry_backoff_s=0.01, max_texts=8))
    marks = read_jsonl(out / "_ledger" / "substages.jsonl")
    assert [m["id"] for m in marks] == ["texts"]  # attributes not recorded as done
    with ScriptedLLM() as llm:
        assert main(_config(out, llm.url, max_texts=8)) == 0
        assert llm.requests["attributes"] == 8  # every failed request is sent again
    assert json.loads((out / "summary.json").read_text())["llm"]["attributes"]["ok"] >= 1
