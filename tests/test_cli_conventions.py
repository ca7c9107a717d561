"""CLI conventions shared with TRL: `--help` shows each flag's default, and TRL's field names work in recipes."""

from __future__ import annotations

import re

import pytest

from compeff_hf.cli import COMMANDS, config_classes, main
from compeff_hf.configs import RecipeParser, parse_recipe
from compeff_hf.errors import RecipeError
from compeff_hf.train.config import train_config_classes


def _help(name: str, capsys) -> str:
    assert main([name, "--help"]) == 0
    # argparse wraps lines: join them so a default split over two lines still reads as one
    return re.sub(r"\s+", " ", capsys.readouterr().out)


@pytest.mark.parametrize("name", [n for n, c in COMMANDS.items() if c.config])
def test_help_shows_every_default(name, capsys):
    text = _help(name, capsys)
    parser = RecipeParser(config_classes(COMMANDS[name]))
    for action in parser._parser._actions:
        if action.option_strings and action.help and action.default is not None and action.dest != "help":
            if action.default == "==SUPPRESS==":
                continue
            assert f"(default: {action.default})" in text, (name, action.dest)


def test_help_shows_defaults_as_trl_does(capsys):
    text = _help("train", capsys)
    assert "Split to train on. (default: train)" in text
    assert "Peak AdamW learning rate (official script: 5e-5). (default: 5e-05)" in text
    # descriptions and examples keep their line breaks
    assert "example: compeff-hf train --config" in text


def _recipe(tmp_path, text: str):
    path = tmp_path / "sft.yaml"
    path.write_text(text)
    return path


def test_trl_field_names_in_a_recipe_map_onto_ours(tmp_path):
    # a recipe as written for `trl sft`
    recipe = _recipe(
        tmp_path,
        "model_name_or_path: Qwen/Qwen3-0.6B\ndataset_name: zhang-yice/sentiment-distillation-v2\n"
        "dataset_train_split: validation\nlearning_rate: 2.0e-5\nnum_train_epochs: 1\n",
    )
    script, model, train = parse_recipe(train_config_classes(), ["--config", str(recipe)])
    assert script.dataset_split == "validation" and model.model_name_or_path == "Qwen/Qwen3-0.6B"
    assert train.learning_rate == 2e-5
    # and as a flag, which overrides the recipe like any flag
    for flag in ("--dataset_train_split", "--dataset-train-split"):
        script, *_ = parse_recipe(train_config_classes(), ["--config", str(recipe), flag, "test"])
        assert script.dataset_split == "test"


def test_both_names_of_one_field_fail(tmp_path):
    recipe = _recipe(tmp_path, "dataset_train_split: validation\ndataset_split: train\n")
    with pytest.raises(RecipeError, match=r"sft.yaml: 'dataset_train_split' \(TRL's name\) and 'dataset_split'"):
        parse_recipe(train_config_classes(), ["--config", str(recipe)])


@pytest.mark.parametrize("key", ["dataset_test_split", "dataset_streaming", "ignore_bias_buffers"])
def test_trl_fields_we_do_not_read_are_refused_with_the_reason(tmp_path, key):
    recipe = _recipe(tmp_path, f"{key}: true\n")
    with pytest.raises(RecipeError, match=f"sft.yaml: '{key}' is a TRL field compeff-hf does not read: "):
        parse_recipe(train_config_classes(), ["--config", str(recipe)])


def test_aliases_only_where_the_target_field_exists(tmp_path):
    # the eval recipe has no dataset_split: TRL's name is an unknown key there, not silently accepted
    from compeff_hf.evaluation.config import EvalConfig

    recipe = _recipe(tmp_path, "dataset_train_split: train\n")
    with pytest.raises(RecipeError, match="unknown key 'dataset_train_split'"):
        parse_recipe(EvalConfig, ["--config", str(recipe)])
