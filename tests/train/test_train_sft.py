"""Correct supervision on tiny real models: what is trained, that the student stops, that packing isolates rows."""

import json

import pytest
import torch

from compeff_hf.cli import main as cli_main
from compeff_hf.configs import parse_recipe
from compeff_hf.errors import RecipeError
from compeff_hf.testing import ARCHS
from compeff_hf.train.config import train_config_classes
from compeff_hf.train.sft import build_trainer, train

ROWS = [
    ("Classify the sentiment: the pasta was cold and bland.", "negative"),
    ("Classify the sentiment: I loved the friendly staff!", "positive"),
    ("Extract the aspect: the battery lasts all day.", '[{"aspect_term": "battery", "sentiment": "positive"}]'),
    ("Which emotion: what a wonderful day!", "joy"),
]


def write_rows(path, rows=ROWS):
    with path.open("w") as fh:
        for i, (q, a) in enumerate(rows):
            fh.write(json.dumps({"id": f"r{i}", "messages": [{"role": "user", "content": q}], "output": a}) + "\n")
    return path


def configs(model, data, out, *extra):
    args = ["--dataset_name", str(data), "--model_name_or_path", str(model), "--output_dir", str(out)]
    args += ["--per_device_train_batch_size", "4", "--max_length", "256", "--report_to", "none", *extra]
    return parse_recipe(train_config_classes(), args)


@pytest.mark.parametrize("arch", ["gemma3", "qwen3", "llama"])
def test_loss_only_on_response_and_end_of_turn(tmp_path, tiny_model_factory, arch):
    model = tiny_model_factory(arch)
    data = write_rows(tmp_path / "d.jsonl")
    trainer, tok, eot, _ = build_trainer(*configs(model, data, tmp_path / "out", "--packing", "false"))
    assert tok.convert_ids_to_tokens(eot) == ARCHS[arch]["eot"]
    by_prompt_end = {}
    for row in trainer.train_dataset:
        trained = [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
        by_prompt_end[tok.decode(row["input_ids"])] = trained
    assert len(by_prompt_end) == len(ROWS)
    for text, trained in by_prompt_end.items():
        (answer,) = [a for q, a in ROWS if q in text]
        # exactly the response's tokens followed by the end-of-turn token: no prompt, no template newline
        assert trained[-1] == eot
        assert tok.decode(trained[:-1]) == answer


def test_packed_rows_never_attend_to_each_other(tmp_path, tiny_gemma):
    data = write_rows(tmp_path / "d.jsonl")
    trainer, _, _, _ = build_trainer(*configs(tiny_gemma, data, tmp_path / "out", "--packing", "true"))
    batch = next(iter(trainer.get_train_dataloader()))
    assert "attention_mask" not in batch  # padding-free: rows are told apart by position ids
    model = trainer.model.eval()
    ids, pos = batch["input_ids"][:1], batch["position_ids"][:1]
    starts = (pos[0] == 0).nonzero().flatten().tolist() + [ids.shape[1]]
    assert len(starts) - 1 >= 2, "the tiny rows should share one packed sequence"
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=pos).logits
        naive = model(input_ids=ids).logits  # negative control: one long sequence, rows see each other
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            alone = model(input_ids=ids[:, a:b]).logits
            torch.testing.assert_close(packed[:, a:b], alone, atol=1e-4, rtol=1e-4)
        a, b = starts[1], starts[2]
        assert not torch.allclose(naive[:, a:b], model(input_ids=ids[:, a:b]).logits, atol=1e-4)


def test_trained_student_stops_at_end_of_turn(tmp_path, tiny_gemma):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = write_rows(tmp_path / "d.jsonl")
    out = tmp_path / "student"
    extra = ["--packing", "false", "--max_steps", "150", "--learning_rate", "3e-3", "--weight_decay", "0.0"]
    extra += ["--lr_scheduler_type", "constant", "--save_strategy", "no", "--logging_steps", "50"]
    summary = train(*configs(tiny_gemma, data, out, *extra))
    assert summary["final_loss"] < 0.1 * summary["first_loss"]

    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    eot = tok.convert_tokens_to_ids("<end_of_turn>")
    assert eot in model.generation_config.eos_token_id
    for question, answer in ROWS:
        enc = tok.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        out_ids = model.generate(**enc, max_new_tokens=40, do_sample=False)[0, enc["input_ids"].shape[1] :].tolist()
        assert out_ids[-1] == eot, f"did not stop: {tok.decode(out_ids)!r}"
        assert tok.decode(out_ids[:-1]) == answer


def test_end_to_end_cli_writes_model_card_info_and_skips_when_done(tmp_path, tiny_gemma, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "restored-after-the-test")  # train hands --hub_token over through HF_TOKEN
    data = write_rows(tmp_path / "d.jsonl", ROWS * 4)
    out = tmp_path / "run"
    argv = ["train", "--dataset_name", str(data), "--model_name_or_path", str(tiny_gemma), "--output_dir", str(out)]
    argv += ["--max_steps", "4", "--per_device_train_batch_size", "2", "--max_length", "128"]
    argv += ["--teacher_model", "google/gemma-3-27b-it", "--learning_rate", "1e-3"]
    assert cli_main([*argv, "--hub_token", "opaque-train-tok-42"]) == 0
    written = [p for p in out.rglob("*") if p.is_file() and b"opaque-train-tok-42" in p.read_bytes()]
    assert not written  # not in training_info.json, training_args.bin, config.yaml or summary.json
    info = json.loads((out / "training_info.json").read_text())
    assert info["teacher"] == "google/gemma-3-27b-it"
    assert info["train_tokens"] > info["loss_tokens"] > 0
    assert info["hyperparameters"]["learning_rate"] == 1e-3
    assert info["final_loss"] is not None and info["reproduce_command"]
    assert (out / "README.md").read_text().count("gemma-3-27b-it") >= 1
    assert (out / "model.safetensors").exists() and not list(out.glob("checkpoint-*"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "done"
    capsys.readouterr()
    assert cli_main(argv) == 0  # same config again: finished output is reused, not retrained
    assert '"status": "skipped"' in capsys.readouterr().out
    # a different config into the same folder is refused with a way out
    assert cli_main([*argv, "--learning_rate", "2e-3"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_bad_columns_fail_cleanly_through_the_cli(tmp_path, tiny_gemma, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps({"text": "hello", "label": 1}) + "\n")
    argv = ["train", "--dataset_name", str(data), "--model_name_or_path", str(tiny_gemma)]
    assert cli_main([*argv, "--output_dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "columns found: ['text', 'label']" in err and "Traceback" not in err


def test_global_batch_size_sets_accumulation_and_rejects_remainders(tmp_path, tiny_gemma):
    data = write_rows(tmp_path / "d.jsonl")
    cfg = configs(tiny_gemma, data, tmp_path / "o", "--global_batch_size", "16")
    build_trainer(*cfg)
    assert cfg[2].gradient_accumulation_steps == 4  # 16 / (4 per device x 1 process)
    with pytest.raises(RecipeError, match="not a multiple"):
        build_trainer(*configs(tiny_gemma, data, tmp_path / "o", "--global_batch_size", "10"))
