"""Optional logit-level distillation (TRL's GKD): refused across vocabularies, runs within one."""

import json

import pytest

from compeff_hf.configs import parse_recipe
from compeff_hf.errors import RecipeError
from compeff_hf.testing import build_model, build_tokenizer
from compeff_hf.train.config import train_config_classes
from compeff_hf.train.sft import train


def write_rows(path):
    rows = [("Classify: the pasta was cold.", "negative"), ("Classify: lovely staff!", "positive")] * 4
    path.write_text("".join(json.dumps({"instruction": q, "output": a}) + "\n" for q, a in rows))
    return path


def recipe(student, teacher, data, out, *extra):
    args = ["--dataset_name", str(data), "--model_name_or_path", str(student), "--output_dir", str(out)]
    args += ["--distillation", "gkd", "--gkd_teacher_model", str(teacher), "--max_steps", "2"]
    args += ["--per_device_train_batch_size", "2", "--max_length", "128", "--save_strategy", "no", *extra]
    return parse_recipe(train_config_classes(), args)


def test_gkd_refuses_teacher_with_another_vocabulary(tmp_path, tiny_gemma):
    other_tok = build_tokenizer(tmp_path / "other-tok", "gemma3", vocab_size=600)
    teacher = build_model(tmp_path / "teacher", "gemma3", tokenizer_dir=other_tok)
    with pytest.raises(RecipeError, match="share a vocabulary") as err:
        train(*recipe(tiny_gemma, teacher, write_rows(tmp_path / "d.jsonl"), tmp_path / "out"))
    assert "distillation: sft" in str(err.value)


@pytest.mark.slow
def test_gkd_trains_with_same_vocabulary_teacher(tmp_path, tiny_gemma):
    teacher = build_model(tmp_path / "teacher", "gemma3", seed=1, hidden_size=96, tokenizer_dir=tiny_gemma)
    summary = train(*recipe(tiny_gemma, teacher, write_rows(tmp_path / "d.jsonl"), tmp_path / "out"))
    assert summary["status"] == "done" and summary["final_loss"] is not None
    assert (tmp_path / "out" / "model.safetensors").exists()
