"""Optional logit-level distillation (TRL's GKD): refused across vocabularies; within one, the loss is a divergence
from the teacher (zero against an identical teacher) and training moves the student towards the teacher."""

import json

import pytest
import torch

from compeff_hf.configs import parse_recipe
from compeff_hf.errors import RecipeError
from compeff_hf.testing import build_model, build_tokenizer
from compeff_hf.train.config import train_config_classes
from compeff_hf.train.sft import train

ROWS = [("Classify: the pasta was cold.", "negative"), ("Classify: lovely staff!", "positive")] * 4


def write_rows(path):
    path.write_text("".join(json.dumps({"instruction": q, "output": a}) + "\n" for q, a in ROWS))
    return path


def recipe(student, teacher, data, out, *extra):
    args = ["--dataset_name", str(data), "--model_name_or_path", str(student), "--output_dir", str(out)]
    args += ["--distillation", "gkd", "--gkd_teacher_model", str(teacher), "--max_steps", "2", "--logging_steps", "1"]
    args += ["--per_device_train_batch_size", "2", "--max_length", "128", "--save_strategy", "no", *extra]
    return parse_recipe(train_config_classes(), args)


def teacher_student_kl(student_dir, teacher_dir) -> float:
    """Mean KL(teacher || student) over the response tokens of the training rows (forward KL, per token)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(student_dir))
    student = AutoModelForCausalLM.from_pretrained(str(student_dir)).eval()
    teacher = AutoModelForCausalLM.from_pretrained(str(teacher_dir)).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for question, answer in dict(ROWS).items():
            prompt = [{"role": "user", "content": question}]
            n = len(tok.apply_chat_template(prompt, add_generation_prompt=True, return_dict=True)["input_ids"])
            full = tok.apply_chat_template([*prompt, {"role": "assistant", "content": answer}], return_dict=True)
            ids = torch.tensor([full["input_ids"]])
            s = torch.log_softmax(student(input_ids=ids).logits[0, n - 1 : -1], -1)
            t = torch.log_softmax(teacher(input_ids=ids).logits[0, n - 1 : -1], -1)
            total += float((t.exp() * (t - s)).sum())
            count += s.shape[0]
    return total / count


def test_gkd_refuses_teacher_with_another_vocabulary(tmp_path, tiny_gemma):
    other_tok = build_tokenizer(tmp_path / "other-tok", "gemma3", vocab_size=600)
    teacher = build_model(tmp_path / "teacher", "gemma3", tokenizer_dir=other_tok)
    with pytest.raises(RecipeError, match="share a vocabulary") as err:
        train(*recipe(tiny_gemma, teacher, write_rows(tmp_path / "d.jsonl"), tmp_path / "out"))
    assert "distillation: sft" in str(err.value)


@pytest.mark.slow
def test_gkd_loss_is_a_divergence_from_the_teacher(tmp_path, tiny_gemma):
    data = write_rows(tmp_path / "d.jsonl")
    # the student as its own teacher: identical distributions, so the generalised JSD is zero (SFT's loss is not)
    same = train(*recipe(tiny_gemma, tiny_gemma, data, tmp_path / "same", "--max_steps", "1"))
    assert same["first_loss"] == pytest.approx(0.0, abs=1e-5)
    teacher = build_model(tmp_path / "teacher", "gemma3", seed=1, hidden_size=96, tokenizer_dir=tiny_gemma)
    other = train(*recipe(tiny_gemma, teacher, data, tmp_path / "other", "--max_steps", "1"))
    assert other["first_loss"] > 1e-3


@pytest.mark.slow
def test_gkd_moves_the_student_towards_the_teacher(tmp_path, tiny_gemma):
    teacher = build_model(tmp_path / "teacher", "gemma3", seed=1, hidden_size=96, tokenizer_dir=tiny_gemma)
    out = tmp_path / "out"
    extra = ["--max_steps", "12", "--learning_rate", "3e-3", "--lr_scheduler_type", "constant", "--weight_decay", "0"]
    summary = train(*recipe(tiny_gemma, teacher, write_rows(tmp_path / "d.jsonl"), out, *extra))
    assert summary["status"] == "done" and (out / "model.safetensors").exists()
    before, after = teacher_student_kl(tiny_gemma, teacher), teacher_student_kl(out, teacher)
    assert after < 0.7 * before, (before, after)
    assert summary["final_loss"] < summary["first_loss"]
