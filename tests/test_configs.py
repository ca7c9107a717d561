from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from compeff_hf.cli import COMMANDS, config_classes
from compeff_hf.configs import StageConfig, config_hash, parse_recipe
from compeff_hf.errors import RecipeError

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Demo(StageConfig):
    learning_rate: float = 1e-4
    name: str = "a"
    layers: list[int] | None = field(default=None)


def write(tmp_path, data) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_unknown_key_names_key_and_file(tmp_path):
    recipe = write(tmp_path, {"learning_rat": 0.1})
    with pytest.raises(RecipeError) as err:
        parse_recipe(Demo, ["--config", recipe])
    assert "learning_rat" in str(err.value)
    assert recipe in str(err.value)
    assert "learning_rate" in str(err.value)  # the suggestion


def test_flag_overrides_yaml(tmp_path):
    recipe = write(tmp_path, {"learning_rate": 0.5, "name": "from-yaml", "layers": [1, 2]})
    (cfg,) = parse_recipe(Demo, ["--config", recipe, "--name", "from-flag"])
    assert cfg.name == "from-flag"
    assert cfg.learning_rate == 0.5
    assert cfg.layers == [1, 2]


def test_wrong_type_is_rejected_with_file(tmp_path):
    recipe = write(tmp_path, {"learning_rate": "fast"})
    with pytest.raises(RecipeError, match="learning_rate"):
        parse_recipe(Demo, ["--config", recipe])


def test_environment_variables_expand_in_values(tmp_path, monkeypatch):
    recipe = write(tmp_path, {"name": "${MY_TEACHER_URL}/v1", "output_dir": "${MY_RUNS:-runs}/x"})
    monkeypatch.setenv("MY_TEACHER_URL", "http://10.0.0.5:8080")
    (cfg,) = parse_recipe(Demo, ["--config", recipe])
    assert (cfg.name, cfg.output_dir) == ("http://10.0.0.5:8080/v1", "runs/x")
    monkeypatch.delenv("MY_TEACHER_URL")
    with pytest.raises(RecipeError, match="MY_TEACHER_URL.*not set"):
        parse_recipe(Demo, ["--config", recipe])


def test_unknown_flag_fails():
    with pytest.raises(RecipeError, match="--nope"):
        parse_recipe(Demo, ["--nope", "1"])


def test_non_mapping_yaml(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(RecipeError, match="mapping"):
        parse_recipe(Demo, ["--config", str(path)])


def test_config_hash_ignores_volatile_fields():
    a, b = Demo(output_dir="x", push_to_hub=True), Demo(output_dir="y")
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(Demo(learning_rate=3.0))


def recipe_command(path: Path) -> str | None:
    """Which command a recipe file belongs to (the convention of recipes/README.md)."""
    rel = path.relative_to(REPO / "recipes")
    if rel.parts[0] == "accelerate_configs":
        return None  # accelerate's own format
    if "sft" in rel.parts[:-1] or path.stem.startswith(("sft", "config_")):
        return "train"
    stem = path.stem.split("_")[0]
    return {"evaluate": "eval"}.get(stem, stem)


RECIPES = sorted((REPO / "recipes").rglob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[str(p.relative_to(REPO)) for p in RECIPES])
def test_every_recipe_parses_against_live_dataclasses(path, monkeypatch):
    # Paper-scale recipes name their endpoints by environment variable.
    monkeypatch.setenv("GENERATOR_URL", "http://127.0.0.1:8080")
    monkeypatch.setenv("TEACHER_URL", "http://127.0.0.1:8081")
    monkeypatch.setenv("PAPER_TEXTS", "my-org/user-texts")  # the paper recipe's text pools are required
    monkeypatch.setenv("PAPER_REFERENCE_TEXTS", "my-org/reference-texts")
    command = recipe_command(path)
    if command is None:
        return
    assert command in COMMANDS, f"{path}: no command '{command}'"
    configs = parse_recipe(config_classes(COMMANDS[command]), ["--config", str(path)])
    assert configs, path
