"""The teacher stage end to end: embedded server on a tiny model, resume, failures, bad input."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from compeff_hf.cli import main as cli_main
from compeff_hf.data import load_rows

sys.path.insert(0, str(Path(__file__).parent / "llm"))
from faulty_server import FaultyServer, Schedule


def _instructions(path: Path, n: int = 6, long_every: int = 0) -> Path:
    with path.open("w") as fh:
        for i in range(n):
            marker = " [long]" if long_every and i % long_every == 1 else ""
            msgs = [{"role": "user", "content": f"Is review {i} positive?{marker}"}]
            if i == 0:
                msgs.append({"role": "assistant", "content": "reference answer, dropped"})
            fh.write(json.dumps({"id": f"ins{i}", "messages": msgs, "task_id": "t1"}) + "\n")
    return path


@pytest.mark.slow
def test_teacher_with_the_embedded_server_and_resume(tmp_path, tiny_gemma):
    data = _instructions(tmp_path / "ins.jsonl")
    out = tmp_path / "teacher"
    args = ["teacher", "--input", str(data), "--model", str(tiny_gemma), "--output_dir", str(out)]
    args += ["--max_new_tokens", "4", "--temperature", "0", "--keep_truncated", "true"]
    assert cli_main(args) == 0
    ds = load_rows(out)
    assert sorted(ds["id"]) == [f"ins{i}" for i in range(6)] and set(ds["task_id"]) == {"t1"}
    ledger = {x["meta"]["row_id"]: x for x in _ledger(out)}
    assert len(ledger) == 6 and all(x["status"] == "ok" for x in ledger.values())
    for row in ds:  # each row carries its own request's answer and the facts of that answer
        req = ledger[row["id"]]
        assert row["output"] == req["output"] and row["request_id"] == req["id"]
        assert row["finish_reason"] == req["finish_reason"] in ("length", "stop")
        assert row["truncated"] == (row["finish_reason"] == "length")
        assert row["completion_tokens"] == req["completion_tokens"] <= 4
        assert row["completion_tokens"] == 4 or not row["truncated"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_out"] == 6 and summary["failed"] == 0
    assert summary["truncated"] == sum(ds["truncated"]) and summary["endpoint"] == "embedded"
    assert summary["completion_tokens"] == sum(ds["completion_tokens"])
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


def _ledger(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "_ledger" / "requests.jsonl").read_text().splitlines()]


@pytest.fixture
def dying_replica():
    """A real server in its own process that answers 12 requests, then crashes when the 13th arrives."""
    script = Path(__file__).parent / "llm" / "faulty_server.py"
    proc = subprocess.Popen([sys.executable, str(script), "--die_after", "12"], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    yield proc, url
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_teacher_spreads_over_replicas_and_moves_work_off_a_dead_one(tmp_path, dying_replica):
    proc, dead_url = dying_replica
    data = _instructions(tmp_path / "ins.jsonl", n=48)
    out = tmp_path / "teacher"
    with FaultyServer() as alive:
        args = ["teacher", "--input", str(data), "--endpoint_url", f"{dead_url},{alive.url}"]
        args += ["--output_dir", str(out), "--max_concurrency", "4", "--retry_backoff_s", "0.01"]
        assert cli_main(args) == 0
        alive_keys = alive.log.keys()
    assert proc.wait(timeout=30) == 1  # the replica really died mid-run
    ds = load_rows(out)
    assert sorted(ds["id"]) == sorted(f"ins{i}" for i in range(48))  # 0 lost, 0 duplicated
    by_id = dict(zip(ds["id"], ds["output"], strict=True))
    assert by_id == {f"ins{i}": f"echo: Is review {i} positive?" for i in range(48)}
    lines = _ledger(out)
    assert len(lines) == 48 and all(x["status"] == "ok" for x in lines)  # no failure, no line written twice
    answered = Counter(x["endpoint"] for x in lines)
    assert answered == {dead_url: 12, alive.url: 36}
    assert max(alive_keys.values()) == 1 and sum(alive_keys.values()) == 36  # each asked there once
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_out"] == 48 and summary["failed"] == 0
    assert summary["endpoint"] == f"{dead_url}, {alive.url}"
    counts = summary["endpoints"]
    assert counts[dead_url]["ok"] == 12 and counts[alive.url]["ok"] == 36
    assert counts[dead_url]["errors"] >= 1 and counts[alive.url]["errors"] == 0
    assert counts[alive.url]["sent"] == 36


class _Said(logging.Handler):
    """The teacher's own log lines, whatever handlers other tests left on the package logger."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def take(self) -> str:
        text, self.lines = "\n".join(self.lines), []
        return text


@pytest.fixture
def said():
    handler = _Said()
    logging.getLogger("compeff_hf.teacher").addHandler(handler)
    yield handler
    logging.getLogger("compeff_hf.teacher").removeHandler(handler)


def test_teacher_truncated_answers_are_kept_out_of_data_and_counted(tmp_path, said):
    data = _instructions(tmp_path / "ins.jsonl", n=9, long_every=3)  # rows 1, 4, 7 are cut at the budget
    with FaultyServer() as server:
        out = tmp_path / "teacher"
        args = ["teacher", "--input", str(data), "--endpoint_url", server.url, "--output_dir", str(out)]
        assert cli_main(args) == 0
        text = said.take()
        assert "3 answers were cut at max_new_tokens" in text and "not trained on" in text
        kept = tmp_path / "kept"
        args = ["teacher", "--input", str(data), "--endpoint_url", server.url, "--output_dir", str(kept)]
        assert cli_main([*args, "--keep_truncated", "true"]) == 0
        # the log says what happened to them: kept, not "not trained on"
        text = said.take()
        assert "3 answers were cut" in text and "kept in data as asked" in text and "not trained on" not in text
    ds = load_rows(out)
    assert sorted(ds["id"]) == [f"ins{i}" for i in (0, 2, 3, 5, 6, 8)]
    assert set(ds["truncated"]) == {False} and set(ds["finish_reason"]) == {"stop"}
    cut = load_rows(out / "truncated")
    assert sorted(cut["id"]) == ["ins1", "ins4", "ins7"] and set(cut["truncated"]) == {True}
    assert cut.filter(lambda r: r["id"] == "ins4")[0]["output"] == "echo: Is review 4 positive? [long]"
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["rows_in"], summary["rows_out"], summary["truncated"]) == (9, 6, 3)
    assert summary["truncated_kept"] is False
    from compeff_hf.hub.cards import _stage_facts

    assert _stage_facts("teacher", {}, summary)["cost"]["truncated"] == 3  # the dataset card counts them
    both = load_rows(kept)
    assert len(both) == 9 and sorted(i for i, t in zip(both["id"], both["truncated"], strict=True) if t) == [
        "ins1", "ins4", "ins7"
    ]  # fmt: skip
    summary = json.loads((kept / "summary.json").read_text())
    assert (summary["rows_out"], summary["truncated"], summary["truncated_kept"]) == (9, 3, True)
    assert not (kept / "truncated").exists()


def test_teacher_turns_thinking_off_and_strips_think_blocks(tmp_path):
    data = _instructions(tmp_path / "ins.jsonl", n=3)
    with FaultyServer(Schedule(think=True)) as server:
        base = ["teacher", "--input", str(data), "--endpoint_url", server.url]
        assert cli_main([*base, "--output_dir", str(tmp_path / "on")]) == 0
        assert all("chat_template_kwargs" not in e["body"] for e in server.log.entries)
        server.reset_log()
        assert cli_main([*base, "--output_dir", str(tmp_path / "off"), "--enable_thinking", "false"]) == 0
        assert [e["body"]["chat_template_kwargs"] for e in server.log.entries] == [{"enable_thinking": False}] * 3
    expected = {f"ins{i}": f"echo: Is review {i} positive?" for i in range(3)}
    for name in ("on", "off"):  # thought blocks never reach the output
        ds = load_rows(tmp_path / name)
        assert dict(zip(ds["id"], ds["output"], strict=True)) == expected
    raw = _ledger(tmp_path / "on")
    assert all("<think>" not in x["output"] for x in raw)
    # thinking on/off asks a different question: different request ids
    assert {x["id"] for x in raw}.isdisjoint({x["id"] for x in _ledger(tmp_path / "off")})


def test_teacher_streams_in_chunks_with_the_same_rows(tmp_path):
    data = _instructions(tmp_path / "ins.jsonl", n=10)
    with FaultyServer() as server:
        base = ["teacher", "--input", str(data), "--endpoint_url", server.url]
        assert cli_main([*base, "--output_dir", str(tmp_path / "one"), "--chunk_size", "4096"]) == 0
        assert cli_main([*base, "--output_dir", str(tmp_path / "three"), "--chunk_size", "3"]) == 0
    one, three = load_rows(tmp_path / "one"), load_rows(tmp_path / "three")
    assert one["id"] == three["id"] == [f"ins{i}" for i in range(10)]  # input order kept across chunks
    assert one["output"] == three["output"] == [f"echo: Is review {i} positive?" for i in range(10)]
    assert one["task_id"] == ["t1"] * 10 and one["teacher_model"] == ["gemma-3-270m"] * 10
    assert one["messages"] == three["messages"] and len(one["messages"][0]) == 2  # input columns as they were
