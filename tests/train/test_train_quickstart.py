"""The quickstart recipe on the real embedded Gemma-3-270M, on CPU: the loss falls, the student loads and answers."""

import json
from pathlib import Path

import pytest

from compeff_hf.configs import parse_recipe
from compeff_hf.train.config import train_config_classes
from compeff_hf.train.sft import train

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quickstart_recipe_trains_gemma_270m(tmp_path, gemma_270m, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.chdir(REPO)  # the recipe names its data relative to the repository root
    out = tmp_path / "sft"
    # A smaller slice of the same recipe keeps CI in budget: the same rows seen each epoch, so the loss must fall.
    args = ["--config", "recipes/quickstart/sft.yaml", "--output_dir", str(out), "--max_train_samples", "12"]
    args += ["--num_train_epochs", "4", "--max_length", "256"]
    summary = train(*parse_recipe(train_config_classes(), args))
    assert summary["status"] == "done"
    assert summary["final_loss"] < summary["first_loss"]
    info = json.loads((out / "training_info.json").read_text())
    assert info["base_model"] == "gemma-3-270m" and info["train_tokens"] > 0

    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    assert tok.convert_tokens_to_ids("<end_of_turn>") in model.generation_config.eos_token_id
    enc = tok.apply_chat_template(
        [{"role": "user", "content": "Classify the emotion: what a wonderful day! Return the label only."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    new = model.generate(**enc, max_new_tokens=8, do_sample=False)[0, enc["input_ids"].shape[1] :]
    assert len(new) >= 1 and tok.decode(new, skip_special_tokens=True).strip()
