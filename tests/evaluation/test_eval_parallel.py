"""Data-parallel eval: 2 CPU processes (gloo) under torchrun and with --num_processes give the 1-process result."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from compeff_hf.distributed import free_port
from compeff_hf.evaluation.parallel import shard, unshard

pytestmark = pytest.mark.slow


def test_shard_and_unshard_restore_the_original_order():
    rows = list(range(7))
    parts = [shard(rows, rank, 3) for rank in range(3)]
    assert parts == [[0, 3, 6], [1, 4], [2, 5]]
    assert unshard(parts) == rows
    assert unshard([[0], []]) == [0] and unshard([]) == []


def _args(model, data, out, *extra):
    args = ["eval", "--model", str(model), "--data_dir", str(data), "--datasets", "sst2", "opener", "--limit", "5"]
    return args + ["--seeds", "42", "--max_new_tokens", "8", "--output_dir", str(out), *extra]


def _ledger(out):
    return [json.loads(line) for line in (out / "_ledger" / "predictions.jsonl").read_text().splitlines()]


def _same_run(one, other):
    a, b = _ledger(one), _ledger(other)
    assert [r["id"] for r in b] == [r["id"] for r in a]  # gathered back in the original order
    for x, y in zip(a, b, strict=True):
        assert {k: v for k, v in x.items() if k != "label_scores"} == {
            k: v for k, v in y.items() if k != "label_scores"
        }
        if x["label_scores"] is not None:
            assert y["label_scores"] == pytest.approx(x["label_scores"], abs=1e-5)
    ra, rb = (json.loads((o / "results.json").read_text()) for o in (one, other))
    assert rb["scores"] == ra["scores"] and rb["protocol"]["processes"] == 2
    assert ra["rows_per_process"] == [10] and rb["rows_per_process"] == [6, 4]  # each row predicted once
    assert json.loads((other / "per_item.json").read_text()) == json.loads((one / "per_item.json").read_text())
    assert json.loads((other / "summary.json").read_text())["processes"] == 2


def test_two_processes_give_the_one_process_result(tiny_gemma, sentibench_dir, tmp_path):
    from compeff_hf.cli import main

    one = tmp_path / "one"
    assert main(_args(tiny_gemma, sentibench_dir, one)) == 0

    launched = tmp_path / "torchrun"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port())]
    cmd += ["-m", "compeff_hf.cli", *_args(tiny_gemma, sentibench_dir, launched)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("### SentiBench") == 1  # only the main process prints (and writes)
    _same_run(one, launched)

    spawned = tmp_path / "spawned"
    assert main(_args(tiny_gemma, sentibench_dir, spawned, "--num_processes", "2")) == 0
    _same_run(one, spawned)
