"""Fault injection: every row ends done or failed with its error, reruns finish the rest, SIGKILL resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from faulty_server import FaultyServer, KillingServer, Schedule, content_key

from compeff_hf.llm.client import ChatRequest, request_id, run_chat_requests
from compeff_hf.llm.config import EndpointArgs
from compeff_hf.stage import Ledger

N = 240


def _requests(n: int = N) -> list[ChatRequest]:
    return [ChatRequest([{"role": "user", "content": f"text number {i}"}], meta={"row": i}) for i in range(n)]


def _ledger_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_faults_lose_nothing_duplicate_nothing_and_rerun_completes(tmp_path):
    reqs = _requests()
    schedule = Schedule(seed=7, fault_rate=0.35)  # "slow" answers hang until the server stops
    with FaultyServer(schedule) as server:
        ep = EndpointArgs(
            endpoint_url=server.url, model="m", request_timeout_s=3.0, max_retries=2, retry_backoff_s=0.01,
            max_concurrency=16, max_failure_rate=1.0,
        )  # fmt: skip
        path = tmp_path / "ledger.jsonl"
        rows = run_chat_requests(reqs, ep, Ledger(path))
        faults = Counter(e["fault"] for e in server.log.entries)
        assert {"500", "429", "503", "slow", "malformed"} <= set(faults)  # every kind was exercised
        statuses = Counter(r["status"] for r in rows)
        assert statuses["ok"] + statuses["failed"] == N and statuses["failed"] > 0
        for r in rows:  # every ok row carries its own output, every failed row its error
            if r["status"] == "ok":
                assert r["output"] == f"echo: text number {r['meta']['row']}" and r["error"] is None
            else:
                assert r["output"] is None and r["error"]
        lines = _ledger_lines(path)
        assert len(lines) == N and len({x["id"] for x in lines}) == N  # 0 lost, 0 duplicated
        ok_ids = {r["id"] for r in rows if r["status"] == "ok"}

        server.schedule = Schedule()  # the endpoint recovers
        server.reset_log()
        again = run_chat_requests(reqs, ep, Ledger(path))
        assert all(r["status"] == "ok" for r in again)
        failed_keys = {content_key(reqs[r["meta"]["row"]].messages) for r in rows if r["status"] == "failed"}
        assert server.log.keys() == Counter(failed_keys)  # only the failed ones, once each
        assert {r["id"] for r in again} - ok_ids == {r["id"] for r in rows if r["status"] == "failed"}
    lines = _ledger_lines(path)
    oks = Counter(x["id"] for x in lines if x["status"] == "ok")
    assert len(oks) == N and max(oks.values()) == 1


_CHILD = """
import sys
from pathlib import Path
from compeff_hf.llm.client import ChatRequest, run_chat_requests
from compeff_hf.llm.config import EndpointArgs
from compeff_hf.stage import Ledger
url, path, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
reqs = [ChatRequest([{"role": "user", "content": f"text number {i}"}]) for i in range(n)]
ep = EndpointArgs(endpoint_url=url, model="m", max_concurrency=4, max_retries=1, retry_backoff_s=0.01)
rows = run_chat_requests(reqs, ep, Ledger(path))
print(sum(r["status"] == "ok" for r in rows))
"""


@pytest.mark.slow
def test_sigkill_mid_run_resumes_to_the_same_ids(tmp_path):
    path = tmp_path / "ledger.jsonl"
    # The server kills the client when request 61 arrives: a request count, not a timer, so the kill cannot race
    # the run finishing, and at most max_concurrency=4 answers can be in flight when it lands.
    with KillingServer(60, Schedule(delay_s=0.02)) as server:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, server.url, str(path), str(N)])
        server.victim = proc.pid
        server.ready.set()
        assert proc.wait(timeout=300) == -signal.SIGKILL
        before = {x["id"] for x in _ledger_lines(path) if x["status"] == "ok"}
        assert 60 - 4 <= len(before) <= 60, "lost more than the requests in flight"
        server.answer = N * 2  # now answer everything
        before_keys = Counter(server.log.keys())
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, server.url, str(path), str(N)], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip() == str(N)
        after_keys = server.log.keys() - before_keys
    lines = _ledger_lines(path)
    ids = Counter(x["id"] for x in lines)
    assert len(ids) == N and max(ids.values()) == 1  # same final set of ids, none written twice
    expected = {request_id(r, EndpointArgs(model="m")) for r in _requests()}
    assert set(ids) == expected
    # nothing finished before the kill was asked again
    assert sum(after_keys.values()) == N - len(before)
