import json

import pytest

from compeff_hf.errors import ModelError
from compeff_hf.models import ensure_builtin, resolve_model
from compeff_hf.train.template import end_of_turn_id, template_kwargs, tokenize_row


def test_local_folder_and_hub_id(tiny_gemma, tmp_path):
    assert resolve_model(str(tiny_gemma)) == str(tiny_gemma)
    assert resolve_model("google/gemma-3-4b-it") == "google/gemma-3-4b-it"
    with pytest.raises(ModelError, match="config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="no such local folder"):
        resolve_model("./missing/model")


@pytest.mark.parametrize("arch", ["gemma3", "qwen3", "llama"])
def test_tiny_models_generate_with_their_chat_template(tiny_model_factory, arch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_model_factory(arch)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    messages = [{"role": "user", "content": "The food was great."}, {"role": "assistant", "content": "positive"}]
    # the released template (no generation markers): training rows are built by rendering it (train/template.py)
    eot = end_of_turn_id(tok)
    row = tokenize_row(tok, messages[:1], messages[1:], eot, kwargs=template_kwargs(False))
    trained = [t for t in row["labels"] if t != -100]
    assert tok.decode(trained[:-1]) == "positive" and trained[-1] == eot  # the end-of-turn token is trained too
    prompt = tok.apply_chat_template(messages[:1], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]


@pytest.mark.slow
def test_builtin_converts_once_and_generates(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPEFF_HF_HOME", str(tmp_path))
    path, converted = ensure_builtin("gemma-3-270m")
    assert converted is True
    marker = path / "compeff_hf_model.json"
    stamp = marker.stat().st_mtime_ns
    again, converted_again = ensure_builtin("gemma-3-270m")
    assert (again, converted_again) == (path, False)
    assert marker.stat().st_mtime_ns == stamp
    assert resolve_model("gemma-3-270m") == str(path)
    assert json.loads(marker.read_text())["dtype"] == "bfloat16"

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert not list(path.glob("*.gguf"))  # a plain safetensors folder
    enc = tok("Review: The pasta was wonderful and the staff were kind.\nSentiment:", return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=5, do_sample=False)
    text = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert text.strip(), "the converted model produced no text"
    assert "<start_of_turn>model" in tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
