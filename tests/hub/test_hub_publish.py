"""End to end against a local Hub server: publish a run's datasets (several configs) and a tiny student, load
both back by repo id with the real datasets/transformers code, check the cards, the refusals and the token scan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hub_server import HubServer

from compeff_hf.configs import StageConfig
from compeff_hf.stage import StageDir

TOKEN = "hf_localtesttoken0000000000000000"
API_KEY = "sk-endpoint-secret-123456789"
pytestmark = pytest.mark.slow


@dataclass
class ConstructCfg(StageConfig):
    stage_name = "construct"
    generator_model: str = "gemma-3-270m"
    endpoint_url: str = "http://127.0.0.1:8080"
    api_key: str | None = None


@dataclass
class TeacherCfg(StageConfig):
    stage_name = "teacher"
    teacher_model: str = "meta-llama/Llama-3.1-70B-Instruct"
    endpoint_url: str = "http://user:pw-secret-9@127.0.0.1:8081/v1"
    system_prompt: str = "You are a careful sentiment analyst."


@dataclass
class FilterCfg(StageConfig):
    stage_name = "filter"
    scorer_model: str = "gemma-3-270m"
    method: str = "rank"
    keep_ratio: float = 0.5
    tags: list[str] = field(default_factory=list)


def _stage(root: Path, config: StageConfig, datasets: dict[str, list[dict]], **summary) -> Path:
    import datasets as hf_datasets

    stage = StageDir(root, config, stage=config.stage_name)
    stage.prepare()
    for name, rows in datasets.items():
        stage.save_dataset(hf_datasets.Dataset.from_list(rows), name)
    stage.finish(**summary)
    return root


def _pipeline_yamls(root: Path) -> None:
    """The construct and teacher stages' serialised distilabel Pipelines, as the stages write them."""
    from compeff_hf.construct.config import ConstructConfig
    from compeff_hf.llm.pipelines import build_construct_pipeline, build_teacher_pipeline
    from compeff_hf.llm.pipelines.base import save_pipeline_yaml
    from compeff_hf.teacher import TeacherConfig

    for name, pipeline in (
        ("construct", build_construct_pipeline(ConstructConfig(output_dir=str(root / "construct")))),
        ("teacher", build_teacher_pipeline(TeacherConfig(input="x.jsonl", output_dir=str(root / "teacher")))),
    ):
        (root / name).mkdir(parents=True, exist_ok=True)
        save_pipeline_yaml(pipeline, root / name)


def make_run(root: Path, model_dir: Path, seed: int = 0, eval_dir: Path | None = None) -> Path:
    """A small but real run folder: construct (3 configs), teacher, filter (2 configs), train, and, given the
    folder of a real `compeff-hf eval` run, eval and eval_base."""
    import shutil

    texts = [f"Review {i + seed}: the battery is {'great' if i % 2 else 'awful'}." for i in range(8)]
    instructions = [
        {"id": f"i{i}", "text_id": f"t{i}", "messages": [{"role": "user", "content": f"Sentiment? {t}"}]}
        for i, t in enumerate(texts)
    ]
    _stage(
        root / "construct",
        ConstructCfg(output_dir=str(root / "construct"), api_key=API_KEY, seed=seed),
        {
            "attributes": [{"id": f"a{i}", "text_id": f"t{i}", "name": "tone", "value": "calm"} for i in range(8)],
            "perspectives": [{"id": "p0", "name": "tone", "members": ["tone", "mood"]}],
            "data": instructions,
        },
        rows=8,
        prompts={"attributes": "Given the following input, what kind of sentiment-related attributes does it have?"},
        requests=9,
        prompt_tokens=900,
        completion_tokens=400,
    )
    _pipeline_yamls(root)
    responses = [{**r, "output": "negative" if i % 2 == 0 else "positive"} for i, r in enumerate(instructions)]
    _stage(
        root / "teacher",
        TeacherCfg(output_dir=str(root / "teacher")),
        {"data": responses},
        requests=8,
        prompt_tokens=640,
        completion_tokens=16,
        failures=0,
    )
    scored = [{**r, "score": 0.1 * i} for i, r in enumerate(responses)]
    _stage(
        root / "filter",
        FilterCfg(output_dir=str(root / "filter")),
        {"scored": scored, "data": scored[4:]},
        kept=4,
        total=8,
    )
    train = root / "train"
    shutil.copytree(model_dir, train)
    (train / "training_args.bin").write_bytes(b"pickle, must not be uploaded")
    (train / "training_info.json").write_text(
        json.dumps(
            {
                "base_model": "gemma-3-270m",
                "teacher": "meta-llama/Llama-3.1-70B-Instruct",
                "datasets": [{"name": str(root / "filter")}],
                "hyperparameters": {"learning_rate": 5e-5, "num_train_epochs": 4, "hf_token": TOKEN},
                "train_runtime_s": 1.5,
                "final_loss": 2.5,
                "reproduce_command": "compeff-hf train --config recipes/quickstart/sft.yaml",
            }
        )
    )
    (train / "summary.json").write_text(json.dumps({"stage": "train", "status": "done"}))
    if eval_dir is not None:
        shutil.copytree(eval_dir, root / "eval")
        # The student before training: same protocol, other scores (so the two folders' configs differ).
        shutil.copytree(eval_dir, root / "eval_base")
        base = json.loads((root / "eval_base" / "results.json").read_text())
        for entry in base["scores"]["datasets"].values():
            entry["mean"] = 7.25
        base["scores"]["average"] = 7.25
        (root / "eval_base" / "results.json").write_text(json.dumps(base))
        summary = json.loads((root / "eval_base" / "summary.json").read_text())
        (root / "eval_base" / "summary.json").write_text(
            json.dumps(summary | {"config_hash": "base", "average": 7.25})
        )
        (root / "eval_base" / "config.yaml").write_text("model: gemma-3-270m\n")
    return root


@pytest.fixture(scope="module")
def hub():
    server = HubServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hub_env(hub, tmp_path_factory):
    return {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(tmp_path_factory.mktemp("hf_home")),
        "COMPEFF_HF_LOG_LEVEL": "DEBUG",
        "HF_HUB_VERBOSITY": "debug",
    }


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compeff_hf.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def run_py(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def eval_dir(tiny_gemma, sentibench_dir, tmp_path_factory):
    """What `compeff-hf eval` really writes (results.json, predictions), for a tiny student."""
    from compeff_hf.cli import main

    out = tmp_path_factory.mktemp("eval") / "eval"
    args = ["eval", "--model", str(tiny_gemma), "--data_dir", str(sentibench_dir), "--datasets", "sst2", "opener"]
    assert main([*args, "--limit", "3", "--seeds", "42", "--max_new_tokens", "8", "--output_dir", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def published(hub, hub_env, tiny_gemma, eval_dir, tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("run"), tiny_gemma, eval_dir=eval_dir)
    args = ["publish", "--run_dir", str(run), "--dataset_repo_id", "me/qs-data", "--model_repo_id", "qs-student"]
    proc = run_cli(args, hub_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run, proc


def test_publish_then_load_back_by_repo_id(hub, hub_env, published):
    run, _ = published
    files = hub.repo_files("me/qs-data", "dataset")
    assert {"README.md", "pipeline/manifest.json", "pipeline/teacher/config.yaml"} <= set(files)
    # the stages' distilabel Pipelines travel with the data, and the card draws their DAGs
    assert {"pipeline/construct/pipeline.yaml", "pipeline/teacher/pipeline.yaml"} <= set(files)
    card = files["README.md"].decode()
    assert "## Pipelines" in card and "load_texts --> attributes" in card
    assert "load_instructions --> teacher_generation" in card
    assert {p.split("/")[0] for p in files if p.endswith(".parquet")} == {
        "attributes", "perspectives", "instructions", "teacher_responses", "scored", "filtered",
        "predictions", "eval_base-predictions",
    }  # fmt: skip
    # eval and eval_base are two folders of one stage: each keeps its own config and summary in the repo.
    assert b"gemma-3-270m" in hub.repo_files("me/qs-data", "dataset")["pipeline/eval_base/config.yaml"]
    manifest = json.loads(hub.repo_files("me/qs-data", "dataset")["pipeline/manifest.json"])
    assert manifest["stages"]["eval_base"]["stage"] == "eval" == manifest["stages"]["eval"]["stage"]
    assert manifest["stages"]["eval_base"]["summary"]["average"] == 7.25
    assert manifest["stages"]["eval"]["summary"]["average"] != 7.25
    model_files = hub.repo_files("me/qs-student")
    assert "model.safetensors" in model_files and "training_args.bin" not in model_files
    proc = run_py(
        """
        import json
        import datasets
        from huggingface_hub import DatasetCard, ModelCard
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from compeff_hf.data import load_rows
        from compeff_hf.hub.cards import validate_card_metadata

        out = {}
        for name in ("attributes", "filtered", "teacher_responses"):
            out[name] = datasets.load_dataset("me/qs-data", name, split="train").num_rows
        out["default"] = datasets.load_dataset("me/qs-data", split="train").num_rows
        out["scored_cols"] = load_rows("me/qs-data", config_name="scored", split="train").column_names
        model = AutoModelForCausalLM.from_pretrained("me/qs-student")
        tok = AutoTokenizer.from_pretrained("me/qs-student")
        out["arch"] = type(model).__name__
        out["template"] = bool(tok.chat_template)
        card = ModelCard.load("me/qs-student")
        card.validate()  # the server's validate-yaml route
        DatasetCard.load("me/qs-data", repo_type="dataset").validate(repo_type="dataset")
        meta = validate_card_metadata(card)
        out["base_model"], out["license"], out["datasets"] = meta["base_model"], meta["license"], meta["datasets"]
        out["eval"] = [(r.dataset_config, r.metric_type, r.metric_value) for r in card.data.eval_results]
        out["eval_types"] = sorted({r.dataset_type for r in card.data.eval_results})
        out["card"] = card.text
        print("RESULT" + json.dumps(out))
        """,
        hub_env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert out["attributes"] == 8 and out["filtered"] == 4 and out["teacher_responses"] == 8
    assert out["default"] == 4  # the training set is the default config
    assert "score" in out["scored_cols"]
    assert out["arch"] == "Gemma3ForCausalLM" and out["template"]
    assert out["base_model"] == "google/gemma-3-270m" and out["license"] == "gemma"
    assert out["datasets"] == ["me/qs-data"]
    # The scores `compeff-hf eval` computed, unchanged, with the pushed predictions as the model-index dataset.
    from compeff_hf.evaluation import model_index_results

    results = json.loads((run / "eval" / "results.json").read_text())
    expected = [[r.dataset_config, r.metric_type, r.metric_value] for r in model_index_results(results)]
    assert out["eval"] == expected and expected[-1][0] == "average"
    assert expected[-1][2] == round(results["scores"]["average"], 2)
    assert out["eval_types"] == ["me/qs-data"]
    assert "| dataset | split | metric | this model | base |" in out["card"]
    assert f"| average | test | average of 2 datasets | {expected[-1][2]:.6g} | 7.25 |" in out["card"]
    assert "<start_of_turn>user" in out["card"]  # the exact prompt format


def test_dataset_card_reports_pipeline(hub, published):
    card = hub.repo_files("me/qs-data", "dataset")["README.md"].decode()
    assert "| `filtered` (default) | filter | 4 |" in card
    assert "meta-llama/Llama-3.1-70B-Instruct" in card  # teacher model
    assert "http://127.0.0.1:8081/v1" in card and "pw-secret-9" not in card  # endpoint without credentials
    assert "what kind of sentiment-related attributes" in card  # prompts used
    assert "`keep_ratio` = `0.5`" in card and "`method` = `rank`" in card
    assert "| teacher | 8 | 656 |" in card  # requests, tokens
    assert "compeff-hf construct --config" in card


def test_no_token_in_pushed_files_or_logs(hub, published):
    _, proc = published
    secrets = [TOKEN, API_KEY, "pw-secret-9"]
    blobs = {f"{t}:{r}/{p}": d for (t, r), repo in hub.state.repos.items() for p, d in hub.repo_files(r, t).items()}
    blobs["stdout"], blobs["stderr"] = proc.stdout.encode(), proc.stderr.encode()
    assert len(proc.stderr) > 200  # debug logging was on: the scan saw real log output
    leaks = [(name, s) for name, data in blobs.items() for s in secrets if s.encode() in data]
    assert not leaks
    assert b"<redacted>" in hub.repo_files("me/qs-data", "dataset")["pipeline/construct/config.yaml"]


def test_republish_is_idempotent_and_refuses_other_runs(hub, hub_env, published, tiny_gemma, tmp_path):
    run, _ = published
    commits = len(hub.state.repos[("dataset", "me/qs-data")].commits)
    again = run_cli(["publish", "--run_dir", str(run), "--dataset_repo_id", "me/qs-data"], hub_env)
    assert again.returncode == 0 and "nothing new" in again.stdout
    assert len(hub.state.repos[("dataset", "me/qs-data")].commits) == commits

    other = make_run(tmp_path / "other", tiny_gemma, seed=5)
    refused = run_cli(["publish", "--run_dir", str(other), "--dataset_repo_id", "me/qs-data"], hub_env)
    assert refused.returncode == 2 and "--overwrite_repo true" in refused.stderr
    forced = run_cli(
        ["publish", "--run_dir", str(other), "--dataset_repo_id", "me/qs-data", "--overwrite_repo", "true"], hub_env
    )
    assert forced.returncode == 0, forced.stderr[-2000:]
    manifest = json.loads(hub.repo_files("me/qs-data", "dataset")["pipeline/manifest.json"])
    assert (
        manifest["stages"]["construct"]["summary"]["config_hash"]
        != json.loads((run / "construct" / "summary.json").read_text())["config_hash"]
    )


def test_stage_push_accumulates_and_private_repo(hub, hub_env, tiny_gemma, tmp_path):
    run = make_run(tmp_path / "run", tiny_gemma)
    proc = run_py(
        f"""
        from compeff_hf.hub.push import push_stage_output
        push_stage_output({str(run / "construct")!r}, "me/staged", None, True)
        r = push_stage_output({str(run / "teacher")!r}, "me/staged", "responses", True)
        print(r["pushed"])
        """,
        hub_env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    repo = hub.state.repos[("dataset", "me/staged")]
    assert repo.private
    configs = {p.split("/")[0] for p in repo.files if p.endswith(".parquet")}
    assert configs == {"attributes", "perspectives", "instructions", "responses"}
    anonymous = {k: v for k, v in hub_env.items() if k != "HF_TOKEN"}
    proc = run_py("import datasets; datasets.load_dataset('me/staged', 'responses', split='train')", anonymous)
    assert proc.returncode != 0  # a private repo is invisible without the token


def test_pickle_only_model_is_refused(tmp_path):
    from compeff_hf.hub.push import HubPushError, model_files

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(HubPushError, match="safetensors only"):
        model_files(tmp_path)


def test_filter_push_to_hub_pushes_once_through_the_stage(hub, hub_env, tiny_gemma, tmp_path):
    """`filter --push_to_hub true` goes through the one push path (StageDir.finish); a rerun pushes nothing."""
    rows = [
        {
            "id": f"r{i}",
            "messages": [{"role": "user", "content": f"Sentiment of review {i}?"}],
            "output": ["positive", "negative"][i % 2],
        }
        for i in range(6)
    ]
    data = tmp_path / "teacher.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = [
        "filter",
        "--input",
        str(data),
        "--scorer_model",
        str(tiny_gemma),
        "--output_dir",
        str(tmp_path / "filter"),
    ]
    args += ["--keep_ratio", "0.5", "--push_to_hub", "true", "--hub_repo_id", "me/filtered"]
    first = run_cli(args, hub_env)
    assert first.returncode == 0, first.stderr[-3000:]
    repo = hub.state.repos[("dataset", "me/filtered")]
    assert {p.split("/")[0] for p in repo.files if p.endswith(".parquet")} == {"filtered", "scored"}
    commits = len(repo.commits)
    again = run_cli(args, hub_env)  # finished: the stage is reused and the identical push skipped
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(repo.commits) == commits


def test_lora_student_pushed_as_adapter_or_merged(hub, hub_env, tiny_gemma, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_gemma),
        LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),  # a non-zero update
    )
    adapter = tmp_path / "adapter"
    model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(tiny_gemma).save_pretrained(adapter)
    (adapter / "training_info.json").write_text(json.dumps({"base_model": "google/gemma-3-270m", "peft": True}))
    ids = torch.tensor([[2, 10, 20, 30, 40]])
    with torch.no_grad():
        want = model(input_ids=ids).logits

    plain = run_cli(["publish", "--model_dir", str(adapter), "--model_repo_id", "me/lora"], hub_env)
    assert plain.returncode == 0, plain.stderr[-3000:]
    files = hub.repo_files("me/lora")
    assert "adapter_model.safetensors" in files and "model.safetensors" not in files
    assert b"library_name: peft" in files["README.md"]

    merged = run_cli(
        ["publish", "--model_dir", str(adapter), "--model_repo_id", "me/merged", "--merge_adapter", "true"], hub_env
    )
    assert merged.returncode == 0, merged.stderr[-3000:]
    files = hub.repo_files("me/merged")
    assert "model.safetensors" in files and "adapter_model.safetensors" not in files
    assert b"library_name: transformers" in files["README.md"]
    proc = run_py(
        """
        import torch
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained("me/merged")
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([[2, 10, 20, 30, 40]])).logits
        print("RESULT" + json.dumps(logits[0, :, :50].tolist()))
        """.replace("import torch", "import json, torch"),
        hub_env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = torch.tensor(json.loads(proc.stdout.split("RESULT", 1)[1]))
    assert torch.allclose(got, want[0, :, :50], atol=1e-4)  # the merged model computes what adapter + base did


def test_merge_adapter_of_full_weights_is_refused_before_pushing(hub, hub_env, tiny_gemma, tmp_path):
    proc = run_cli(
        ["publish", "--model_dir", str(tiny_gemma), "--model_repo_id", "me/not-lora", "--merge_adapter", "true"],
        hub_env,
    )
    assert proc.returncode != 0 and "holds full weights, not an adapter" in proc.stderr
    assert ("model", "me/not-lora") not in hub.state.repos
