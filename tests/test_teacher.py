"""The teacher stage end to end: embedded server on a tiny model, resume, failures, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from compeff_hf.cli import main as cli_main
from compeff_hf.data import load_rows

sys.path.insert(0, str(Path(__file__).parent / "llm"))
from faulty_server import FaultyServer, Schedule


def _instructions(path: Path, n: int = 6) -> Path:
    with path.open("w") as fh:
        for i in range(n):
            msgs = [{"role": "user", "content": f"Is review {i} positive?"}]
            if i == 0:
                msgs.append({"role": "assistant", "content": "reference answer, dropped"})
            fh.write(json.dumps({"id": f"ins{i}", "messages": msgs, "task_id": "t1"}) + "\n")
    return path


@pytest.mark.slow
def test_teacher_with_the_embedded_server_and_resume(tmp_path, tiny_gemma):
    data = _instructions(tmp_path / "ins.jsonl")
    out = tmp_path / "teacher"
    args = ["teacher", "--input", str(data), "--model", str(tiny_gemma), "--output_dir", str(out)]
    args += ["--max_new_tokens", "4", "--temperature", "0"]
    assert cli_main(args) == 0
    ds = load_rows(out)
    assert len(ds) == 6 and set(ds["id"]) == {f"ins{i}" for i in range(6)}
    assert {"output", "request_id", "completion_tokens", "finish_reason", "task_id"} <= set(ds.column_names)
    assert all(isinstance(o, str) for o in ds["output"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_out"] == 6 and summary["failed"] == 0
    mtime = (out / "summary.json").stat().st_mtime
    assert cli_main(args) == 0  # finished: skipped without starting a server
    assert (out / "summary.json").stat().st_mtime == mtime


def test_teacher_failures_leave_the_stage_open_and_a_rerun_finishes_it(tmp_path):
    data = _instructions(tmp_path / "ins.jsonl", n=30)
    out = tmp_path / "teacher"
    with FaultyServer(Schedule(seed=1, fault_rate=0.5, kinds=("500",))) as server:
        args = ["teacher", "--input", str(data), "--endpoint_url", server.url, "--output_dir", str(out)]
        args += ["--max_retries", "0", "--max_failure_rate", "1.0"]
        assert cli_main(args) == 1
        assert not (out / "summary.json").exists()
        failed = load_rows(out / "failed")
        assert len(failed) > 0 and all("HTTP 500" in e for e in failed["error"])
        server.schedule = Schedule()
        server.reset_log()
        assert cli_main(args) == 0
        assert len(server.log.entries) == len(failed)  # only the failed rows were asked again
    ds = load_rows(out)
    assert sorted(ds["id"]) == sorted(f"ins{i}" for i in range(30))
    assert ds.filter(lambda r: r["id"] == "ins0")[0]["output"] == "echo: Is review 0 positive?"


def test_teacher_bad_input_names_the_row(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "row-7", "messages": [{"content": "no role"}]}) + "\n")
    args = [
        "teacher",
        "--input",
        str(bad),
        "--endpoint_url",
        "http://127.0.0.1:9",
        "--output_dir",
        str(tmp_path / "o"),
    ]
    assert cli_main(args) == 2
    assert "row-7" in capsys.readouterr().err
