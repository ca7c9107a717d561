"""Cards and redaction, offline: metadata must parse back, validate, inherit the license, and hold no secrets."""

from __future__ import annotations

import pytest
from huggingface_hub import EvalResult, ModelCard

from compeff_hf.errors import CompEffError
from compeff_hf.hub.cards import (
    BIBTEX,
    build_model_card,
    eval_results_from,
    inherit_license,
    model_card_from_training_info,
    validate_card_metadata,
)
from compeff_hf.hub.redact import REDACTED, is_secret_key, redact, redact_text

SECRET = "hf_abcdefghijklmnopqrstuvwxyz012345"


def test_model_card_metadata_round_trips(tiny_gemma, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    card = build_model_card(
        tiny_gemma,
        base_model="gemma-3-270m",
        datasets=["me/qs-data", "./local/train.jsonl"],
        teacher="Qwen/Qwen3-32B",
        hyperparameters={"learning_rate": 5e-5, "api_key": "abc12345678", "note": f"token {SECRET}"},
        training={"final_loss": 1.25},
        reproduce=f"HF_TOKEN={SECRET} compeff-hf train --config sft.yaml",
        eval_results={"sst2": {"accuracy": 0.9, "n": 10}, "semeval": {"macro_f1": 55.1}},
        eval_dataset_id="me/qs-data",
        model_id="me/qs-student",
    )
    text = str(card)
    assert SECRET not in text and "abc12345678" not in text and REDACTED in text
    parsed = ModelCard(text)
    assert parsed.data.base_model == "google/gemma-3-270m"
    assert parsed.data.license == "gemma"  # inherited from the base model
    assert parsed.data.datasets == ["me/qs-data"]  # local paths never reach the metadata
    got = {(r.dataset_config, r.metric_type, r.metric_config, r.metric_value) for r in parsed.data.eval_results}
    assert got == {("sst2", "accuracy", None, 0.9), ("semeval", "f1", "macro", 55.1)}  # counts are not metrics
    assert {r.dataset_type for r in parsed.data.eval_results} == {"me/qs-data"}  # a Hub dataset id
    assert "<start_of_turn>user\nWhat is the overall sentiment" in text  # the exact prompt format
    assert "AutoModelForCausalLM.from_pretrained(model_id)" in text
    validate_card_metadata(card)


def test_eval_results_accepts_objects_and_dicts():
    obj = EvalResult(
        task_type="text-classification", dataset_type="sentibench", dataset_name="x", metric_type="f1", metric_value=1
    )
    assert eval_results_from([obj]) == [obj]
    assert eval_results_from([obj.__dict__ | {}])[0].metric_value == 1
    assert eval_results_from({"results": {"imdb": 0.8}})[0].metric_type == "accuracy"
    with pytest.raises(CompEffError):
        eval_results_from("0.9")


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("Qwen/Qwen3-4B", "apache-2.0"),
        ("meta-llama/Llama-3.2-3B-Instruct", "llama3.2"),
        ("google/gemma-3-4b-it", "gemma"),
        ("someone/unknown-model", None),
        ("./not/here", None),
    ],
)
def test_license_inherited_from_base(base, expected):
    assert inherit_license(base)[0] == expected


def test_license_read_from_local_base_card(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# base\n")
    assert inherit_license(str(tmp_path))[0] == "mit"


def test_validation_rejects_bad_metadata():
    with pytest.raises(CompEffError, match="base_model"):
        validate_card_metadata("---\nbase_model: ./my/local/folder\n---\ntext")
    with pytest.raises(CompEffError, match="model-index"):
        validate_card_metadata("---\nmodel-index:\n- name: x\n  results: []\n---\ntext")


def test_redaction_rules(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-0123456789")
    assert is_secret_key("hf_token") and is_secret_key("api_key") and not is_secret_key("prompt_tokens")
    assert not is_secret_key("max_new_tokens")
    cleaned = redact({"api_key": "x" * 10, "prompt_tokens": 12, "url": "https://u:p@host/v1?api_key=zz"})
    assert cleaned == {"api_key": REDACTED, "prompt_tokens": 12, "url": f"https://host/v1?api_key={REDACTED}"}
    assert "sk-live-0123456789" not in redact_text("calling with sk-live-0123456789")


def test_two_folders_of_one_stage_get_distinct_configs(tmp_path):
    import json

    import datasets

    from compeff_hf.hub.push import stage_configs

    names = []
    for folder in ("eval_base", "eval"):
        stage = tmp_path / folder
        (stage / "predictions").mkdir(parents=True)
        datasets.Dataset.from_dict({"id": ["a"]}).to_parquet(
            str(stage / "predictions" / "train-00000-of-00001.parquet")
        )
        (stage / "summary.json").write_text(json.dumps({"stage": "eval", "status": "done", "config_hash": folder}))
        names += [c.name for c in stage_configs(stage)]
    assert names == ["eval_base-predictions", "predictions"]


# An eval stage's results.json, as `compeff-hf eval` writes it (see evaluation/sentibench.py).
EVAL_RESULTS = {
    "model": "student",
    "protocol": {"k_shot": 4, "seeds": [42, 52]},
    "scores": {
        "datasets": {
            "sst2": {"group": "bsa", "metric": "macro-F1", "mean": 81.234, "std": 1.5},
            "opener": {"group": "fsa", "metric": "micro-F1", "mean": 40.5, "std": 0.5},
        },
        "groups": {"bsa": {"mean": 81.234, "datasets": 1}, "fsa": {"mean": 40.5, "datasets": 1}},
        "average": 60.867,
        "n_datasets": 2,
    },
}


def _card(model_dir, **kwargs):
    args = {
        "base_model": "Qwen/Qwen3-4B",
        "datasets": ["me/qs-data"],
        "hyperparameters": {},
        "training": {},
        "reproduce": "compeff-hf train --config sft.yaml",
    }
    return build_model_card(model_dir, **(args | kwargs))


def test_eval_stage_results_reach_the_model_index_unscaled(tiny_gemma):
    card = _card(tiny_gemma, eval_results=EVAL_RESULTS, eval_dataset_id="me/qs-data")
    results = {r.dataset_config: r for r in ModelCard(str(card)).data.eval_results}
    assert set(results) == {"sst2", "opener", "average"}
    assert results["average"].metric_value == 60.87  # the mean of the datasets, on the 0-100 scale of the table
    assert results["sst2"].metric_value == 81.23 and results["opener"].metric_value == 40.5
    assert {r.dataset_type for r in results.values()} == {"me/qs-data"}  # never the bare word "sentibench"
    assert "| average | test | average of 2 datasets | 60.87 |" in card.text


def test_results_without_a_hub_dataset_stay_out_of_the_model_index(tiny_gemma):
    card = _card(tiny_gemma, eval_results=EVAL_RESULTS)
    assert ModelCard(str(card)).data.eval_results is None  # model-index needs a Hub dataset id
    assert "| sst2 | test | macro-F1 | 81.23 |" in card.text  # the table still shows them
    with pytest.raises(CompEffError, match="eval_dataset_id"):
        _card(tiny_gemma, eval_results=EVAL_RESULTS, eval_dataset_id="sentibench")


def test_teacher_and_base_columns_beside_the_student(tiny_gemma):
    teacher = json_copy(EVAL_RESULTS, sst2=95.0, opener=70.25, average=82.625)
    base = json_copy(EVAL_RESULTS, sst2=50.0, opener=10.0, average=30.0)
    card = _card(
        tiny_gemma,
        eval_results=EVAL_RESULTS,
        compare_results={"base": base, "teacher": teacher},
        eval_dataset_id="me/qs-data",
    )
    assert "| dataset | split | metric | this model | base | teacher |" in card.text
    assert "| sst2 | test | macro-F1 | 81.23 | 50 | 95 |" in card.text
    assert "| opener | test | micro-F1 | 40.5 | 10 | 70.25 |" in card.text
    assert "| average | test | average of 2 datasets | 60.87 | 30 | 82.62 |" in card.text
    # Only the student's own scores are metadata.
    assert {r.metric_value for r in ModelCard(str(card)).data.eval_results} == {81.23, 40.5, 60.87}


def json_copy(results, **means):
    import copy

    out = copy.deepcopy(results)
    for name, value in means.items():
        if name == "average":
            out["scores"]["average"] = value
        else:
            out["scores"]["datasets"][name]["mean"] = value
    return out


def test_paper_link_tag_and_citation(tiny_gemma):
    card = _card(tiny_gemma)
    assert "arxiv:2510.24425" in ModelCard(str(card)).data.tags  # the Hub's "Paper for" link
    assert "https://arxiv.org/abs/2510.24425" in card.text
    assert BIBTEX in card.text
    assert 'doi = "10.18653/v1/2025.emnlp-main.1122"' in BIBTEX and 'pages = "22081--22102"' in BIBTEX
    assert "Bao, Jianzhu" in BIBTEX and "Xu, Ruifeng" in BIBTEX


def test_lora_student_is_a_peft_card(tiny_gemma, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_gemma), LoraConfig(r=2, target_modules=["q_proj", "v_proj"])
    )
    model.save_pretrained(tmp_path / "adapter")
    AutoTokenizer.from_pretrained(tiny_gemma).save_pretrained(tmp_path / "adapter")
    lora = ModelCard(str(_card(tmp_path / "adapter")))
    assert lora.data.library_name == "peft" and lora.data.base_model == "Qwen/Qwen3-4B"
    assert "AutoPeftModelForCausalLM.from_pretrained(model_id)" in lora.text
    full = ModelCard(str(_card(tiny_gemma)))
    assert full.data.library_name == "transformers"
    assert "AutoModelForCausalLM.from_pretrained(model_id)" in full.text


def test_training_card_is_written_by_the_one_builder(tiny_gemma, tmp_path):
    import shutil

    from compeff_hf.train.card import write_card

    shutil.copytree(tiny_gemma, tmp_path / "student")
    info = {
        "base_model": "Qwen/Qwen3-4B",
        "teacher": "Qwen/Qwen3-32B",
        "datasets": [{"name": "me/qs-data", "rows": 10}],
        "hyperparameters": {"learning_rate": 1e-5},
        "global_steps": 7,
        "reproduce_command": "compeff-hf train --config x.yaml",
    }
    assert write_card(tmp_path / "student", info) == "hub.cards"
    written = (tmp_path / "student" / "README.md").read_text()
    assert written == str(model_card_from_training_info(tmp_path / "student", info))
    assert "| global_steps | 7 |" in written and "Qwen/Qwen3-32B" in written
