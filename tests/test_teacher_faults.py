"""Fault tests of issue #15 against real servers on 127.0.0.1: secrets echoed by an endpoint (item 4), empty
completions (item 5), a stale `failed/` (item 6) and kill -9 of the teacher (item 9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from compeff_hf.cli import main as cli_main
from compeff_hf.data import load_rows

sys.path.insert(0, str(Path(__file__).parent / "llm"))
from faulty_server import FaultyServer, KillingServer, Schedule, content_key

KEY = "k3y-abc"  # short on purpose: scrubbing must not depend on a minimum length
LONG_KEY = "sk-proj-0123456789abcdefghij"


def _instructions(path: Path, n: int) -> Path:
    with path.open("w") as fh:
        for i in range(n):
            # Long enough rows that several fit a write buffer: a buffered ledger loses them to SIGKILL.
            text = f"Review {i}: " + "the food was fine but the service was slow " * 8
            fh.write(json.dumps({"id": f"ins{i}", "messages": [{"role": "user", "content": text}]}) + "\n")
    return path


class EchoKeyServer(FaultyServer):
    """Answers 401 with a body that repeats the caller's Authorization header (as some gateways do)."""

    def __init__(self) -> None:
        super().__init__(Schedule(fault_rate=1.0, kinds=("401",)))

    def _handler(self):
        base = super()._handler()
        server = self

        class Handler(base):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self.rfile.read(length)
                auth = self.headers.get("Authorization", "")
                server.log.add(key="", attempt=1, fault="401", auth=auth, body={})
                body = json.dumps({"error": f"invalid credentials: {auth} (api_key={auth.split()[-1]})"})
                self._send(401, body.encode())

        return Handler


class ScriptedContentServer(FaultyServer):
    """Answers with the contents in ``script`` in turn per request (``None``: the normal echo)."""

    def __init__(self, script: list[str | None]) -> None:
        super().__init__()
        self.script = script
        self.sent = 0

    def _answer(self, body: dict) -> dict:
        out = super()._answer(body)
        with self._lock:
            i = self.sent
            self.sent += 1
        content = self.script[i] if i < len(self.script) else None
        if content is not None:
            out["choices"][0]["message"]["content"] = content
        return out


def test_a_secret_echoed_by_the_endpoint_is_never_stored(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MY_ENDPOINT_KEY", KEY)
    data = _instructions(tmp_path / "ins.jsonl", 2)
    out = tmp_path / "teacher"
    with EchoKeyServer() as server:
        url = server.url.replace("http://", f"http://user:{LONG_KEY}@") + f"?api_key={LONG_KEY}"
        args = ["teacher", "--input", str(data), "--endpoint_url", url, "--output_dir", str(out)]
        args += ["--api_key_env", "MY_ENDPOINT_KEY", "--max_retries", "0", "--max_failure_rate", "1.0"]
        assert cli_main(args) == 1
        assert server.log.entries  # the key really went out, and came back in the 401 body
    failed = load_rows(out / "failed")
    assert all("HTTP 401" in e and "<redacted>" in e for e in failed["error"])
    written = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert any(p.name == "requests.jsonl" for p in written)
    err = capsys.readouterr().err
    for secret in (KEY, LONG_KEY):
        assert not [str(p) for p, data in written.items() if secret.encode() in data]
        assert secret not in err


def test_url_credentials_are_not_saved_in_config_or_summary(tmp_path):
    data = _instructions(tmp_path / "ins.jsonl", 2)
    out = tmp_path / "teacher"
    with FaultyServer() as server:
        url = server.url.replace("http://", "http://alice:pw-Secret-77@")
        assert cli_main(["teacher", "--input", str(data), "--endpoint_url", url, "--output_dir", str(out)]) == 0
    assert "pw-Secret-77" not in (out / "config.yaml").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert "pw-Secret-77" not in json.dumps(summary) and summary["endpoint"].startswith("http://127.0.0.1")


def test_empty_completions_are_failures_that_are_retried(tmp_path):
    data = _instructions(tmp_path / "ins.jsonl", 3)
    out = tmp_path / "teacher"
    args = ["--input", str(data), "--output_dir", str(out), "--retry_backoff_s", "0", "--max_concurrency", "1"]
    # The first answer to each of the three requests is empty or blank; the retry gets a real one.
    with ScriptedContentServer(["", "   \n", "\t", None, None, None]) as server:
        assert cli_main(["teacher", "--endpoint_url", server.url, *args, "--max_retries", "0",
                         "--max_failure_rate", "1.0"]) == 1  # fmt: skip
        failed = load_rows(out / "failed")
        assert len(failed) == 3 and all("empty completion" in e for e in failed["error"])
        assert not (out / "summary.json").exists()
        assert cli_main(["teacher", "--endpoint_url", server.url, *args]) == 0  # rerun retries the empty ones
    ds = load_rows(out)
    assert len(ds) == 3 and all(o.startswith("echo: Review") for o in ds["output"])


def test_an_empty_answer_is_retried_within_the_run(tmp_path):
    data = _instructions(tmp_path / "ins.jsonl", 1)
    out = tmp_path / "teacher"
    with ScriptedContentServer([" ", None]) as server:
        args = ["teacher", "--input", str(data), "--output_dir", str(out), "--endpoint_url", server.url]
        assert cli_main([*args, "--retry_backoff_s", "0", "--max_retries", "1"]) == 0
        assert server.sent == 2
    ledger = [json.loads(line) for line in (out / "_ledger" / "requests.jsonl").read_text().splitlines()]
    assert [(r["status"], r["attempts"]) for r in ledger] == [("ok", 2)]


def test_a_clean_rerun_removes_the_stale_failed_dataset(tmp_path):
    data = _instructions(tmp_path / "ins.jsonl", 12)
    out = tmp_path / "teacher"
    with FaultyServer(Schedule(seed=3, fault_rate=0.5, kinds=("500",))) as server:
        args = ["teacher", "--input", str(data), "--endpoint_url", server.url, "--output_dir", str(out)]
        args += ["--max_retries", "0", "--max_failure_rate", "1.0"]
        assert cli_main(args) == 1
        assert len(load_rows(out / "failed")) > 0
        server.schedule = Schedule()
        assert cli_main(args) == 0
    assert json.loads((out / "summary.json").read_text())["failed"] == 0
    assert not (out / "failed").exists()
    from compeff_hf.hub.push import stage_configs

    assert "failed" not in [c.name for c in stage_configs(out)]  # publish would push nothing stale


def _processes_of(marker: str) -> list[str]:
    """Live processes (not zombies) whose environment carries ``COMPEFF_HF_TEST_RUN=marker``, as "pid cmdline"."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (
                not proc.name.isdigit()
                or f"COMPEFF_HF_TEST_RUN={marker}".encode() not in (proc / "environ").read_bytes()
            ):
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            found.append(f"{proc.name} {(proc / 'cmdline').read_bytes().replace(bytes(1), b' ').decode()[:120]}")
        except OSError:
            continue
    return found


def test_kill_9_loses_at_most_the_requests_in_flight(tmp_path):
    concurrency, answered = 4, 40
    data = _instructions(tmp_path / "ins.jsonl", 60)
    out = tmp_path / "teacher"
    base = ["teacher", "--input", str(data), "--output_dir", str(out), "--max_concurrency", str(concurrency)]
    marker = f"kill9-{os.getpid()}-{tmp_path.name}"  # every process of the run inherits it
    env = {**os.environ, "COMPEFF_HF_LOG_LEVEL": "WARNING", "COMPEFF_HF_TEST_RUN": marker}
    with KillingServer(answered) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "compeff_hf.cli", *base, "--endpoint_url", server.url],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        server.victim = proc.pid
        server.ready.set()
        assert proc.wait(timeout=300) == -signal.SIGKILL
        first = list(server.answered)
        # only the stage process was killed: its pipeline's forkserver and workers must follow it, not linger
        deadline = time.monotonic() + 15
        while _processes_of(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _processes_of(marker), f"left behind after kill -9: {_processes_of(marker)}"
    assert len(first) == answered
    with FaultyServer() as again:
        assert cli_main([*base, "--endpoint_url", again.url]) == 0
        resent = [content_key(e["body"]["messages"]) for e in again.log.entries]
    asked_twice = set(first) & set(resent)
    assert len(asked_twice) <= concurrency, f"{len(asked_twice)} answered requests were sent again"
    assert len(resent) == 60 - answered + len(asked_twice)
    assert len(load_rows(out)) == 60


def test_a_failed_start_does_not_block_the_corrected_command(tmp_path):
    data = _instructions(tmp_path / "ins.jsonl", 2)
    out = tmp_path / "d"
    with FaultyServer() as server:
        base = ["teacher", "--output_dir", str(out), "--endpoint_url", server.url]
        assert cli_main([*base, "--input", str(tmp_path / "no_such.jsonl")]) != 0
        assert cli_main([*base, "--input", str(data)]) == 0


def test_overwrite_never_deletes_files_the_stage_did_not_write(tmp_path, capsys):
    project = tmp_path / "my-project"
    (project / "src").mkdir(parents=True)
    (project / "notes.txt").write_text("mine")
    (project / "src" / "main.py").write_text("print()")
    data = _instructions(tmp_path / "ins.jsonl", 2)
    with FaultyServer() as server:
        base = ["teacher", "--output_dir", str(project), "--endpoint_url", server.url, "--overwrite", "true"]
        assert cli_main([*base, "--input", str(tmp_path / "typo.jsonl")]) != 0
        assert (project / "notes.txt").read_text() == "mine" and (project / "src" / "main.py").exists()
        assert cli_main([*base, "--input", str(data)]) != 0  # a good input: still refused, naming the files
    err = capsys.readouterr().err
    assert "notes.txt" in err and "src" in err
    assert (project / "notes.txt").read_text() == "mine" and (project / "src" / "main.py").exists()
