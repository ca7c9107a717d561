import json

import pytest

from compeff_hf.errors import RecipeError
from compeff_hf.report import write_report
from compeff_hf.run import Run, RunConfig, _overrides


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_plan_inserts_base_eval_and_checks_recipes(tmp_path):
    recipes = {s: write(tmp_path, f"{s}.yaml", "{}\n") for s in ["construct", "teacher", "filter", "train", "eval"]}
    run = Run(RunConfig(output_dir=str(tmp_path / "run"), **recipes))
    assert run.plan() == ["construct", "teacher", "filter", "eval_base", "train", "eval"]
    with pytest.raises(RecipeError, match="no recipe file"):
        Run(RunConfig(output_dir=str(tmp_path / "run"), stages=["construct"])).plan()
    with pytest.raises(RecipeError, match="unknown stage"):
        Run(RunConfig(stages=["distill"], construct=recipes["construct"])).plan()


def test_overrides_map_to_stage_flags():
    config = RunConfig(
        overrides=["construct.max_texts=10", "eval.limit=5", "train.num_train_epochs=1", "eval.seeds=42 52"]
    )
    assert _overrides(config, "construct") == ["--max_texts", "10"]
    assert _overrides(config, "eval") == ["--limit", "5", "--seeds", "42", "52"]
    assert _overrides(config, "eval_base")[:2] == ["--limit", "5"]  # the base-model eval follows eval's overrides
    assert _overrides(config, "teacher") == []
    with pytest.raises(RecipeError, match="stage.field=value"):
        _overrides(RunConfig(overrides=["max_texts=10"]), "construct")


def test_missing_recipe_file_is_named(tmp_path):
    run = Run(RunConfig(stages=["construct"], construct=str(tmp_path / "nope.yaml")))
    with pytest.raises(RecipeError, match="nope.yaml"):
        run.plan()


def test_report_from_partial_run(tmp_path):
    import datasets

    root = tmp_path / "run"
    (root / "filter" / "scored").mkdir(parents=True)
    scored = datasets.Dataset.from_dict(
        {
            "id": ["a", "b", "c", "d"],
            "score": [0.1, 0.9, 0.5, float("nan")],
            "instruction_type": ["task", "task", "analysis", "analysis"],
            "selected": [False, True, True, False],
            "score_metric": ["rank"] * 4,
        }
    )
    scored.to_parquet(str(root / "filter" / "scored" / "train-00000-of-00001.parquet"))
    (root / "filter" / "summary.json").write_text(json.dumps({"status": "done", "wall_time_s": 7.5, "rows_in": 4}))
    (root / "train").mkdir()
    state = {"log_history": [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 1.5}]}
    (root / "train" / "trainer_state.json").write_text(json.dumps(state))
    report = write_report(root).read_text()
    assert "| filter | 8 s |" in report
    assert "| task | 2 | 1 | 0.50 |" in report
    assert "| analysis | 1 | 1 | 1.00 |" in report  # the NaN row is not counted
    assert "Loss went from 2.500 (step 1) to 1.500 (step 2)" in report
    assert "_construct has not run._" in report
    assert (root / "report" / "difficulty.png").stat().st_size > 1000
