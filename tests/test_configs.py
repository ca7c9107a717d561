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
        check_accelerate_config(path)
        return
    assert command in COMMANDS, f"{path}: no command '{command}'"
    configs = parse_recipe(config_classes(COMMANDS[command]), ["--config", str(path)])
    assert configs, path


def check_accelerate_config(path: Path) -> None:
    """What `accelerate launch --config_file` reads: known top-level fields, plugin keys the launcher takes as
    options (it silently ignores others), and values its enums accept."""
    import dataclasses

    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.commands.launch import launch_command_parser
    from accelerate.utils import DistributedType, PrecisionType

    data = yaml.safe_load(path.read_text())
    unknown = set(data) - {f.name for f in dataclasses.fields(ClusterConfig)}
    assert not unknown, f"{path}: not accelerate config fields: {sorted(unknown)}"
    options = {action.dest for action in launch_command_parser()._actions}
    for section in ("fsdp_config", "deepspeed_config", "megatron_lm_config", "dynamo_config"):
        ignored = set(data.get(section) or {}) - options
        assert not ignored, f"{path}: {section} keys accelerate launch ignores: {sorted(ignored)}"
    assert data["distributed_type"] in {t.value for t in DistributedType}, path
    assert data["mixed_precision"] in {p.value for p in PrecisionType}, path
    assert isinstance(data["num_processes"], int) and data["num_processes"] >= 1, path
    config = ClusterConfig.from_yaml_file(str(path))
    if config.distributed_type == DistributedType.FSDP:
        assert data["fsdp_config"]["fsdp_version"] in (1, 2), path
    if config.distributed_type == DistributedType.DEEPSPEED:
        assert data["deepspeed_config"]["zero_stage"] in (0, 1, 2, 3), path


@pytest.mark.parametrize(
    "broken",
    [
        {"distributed_type": "MULTI_GPUS"},
        {"mixed_precision": "bf17"},
        {"num_process": 8},
        {"fsdp_config": {"fsdp_auto_wrap_polcy": "TRANSFORMER_BASED_WRAP"}},
    ],
)
def test_accelerate_config_check_catches_a_broken_config(tmp_path, broken):
    data = yaml.safe_load((REPO / "recipes/accelerate_configs/fsdp.yaml").read_text())
    data.update(broken)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(AssertionError):
        check_accelerate_config(path)
