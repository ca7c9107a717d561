"""`recipes/sft.py` under `accelerate launch` and `torchrun` with 2 CPU processes (gloo), against one process.

The 2-process run uses the shipped `recipes/accelerate_configs/ddp.yaml` itself, with the flags a CPU machine
needs (`--num_processes 2 --mixed_precision no`: the config's bf16 autocast would change the numbers on CPU).
It is killed right after its step-2 checkpoint and launched again, so one run shows resume as well: every
optimizer step must see the same examples and give the same loss as one process with the same global batch.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compeff_hf.configs import parse_recipe
from compeff_hf.train.config import train_config_classes
from compeff_hf.train.sft import train

REPO = Path(__file__).resolve().parents[2]
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch"]
CPU_FLAGS = ["--num_processes", "2", "--mixed_precision", "no", "--main_process_port", "0"]
ROWS = 16
GLOBAL_BATCH = 8
EPOCHS = 2


def write_data(path: Path) -> Path:
    words = ["cold", "lovely", "slow", "bright", "broken", "tasty", "noisy", "friendly"]
    with path.open("w") as fh:
        for i in range(ROWS):
            question = f"Classify the sentiment of review {i}: the {words[i % 8]} room was {words[(i * 3) % 8]}."
            answer = ["positive", "negative", "neutral"][i % 3]
            fh.write(
                json.dumps({"id": f"r{i}", "messages": [{"role": "user", "content": question}], "output": answer})
            )
            fh.write("\n")
    return path


def recipe_args(model: Path, data: Path, out: Path) -> list[str]:
    # max_length 64 fits one row (~36 tokens) but never two: every packed sequence is one row, so a global batch
    # of 8 sequences is 8 examples and an epoch of 16 rows is exactly 2 optimizer steps on any process count.
    return [
        *("--dataset_name", str(data), "--model_name_or_path", str(model), "--output_dir", str(out)),
        *("--per_device_train_batch_size", "2", "--global_batch_size", str(GLOBAL_BATCH), "--max_length", "64"),
        *("--num_train_epochs", str(EPOCHS), "--learning_rate", "1e-3", "--logging_steps", "1"),
        *("--save_strategy", "steps", "--save_steps", "2", "--report_to", "none"),
    ]


def launch(cmd: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COMPEFF_HF_NO_PROGRESS": "1"}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def tokens_per_step(history: list[dict]) -> list[float]:
    """Tokens each optimizer step trained on, from TRL's cumulative count (which restarts at 0 on resume)."""
    out, prev = [], 0.0
    for h in history:
        out.append(h["num_tokens"] - prev if h["num_tokens"] >= prev else h["num_tokens"])
        prev = h["num_tokens"]
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_gemma):
    """The 1-process reference, and the 2-process run: killed after step 2, then launched again to finish."""
    root = tmp_path_factory.mktemp("dist")
    data = write_data(root / "d.jsonl")
    reference = train(*parse_recipe(train_config_classes(), recipe_args(tiny_gemma, data, root / "one")))
    out = root / "two"
    ddp = [*ACCELERATE, "--config_file", "recipes/accelerate_configs/ddp.yaml", *CPU_FLAGS]
    killed = launch([*ddp, str(Path(__file__).with_name("interrupt_after_save.py")), "2", "recipes/sft.py",
                     *recipe_args(tiny_gemma, data, out)])  # fmt: skip
    after_kill = sorted(p.name for p in out.iterdir())
    resumed = launch([*ddp, "recipes/sft.py", *recipe_args(tiny_gemma, data, out)])
    return {"root": root, "data": data, "reference": reference, "out": out, "killed": killed,
            "after_kill": after_kill, "resumed": resumed}  # fmt: skip


@pytest.mark.slow
def test_two_process_ddp_run_matches_one_process_and_resumes(runs):
    killed, resumed, out = runs["killed"], runs["resumed"], runs["out"]
    assert killed.returncode != 0, killed.stderr[-2000:]
    assert "checkpoint-2" in runs["after_kill"] and "summary.json" not in runs["after_kill"]
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resuming from" in resumed.stderr and "checkpoint-2" in resumed.stderr
    # one status line (the main process prints), one model, one card, checkpoints cleaned up
    status = [json.loads(line) for line in resumed.stdout.splitlines() if line.startswith('{"status"')]
    assert [s["status"] for s in status] == ["done"]
    assert len(list(out.glob("*.safetensors"))) == 1 and len(list(out.glob("README*"))) == 1
    assert not list(out.glob("checkpoint-*")) and json.loads((out / "summary.json").read_text())["status"] == "done"

    info = json.loads((out / "training_info.json").read_text())
    ref = json.loads((Path(runs["reference"]["output_dir"]) / "training_info.json").read_text())
    assert info["world_size"] == 2 and ref["world_size"] == 1
    assert info["hyperparameters"]["gradient_accumulation_steps"] == 2  # 8 / (2 per device x 2 processes)
    assert ref["hyperparameters"]["gradient_accumulation_steps"] == 4  # 8 / (2 per device x 1 process)
    assert info["global_steps"] == ref["global_steps"] == EPOCHS * ROWS // GLOBAL_BATCH
    # the same examples in every optimizer step (tokens seen so far, all processes), the same losses: steps 1-2
    # before the kill, 3-4 after the resume
    two, one = info["loss_history"], ref["loss_history"]
    assert [h["step"] for h in two] == [h["step"] for h in one] == [1, 2, 3, 4]
    assert tokens_per_step(two) == tokens_per_step(one)
    for a, b in zip(two, one, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4), (two, one)


@pytest.mark.slow
def test_a_run_finished_by_one_process_is_skipped_by_two(runs, tiny_gemma):
    """The config hash does not depend on the process count: torchrun with 2 processes reuses the 1-process run."""
    out = Path(runs["reference"]["output_dir"])
    model = out / "model.safetensors"
    before = model.stat().st_mtime_ns
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "recipes/sft.py"]
    proc = launch([*cmd, *recipe_args(tiny_gemma, runs["data"], out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    status = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"status"')]
    assert [s["status"] for s in status] == ["skipped"]
    assert model.stat().st_mtime_ns == before


@pytest.mark.slow
def test_fsdp_config_launches_two_processes_on_cpu(runs, tiny_gemma):
    """The shipped fsdp.yaml on CPU: accelerate 1.15 shards with FSDP only on GPU backends (DistributedType.FSDP is
    set for MULTI_GPU-like types), so on CPU the processes run data-parallel; the run must still be right."""
    out = runs["root"] / "fsdp"
    args = recipe_args(tiny_gemma, runs["data"], out) + ["--max_steps", "2", "--save_strategy", "no"]
    cmd = [*ACCELERATE, "--config_file", "recipes/accelerate_configs/fsdp.yaml", *CPU_FLAGS, "recipes/sft.py"]
    proc = launch([*cmd, *args, "--gradient_checkpointing", "false"])
    assert proc.returncode == 0, proc.stderr[-4000:]
    info = json.loads((out / "training_info.json").read_text())
    ref = json.loads((Path(runs["reference"]["output_dir"]) / "training_info.json").read_text())
    assert info["world_size"] == 2 and info["global_steps"] == 2
    assert info["first_loss"] == pytest.approx(ref["first_loss"], abs=1e-4)
    assert len(list(out.glob("*.safetensors"))) == 1 and (out / "README.md").exists()


def test_zero3_config_is_a_valid_deepspeed_stage3_config():
    """ZeRO-3 needs DeepSpeed on GPUs, so CI checks the config accelerate will read (command in docs/train.md)."""
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(REPO / "recipes/accelerate_configs/zero3.yaml"))
    assert str(config.distributed_type).endswith("DEEPSPEED")
    ds = config.deepspeed_config
    assert ds["zero_stage"] == 3
    assert ds["zero3_save_16bit_model"] is True  # save_model writes the full weights, not shards only
    assert ds["zero3_init_flag"] is True  # each rank materialises only its shard while loading
    assert ds["offload_optimizer_device"] == ds["offload_param_device"] == "none"
