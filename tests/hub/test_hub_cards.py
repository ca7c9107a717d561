"""Cards and redaction, offline: metadata must parse back, validate, inherit the license, and hold no secrets."""

from __future__ import annotations

import pytest
from huggingface_hub import EvalResult, ModelCard

from compeff_hf.errors import CompEffError
from compeff_hf.hub.cards import (
    build_model_card,
    eval_results_from,
    inherit_license,
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
