"""Data-parallel scoring: 2 CPU processes (gloo), spawned by --num_processes or by torchrun, equal one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compeff_hf.data import load_rows
from compeff_hf.filter.config import FilterConfig
from compeff_hf.filter.dist import Dist
from compeff_hf.filter.pipeline import run


def _rows(n: int) -> list[dict]:
    """Two instruction groups, responses of many lengths (so batches differ in width)."""
    return [
        {
            "id": f"row-{i:03d}",
            "messages": [{"role": "user", "content": f"Classify the polarity.\nInput: review {i}\nOutput:"}],
            "output": "positive because the reviewer liked it " * (1 + i % 4),
            "task_id": f"t{i % 2}",
            "perspective_id": "p0",
        }
        for i in range(n)
    ]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


pytestmark = pytest.mark.slow  # each test starts 2 processes that load torch and a tiny model


def _same_outputs(a: Path, b: Path) -> None:
    one, two = load_rows(a / "scored"), load_rows(b / "scored")
    assert one.column_names == two.column_names
    for column in one.column_names:  # identical, not close: the same batches, the same numbers (NaN == NaN)
        assert json.dumps(list(one[column])) == json.dumps(list(two[column])), column
    s1, s2 = (json.loads((p / "summary.json").read_text()) for p in (a, b))
    for key in ("rows_in", "rows_kept", "keep_ratio_actual", "histograms", "proxy"):
        assert s1.get(key) == s2.get(key), key
    ledgers = sorted(p.name for p in (b / "_ledger").iterdir())
    for name in ledgers:  # the main process alone wrote each row ledger: every row once
        if name == "decontamination.jsonl":  # one record per check, not per row
            continue
        ids = [json.loads(line)["id"] for line in (b / "_ledger" / name).read_text().splitlines()]
        assert sorted(ids) == sorted(one["id"])
    assert ledgers == sorted(p.name for p in (a / "_ledger").iterdir())


def test_num_processes_2_equals_one_process(tmp_path, tiny_gemma):
    data = _write(tmp_path / "teacher.jsonl", _rows(13))
    common = {"input": str(data), "scorer_model": str(tiny_gemma), "metric": "ifd", "keep_ratio": 0.5}
    common["batch_size"] = 2
    single = run(FilterConfig(output_dir=str(tmp_path / "one"), **common))
    double = run(FilterConfig(output_dir=str(tmp_path / "two"), num_processes=2, **common))
    assert double["status"] == "done" and double["rows_kept"] == single["rows_kept"]
    _same_outputs(tmp_path / "one", tmp_path / "two")
    ledger = (tmp_path / "two" / "_ledger" / "scores.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in ledger] == [f"row-{i:03d}" for i in range(13)]  # gathered, in order
    # The config-hash skip works the same: num_processes is volatile, the finished output is reused
    again = run(FilterConfig(output_dir=str(tmp_path / "two"), num_processes=1, **common))
    assert again["finished_at"] == double["finished_at"]
    # Resume with 2 processes after a kill: only the missing rows are scored, nothing is duplicated
    path = tmp_path / "two" / "_ledger" / "scores.jsonl"
    path.write_text("".join(line + "\n" for line in ledger[:5]))
    (tmp_path / "two" / "summary.json").unlink()
    resumed = run(FilterConfig(output_dir=str(tmp_path / "two"), num_processes=2, **common))
    assert resumed["rows_kept"] == single["rows_kept"] and len(path.read_text().splitlines()) == 13
    _same_outputs(tmp_path / "one", tmp_path / "two")


def test_torchrun_2_processes_equal_one_process(tmp_path, tiny_gemma):
    rows = [{k: v for k, v in r.items() if k != "output"} for r in _rows(10)]
    data = _write(tmp_path / "instructions.jsonl", rows)
    flags = ["--input", str(data), "--scorer_model", str(tiny_gemma), "--proxy_responses", "true"]
    flags += ["--proxy_max_new_tokens", "6", "--proxy_batch_size", "2", "--batch_size", "2", "--keep_ratio", "0.5"]
    run(FilterConfig(output_dir=str(tmp_path / "one"), **_as_kwargs(flags)))
    env = {**os.environ, "COMPEFF_HF_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    cli = Path(sys.executable).with_name("compeff-hf")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(cli)]
    done = subprocess.run(
        [*cmd, "filter", *flags, "--output_dir", str(tmp_path / "two")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("filter: kept") == 1  # one summary, printed by the main process
    _same_outputs(tmp_path / "one", tmp_path / "two")


def _as_kwargs(flags: list[str]) -> dict:
    types = {f.name: f.type for f in FilterConfig.__dataclass_fields__.values()}
    out = {}
    for key, value in zip(flags[::2], flags[1::2], strict=True):
        name = key[2:]
        out[name] = value == "true" if types[name] in (bool, "bool") else value
    for name in ("proxy_max_new_tokens", "proxy_batch_size", "batch_size"):
        out[name] = int(out[name])
    out["keep_ratio"] = float(out["keep_ratio"])
    return out


def test_single_process_collectives_are_identities():
    ctx = Dist()
    assert ctx.is_main and ctx.shard == (0, 1)
    assert ctx.broadcast({"a": 1}) == {"a": 1} and ctx.gather(3) == [3] and ctx.all_gather("x") == ["x"]
    ctx.barrier()
    assert ctx.device("cpu") == "cpu"
    assert Dist(1, 2, 1).device("cuda") == "cuda:1" and Dist(1, 2, 1).device("cuda:0") == "cuda:0"
    assert not Dist(1, 2, 1).is_main


def test_main_process_error_reaches_every_process(tmp_path, tiny_gemma):
    """The main cannot claim the folder (another run holds its lock): both processes stop with the error."""
    from filelock import FileLock

    data = _write(tmp_path / "teacher.jsonl", _rows(4))
    out = tmp_path / "busy"
    out.mkdir()
    with FileLock(str(out / ".lock")), pytest.raises(Exception, match="in use by another compeff-hf process"):
        run(FilterConfig(input=str(data), scorer_model=str(tiny_gemma), output_dir=str(out), num_processes=2))
