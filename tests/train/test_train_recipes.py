"""Every shipped SFT recipe, on its family's released chat template: what is trained, train/inference agreement,
packing isolation, and two real optimizer steps.

Only size, dtype and speed settings are overridden (a tiny model of the recipe's family, fp32, no Liger, no
gradient checkpointing, one dataset worker, 2 steps, no checkpoints); the data file replaces the recipe's Hub
corpus (unreachable in tests) with rows of the same layout (`instruction`/`output`, as in the v2 corpus).
"""

import json
from pathlib import Path

import pytest
import torch
import yaml

from compeff_hf.cli import main as cli_main
from compeff_hf.configs import parse_recipe
from compeff_hf.testing import ARCHS
from compeff_hf.train.config import train_config_classes
from compeff_hf.train.sft import build_trainer

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted(REPO.glob("recipes/*/sft/config_*.yaml")) + [REPO / "recipes/quickstart/sft.yaml"]
ROWS = [
    ("Classify the sentiment of: the pasta was cold and bland.", "negative"),
    ("Extract aspect terms and their sentiment: the battery lasts all day.", '[{"aspect": "battery", "s": "pos"}]'),
    ("Which emotion does this express: what a wonderful day!", "joy"),
    ("Rate the intensity from 1 to 5: I am absolutely furious.", "5"),
]


def family(recipe: Path) -> str:
    model = yaml.safe_load(recipe.read_text())["model_name_or_path"].lower()
    return next(arch for key, arch in (("gemma", "gemma3"), ("qwen", "qwen3"), ("llama", "llama")) if key in model)


def inference_prompt(tok, messages, arch):
    """What the family's released model is given at inference; Qwen3 students answer with thinking off."""
    kwargs = {"enable_thinking": False} if arch == "qwen3" else {}
    return list(tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, **kwargs)["input_ids"])


def recipe_overrides(model, data, out):
    return [
        *("--model_name_or_path", str(model), "--dtype", "float32", "--bf16", "false"),
        *("--use_liger_kernel", "false", "--gradient_checkpointing", "false", "--dataset_num_proc", "1"),
        *("--max_steps", "2", "--save_strategy", "no", "--output_dir", str(out), "--dataset_name", str(data)),
    ]


def split_examples(row):
    """The examples of one (possibly packed) training sequence, as (input_ids, labels) pairs."""
    lengths = row.get("seq_lengths") or [len(row["input_ids"])]
    out, start = [], 0
    for n in lengths:
        out.append((row["input_ids"][start : start + n], row["labels"][start : start + n]))
        start += n
    return out


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: str(p.relative_to(REPO / "recipes")))
def test_recipe_trains_on_its_family_real_template(recipe, tmp_path, tiny_model_factory, monkeypatch):
    arch = family(recipe)
    model = tiny_model_factory(arch)
    data = tmp_path / "v2.jsonl"
    data.write_text("".join(json.dumps({"instruction": q, "output": a}) + "\n" for q, a in ROWS * 2))
    monkeypatch.chdir(REPO)
    configs = parse_recipe(train_config_classes(), ["--config", str(recipe), *recipe_overrides(model, data, tmp_path)])
    script_args, _, training_args = configs
    assert training_args.assistant_only_loss and training_args.packing  # what every shipped recipe asks for
    trainer, tok, eot, _ = build_trainer(*configs)
    assert tok.convert_ids_to_tokens(eot) == ARCHS[arch]["eot"]

    seen = 0
    for row in trainer.train_dataset:
        for ids, labels in split_examples(row):
            first = next(i for i, label in enumerate(labels) if label != -100)
            trained = [t for t in labels if t != -100]
            (question, answer), *_ = [(q, a) for q, a in ROWS if q in tok.decode(ids[:first])]
            # the prompt is token for token what the released model is given at inference
            assert ids[:first] == inference_prompt(tok, [{"role": "user", "content": question}], arch)
            # loss on the response and the end-of-turn token only, in one block right after the prompt
            assert labels[first : first + len(trained)] == trained
            assert trained[-1] == eot and tok.decode(trained[:-1]) == answer
            seen += 1
    assert seen == len(ROWS) * 2

    if arch == "qwen3":
        assert tok.decode(ids[:first]).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    if arch == "llama":
        assert "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date" in tok.decode(ids[:first])

    # a packed batch never attends across examples: each example's logits equal the example alone
    batch = next(iter(trainer.get_train_dataloader()))
    pos = batch["position_ids"][0]
    starts = (pos == 0).nonzero().flatten().tolist() + [len(pos)]
    assert len(starts) - 1 >= 2, "the rows should share one packed sequence"
    net = trainer.model.eval()
    with torch.no_grad():
        packed = net(input_ids=batch["input_ids"][:1], position_ids=batch["position_ids"][:1]).logits
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            alone = net(input_ids=batch["input_ids"][:1, a:b]).logits
            torch.testing.assert_close(packed[:, a:b], alone, atol=1e-4, rtol=1e-4)

    net.train()
    trainer.train()
    assert trainer.state.global_step == 2
    assert 0 < trainer.state.log_history[-1]["train_loss"] < 100  # a real, finite loss (NaN fails both)
    assert script_args.enable_thinking is False


@pytest.mark.parametrize("arch", ["gemma3", "qwen3", "llama"])
def test_system_prompt_and_history_agree_with_inference(tmp_path, tiny_model_factory, arch):
    """Our pipeline's rows (messages + output) with a system turn and an earlier exchange."""
    model = tiny_model_factory(arch)
    history = [
        {"role": "system", "content": "You are a sentiment analyst. Answer with one label."},
        {"role": "user", "content": "Classify: the staff were lovely."},
        {"role": "assistant", "content": "positive"},
        {"role": "user", "content": "Classify: the room was dirty."},
    ]
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "r0", "messages": history, "output": "negative"}) + "\n")
    args = ["--dataset_name", str(data), "--model_name_or_path", str(model), "--output_dir", str(tmp_path / "o")]
    args += ["--packing", "false", "--report_to", "none"]
    trainer, tok, eot, _ = build_trainer(*parse_recipe(train_config_classes(), args))
    row = trainer.train_dataset[0]
    first = next(i for i, label in enumerate(row["labels"]) if label != -100)
    assert row["input_ids"][:first] == inference_prompt(tok, history, arch)
    trained = [t for t in row["labels"] if t != -100]
    assert trained[-1] == eot and tok.decode(trained[:-1]) == "negative"


def test_untrainable_template_fails_in_one_line_naming_the_key(tmp_path, tiny_gemma, capsys):
    # The generation prompt opens a turn the full conversation renders differently: no prefix, no agreement.
    bad = tmp_path / "bad.jinja"
    bad.write_text(
        "{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"
        "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    )
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"instruction": "Classify: good.", "output": "positive"}) + "\n")
    argv = ["train", "--dataset_name", str(data), "--model_name_or_path", str(tiny_gemma)]
    argv += ["--output_dir", str(tmp_path / "o"), "--chat_template_path", str(bad)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if "error" in line.lower()]  # progress bars aside: one line
    assert line.startswith("compeff-hf train: error: row 0:") and "`chat_template_path`" in line
    assert "Traceback" not in err


def test_chat_template_path_must_be_a_template_file(tmp_path, tiny_gemma, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"instruction": "Classify: good.", "output": "positive"}) + "\n")
    argv = ["train", "--dataset_name", str(data), "--model_name_or_path", str(tiny_gemma)]
    assert cli_main([*argv, "--output_dir", str(tmp_path / "o"), "--chat_template_path", str(tiny_gemma)]) == 2
    assert "give a .jinja file" in capsys.readouterr().err
