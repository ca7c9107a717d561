"""The client against real servers on 127.0.0.1: ids, ledger resume, duplicates, tokens, failure budget."""

from __future__ import annotations

import json
import socket
from collections import Counter

import pytest
from faulty_server import FaultyServer, Schedule

from compeff_hf.errors import EndpointError
from compeff_hf.llm.client import ChatRequest, endpoint_for, request_id, run_chat_requests
from compeff_hf.llm.config import EndpointArgs
from compeff_hf.stage import Ledger


def _requests(n: int) -> list[ChatRequest]:
    return [ChatRequest([{"role": "user", "content": f"review {i}"}], meta={"row": i}) for i in range(n)]


def _endpoint(url: str, **kw) -> EndpointArgs:
    defaults = {"model": "m", "request_timeout_s": 5.0, "max_retries": 2, "retry_backoff_s": 0.01}
    return EndpointArgs(endpoint_url=url, **{**defaults, **kw})


def test_request_id_is_stable_and_depends_on_model_and_params():
    req = ChatRequest([{"role": "user", "content": "hi"}], params={"temperature": 0.0})
    ep = EndpointArgs(model="a")
    assert request_id(req, ep) == request_id(
        ChatRequest([{"content": "hi", "role": "user"}], {"temperature": 0.0}), ep
    )
    assert request_id(req, ep) != request_id(req, EndpointArgs(model="b"))
    assert request_id(req, ep) != request_id(ChatRequest(req.messages, {"temperature": 0.5}), ep)
    # meta is the caller's business, not part of what is asked
    assert request_id(req, ep) == request_id(ChatRequest(req.messages, req.params, meta={"x": 1}), ep)
    with pytest.raises(ValueError, match="unknown generation parameter"):
        request_id(ChatRequest(req.messages, {"temprature": 1}), ep)


def test_rows_are_aligned_duplicates_share_one_request_and_rerun_sends_nothing(tmp_path):
    reqs = _requests(30) + _requests(5)  # the last 5 repeat the first 5
    with FaultyServer() as server:
        ep = _endpoint(server.url, max_concurrency=4)
        ledger = Ledger(tmp_path / "l.jsonl")
        rows = run_chat_requests(reqs, ep, ledger)
        assert [r["output"] for r in rows] == [f"echo: {r.messages[0]['content']}" for r in reqs]
        assert all(r["status"] == "ok" and r["attempts"] == 1 and r["completion_tokens"] for r in rows)
        assert rows[30] == rows[0]
        assert sum(server.log.keys().values()) == 30
        assert [r["meta"]["row"] for r in rows[:30]] == list(range(30))
        ledger.close()
        server.reset_log()
        again = run_chat_requests(reqs, ep, Ledger(tmp_path / "l.jsonl"))
        assert server.log.entries == []
        assert [r["id"] for r in again] == [r["id"] for r in rows]
    lines = (tmp_path / "l.jsonl").read_text().splitlines()
    assert len(lines) == 30 and len({json.loads(x)["id"] for x in lines}) == 30


def test_api_token_is_sent_but_never_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_ENDPOINT_TOKEN", "s3cret-token-value")
    with FaultyServer() as server:
        ep = _endpoint(server.url, api_key_env="MY_ENDPOINT_TOKEN")
        run_chat_requests(_requests(2), ep, Ledger(tmp_path / "l.jsonl"))
        assert {e["auth"] for e in server.log.entries} == {"Bearer s3cret-token-value"}
    assert "s3cret" not in (tmp_path / "l.jsonl").read_text()
    assert "s3cret" not in repr(ep)


def test_failure_budget_stops_the_run_and_keeps_finished_rows(tmp_path):
    with FaultyServer(Schedule(fault_rate=1.0, kinds=("500",))) as server:
        ep = _endpoint(server.url, max_retries=0, max_failure_rate=0.2, max_concurrency=2)
        ledger = Ledger(tmp_path / "l.jsonl")
        with pytest.raises(EndpointError, match="failure budget"):
            run_chat_requests(_requests(100), ep, ledger)
        assert 20 <= len(ledger) < 100
        assert all(r["status"] == "failed" and "HTTP 500" in r["error"] for r in ledger.rows())


def test_server_errors_are_retried_client_errors_are_not(tmp_path):
    with FaultyServer(Schedule(fault_rate=1.0, kinds=("500",))) as server:
        ep = _endpoint(server.url, max_retries=3, max_failure_rate=1.0)
        stats: dict = {}
        rows = run_chat_requests(_requests(1), ep, Ledger(tmp_path / "a.jsonl"), stats=stats)
        assert rows[0]["attempts"] == 4 and len(server.log.entries) == 4  # 1 + 3 retries
        assert stats == {server.url: {"sent": 4, "ok": 0, "errors": 4}}
        server.schedule = Schedule(fault_rate=1.0, kinds=("400",))
        rows = run_chat_requests(_requests(2)[1:], ep, Ledger(tmp_path / "b.jsonl"))
        assert rows[0]["attempts"] == 1 and "HTTP 400" in rows[0]["error"]


def test_unreachable_endpoint_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ep = _endpoint(f"http://127.0.0.1:{port}", max_retries=1)
    with pytest.raises(EndpointError, match="unreachable"):
        run_chat_requests(_requests(3), ep, Ledger(tmp_path / "l.jsonl"))
    with pytest.raises(EndpointError, match="cannot reach"), endpoint_for(ep):
        pass


@pytest.fixture
def waits(monkeypatch):
    """The waits between attempts, recorded instead of slept: retry timing checked without a clock."""
    from compeff_hf.llm import client

    recorded: list[float] = []

    async def record(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(client, "_sleep", record)
    return recorded


@pytest.mark.parametrize("status", ["429", "503"])
def test_retry_after_is_honoured_on_429_and_503(tmp_path, waits, status):
    with FaultyServer(Schedule(fault_rate=1.0, kinds=(status,), retry_after="7")) as server:
        ep = _endpoint(server.url, max_retries=2, retry_backoff_s=0.001, max_failure_rate=1.0)
        rows = run_chat_requests(_requests(1), ep, Ledger(tmp_path / "l.jsonl"))
        assert len(server.log.entries) == 3
    assert waits == [7.0, 7.0]  # as told, not the 1 ms backoff
    assert rows[0]["status"] == "failed" and f"HTTP {status}" in rows[0]["error"] and rows[0]["attempts"] == 3


def test_retry_after_is_ignored_on_500_and_capped(tmp_path, waits):
    with FaultyServer(Schedule(fault_rate=1.0, kinds=("500",), retry_after="7")) as server:
        ep = _endpoint(server.url, max_retries=3, retry_backoff_s=0.5, max_failure_rate=1.0)
        run_chat_requests(_requests(1), ep, Ledger(tmp_path / "a.jsonl"))
    # exponential backoff from 0.5 s, jittered into [base/2, base]: 0.5, 1, 2
    assert len(waits) == 3
    for wait, base in zip(waits, [0.5, 1.0, 2.0], strict=True):
        assert base / 2 <= wait <= base
    waits.clear()
    with FaultyServer(Schedule(fault_rate=1.0, kinds=("503",), retry_after="3600")) as server:
        ep = _endpoint(server.url, max_retries=1, max_failure_rate=1.0)
        run_chat_requests(_requests(1), ep, Ledger(tmp_path / "b.jsonl"))
    assert waits == [60.0]  # a Retry-After past the cap waits the cap


def test_retry_after_http_date_and_junk():
    import email.utils
    import time

    from compeff_hf.llm.client import _retry_after

    assert _retry_after({"retry-after": "2.5"}) == 2.5
    assert _retry_after({"retry-after": "-3"}) == 0.0
    assert _retry_after({}) is None and _retry_after(None) is None and _retry_after({"retry-after": ""}) is None
    future = email.utils.formatdate(time.time() + 100, usegmt=True)
    assert 90 <= _retry_after({"retry-after": future}) <= 100
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    assert _retry_after({"retry-after": past}) == 0.0
    assert _retry_after({"retry-after": "junk"}) is None  # unusable: the backoff decides


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_pick_prefers_fewest_in_flight_and_skips_paused_replicas(monkeypatch):
    from compeff_hf.llm import client

    now = [100.0]
    monkeypatch.setattr(client.time, "monotonic", lambda: now[0])
    run = client._Run([], EndpointArgs(model="m"), ledger=None, bar=None)
    a, b, c = (client._Replica(f"http://{x}:1", None) for x in "abc")
    run.replicas = [a, b, c]
    a.outstanding, b.outstanding, c.outstanding = 2, 1, 3
    assert run._pick(None) is b
    assert run._pick(avoid=b) is a  # a retry goes elsewhere when it can
    c.outstanding, c.sent, a.sent = 2, 1, 5
    assert run._pick(avoid=b) is c  # ties: the one that got fewer so far
    b.mark_down()
    assert b.down_until == 100.5 and run._pick(None) is c
    now[0] = 100.5
    b.outstanding = 0
    assert run._pick(None) is b  # up again exactly when its pause ends
    now[0], b.outstanding = 100.0, 1
    b.mark_down()
    assert b.down_until == 101.0  # the pause doubles with each refusal in a row
    a.mark_down()
    c.mark_down()
    assert run._pick(None) is a  # all paused: probe the one that may be tried again first (a: 100.5)
    now[0] = 100.75  # a and c are up again, b (paused twice) is not
    assert run._pick(avoid=a) is c
    a.outstanding = 0
    assert run._pick(None) is a
    only = client._Run([], EndpointArgs(model="m"), ledger=None, bar=None)
    only.replicas = [a]
    assert only._pick(avoid=a) is a  # the only replica: a retry may go back to it


def test_endpoint_urls_and_display_url():
    from compeff_hf.llm.client import display_url, endpoint_urls

    assert endpoint_urls("http://a:1, http://b:2,http://c:3\nhttp://d:4") == [
        "http://a:1", "http://b:2", "http://c:3", "http://d:4"
    ]  # fmt: skip
    assert endpoint_urls(None) == [] and endpoint_urls("") == [] and endpoint_urls(" , ") == []
    assert display_url("https://user:pw@host.example:8443/v1?api_key=s3cret") == "https://host.example:8443/v1"
    assert display_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert display_url("https://host.example/v1") == "https://host.example/v1"  # no port: none added
    assert display_url("just-a-path") == "just-a-path"  # no host: none invented


def test_requests_spread_over_replicas_and_stats_count_them(tmp_path):
    with FaultyServer(Schedule(delay_s=0.01)) as a, FaultyServer(Schedule(delay_s=0.01)) as b:
        ep = _endpoint(f"{a.url},{b.url}", max_concurrency=4)
        stats: dict = {}
        rows = run_chat_requests(_requests(40), ep, Ledger(tmp_path / "l.jsonl"), stats=stats)
        na, nb = len(a.log.entries), len(b.log.entries)
    assert na + nb == 40 and na >= 10 and nb >= 10  # both replicas carry the load
    assert stats == {a.url: {"sent": na, "ok": na, "errors": 0}, b.url: {"sent": nb, "ok": nb, "errors": 0}}
    assert Counter(r["endpoint"] for r in rows) == {a.url: na, b.url: nb}
    assert [r["output"] for r in rows] == [f"echo: review {i}" for i in range(40)]


def test_a_refusing_replica_moves_its_requests_without_spending_retries(tmp_path):
    dead = _dead_url()
    with FaultyServer() as alive:
        ep = _endpoint(f"{dead},{alive.url}", max_retries=0, max_concurrency=2)
        stats: dict = {}
        rows = run_chat_requests(_requests(10), ep, Ledger(tmp_path / "l.jsonl"), stats=stats)
    assert all(r["status"] == "ok" and r["attempts"] == 1 and r["endpoint"] == alive.url for r in rows)
    assert stats[dead]["ok"] == 0 and stats[dead]["errors"] == stats[dead]["sent"] >= 1
    assert stats[alive.url] == {"sent": 10, "ok": 10, "errors": 0}


def test_all_replicas_down_is_a_clear_error(tmp_path, caplog):
    d1, d2 = _dead_url(), _dead_url()
    ep = _endpoint(f"{d1},{d2}", max_retries=1)
    with pytest.raises(EndpointError, match="unreachable") as err:
        run_chat_requests(_requests(3), ep, Ledger(tmp_path / "l.jsonl"))
    assert d1 in str(err.value) and d2 in str(err.value)
    with pytest.raises(EndpointError, match="none of the 2 endpoint replicas answers"), endpoint_for(ep):
        pass
    with FaultyServer() as alive, endpoint_for(_endpoint(f"{d1},{alive.url}")) as live:
        assert live.endpoint_url == f"{d1},{alive.url}"
    assert f"cannot reach the endpoint replica {d1}" in caplog.text


def test_effective_params_map_names_drop_empties_and_send_thinking_only_to_chat():
    from compeff_hf.llm.client import effective_params

    ep = EndpointArgs(model="m", max_new_tokens=64, temperature=0.7, top_p=None, stop=["</s>"])
    chat = ChatRequest([{"role": "user", "content": "x"}])
    assert effective_params(chat, ep) == {"max_tokens": 64, "temperature": 0.7, "stop": ["</s>"]}
    over = ChatRequest(chat.messages, {"max_new_tokens": 8, "temperature": 0.0, "logprobs": False, "seed": 3})
    assert effective_params(over, ep) == {"max_tokens": 8, "temperature": 0.0, "stop": ["</s>"], "seed": 3}
    off = EndpointArgs(model="m", enable_thinking=False, stop=None, top_p=0.9)
    assert effective_params(chat, off)["chat_template_kwargs"] == {"enable_thinking": False}
    assert effective_params(chat, off)["top_p"] == 0.9 and "stop" not in effective_params(chat, off)
    on = EndpointArgs(model="m", enable_thinking=True)
    assert effective_params(chat, on)["chat_template_kwargs"] == {"enable_thinking": True}
    assert "chat_template_kwargs" not in effective_params(chat, EndpointArgs(model="m"))
    assert "chat_template_kwargs" not in effective_params(ChatRequest.of("raw text"), off)  # no template there
    assert request_id(chat, off) != request_id(chat, EndpointArgs(model="m")) != request_id(chat, on)


def test_strip_thinking():
    from compeff_hf.llm.client import strip_thinking

    assert strip_thinking("plain answer") == "plain answer"
    assert strip_thinking("  kept as is  ") == "  kept as is  "
    assert strip_thinking("<think>\nhmm\n</think>\n\nPositive.") == "Positive."
    assert strip_thinking("<think>a</think>One <think>b</think>Two") == "One Two"
    assert strip_thinking("<think>cut at the budget, never closed") == ""
    assert strip_thinking("reasoning opened by the template</think>\nNegative") == "Negative"
    assert strip_thinking("<think></think>Neutral") == "Neutral"
    assert strip_thinking("Intro <think>x</think> end") == "Intro end"  # text before a block stays
    assert strip_thinking("r1</think>A <think>r2</think>B") == "A B"  # opened in the prompt, then a 2nd block


def test_classify_failures():
    import httpx
    from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

    from compeff_hf.llm.client import _classify

    def http(status: int, body: str = "nope", headers: dict | None = None) -> HfHubHTTPError:
        request = httpx.Request("POST", "http://x/v1/chat/completions")
        response = httpx.Response(status, text=body, headers=headers or {}, request=request)
        return HfHubHTTPError("boom", response=response)

    t = _classify(InferenceTimeoutError("slow"))
    assert t.retryable and not t.unreachable and t.error.startswith("timeout:")
    assert _classify(TimeoutError()).retryable
    for status in (408, 409, 425, 429, 500, 502, 503, 504):
        assert _classify(http(status)).retryable, status
    for status in (400, 401, 403, 404, 422, 501):
        assert not _classify(http(status)).retryable, status
    f = _classify(http(503, "line1\nline2" + "x" * 400, {"Retry-After": "4"}))
    assert f.retry_after == 4.0 and f.error.startswith("HTTP 503: line1 line2") and len(f.error) <= 310
    assert _classify(http(500, "", {"Retry-After": "4"})).retry_after is None  # only 429/503 carry it
    assert _classify(http(500, "")).error == "HTTP 500: boom"  # no body: the exception's own message
    assert _classify(ValueError("x" * 400)).error == "ValueError: " + "x" * 300
    assert _classify(http(429, "", {"Retry-After": "2"})).retry_after == 2.0
    c = _classify(httpx.ConnectError("refused"))
    assert c.retryable and c.unreachable and c.error == "ConnectError: refused"
    assert _classify(ConnectionRefusedError("no")).unreachable
    other = _classify(ValueError("malformed response"))
    assert other.retryable and not other.unreachable and other.error == "ValueError: malformed response"


def test_backoff_doubles_jitters_and_caps(monkeypatch):
    from compeff_hf.llm import client

    monkeypatch.setattr(client.random, "random", lambda: 1.0)
    assert [client._backoff(a, 1.0) for a in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert client._backoff(20, 1.0) == 60.0
    monkeypatch.setattr(client.random, "random", lambda: 0.0)
    assert client._backoff(2, 1.0) == 1.0  # half of 2 s at the low end of the jitter


def test_concurrency_is_bounded_and_one_worker_per_request_at_most(tmp_path):
    with FaultyServer(Schedule(delay_s=0.02)) as server:
        rows = run_chat_requests(_requests(24), _endpoint(server.url, max_concurrency=3), Ledger(tmp_path / "a"))
        assert server.peak_in_flight <= 3 and all(r["status"] == "ok" for r in rows)


def test_chat_request_forms():
    raw = ChatRequest.of("Text: x\nAttributes:", {"max_new_tokens": 4}, meta={"k": 1})
    assert raw.prompt == "Text: x\nAttributes:" and raw.messages == [] and raw.meta == {"k": 1}
    chat = ChatRequest.of([{"role": "user", "content": "x"}])
    assert chat.prompt is None and chat.params == {} and chat.messages == [{"role": "user", "content": "x"}]
    full = ChatRequest.of([{"role": "user", "content": "x"}], {"temperature": 0.0}, meta={"row": 3})
    assert full.params == {"temperature": 0.0} and full.meta == {"row": 3}
    with pytest.raises(
        ValueError, match=r"^a ChatRequest holds either chat messages or a raw prompt, not both or neither$"
    ):
        ChatRequest(messages=[])


def test_failed_rows_and_messages(tmp_path):
    with FaultyServer(Schedule(fault_rate=1.0, kinds=("400",))) as server:
        rows = run_chat_requests(_requests(1), _endpoint(server.url), Ledger(tmp_path / "l"))
    row = rows[0]
    assert row["status"] == "failed" and row["output"] is None and row["finish_reason"] is None
    assert row["error"].startswith("HTTP 400:") and row["attempts"] == 1 and row["meta"] == {"row": 0}
    assert row["endpoint"] == server.url and isinstance(row["latency_s"], float)
    assert 0 <= row["latency_s"] < 60 and row["latency_s"] == round(row["latency_s"], 4)


def test_ok_rows_carry_usage_and_finish_reason(tmp_path):
    req = [ChatRequest([{"role": "user", "content": "two words [long]"}], meta={"row": 0})]
    with FaultyServer() as server:
        row = run_chat_requests(req, _endpoint(server.url), Ledger(tmp_path / "l"))[0]
    assert row["output"] == "echo: two words [long]" and row["finish_reason"] == "length"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (3, 4) and row["error"] is None
    assert isinstance(row["latency_s"], float) and 0 <= row["latency_s"] < 60
    assert row["latency_s"] == round(row["latency_s"], 4)


def test_failure_budget_message_names_the_counts(tmp_path):
    with FaultyServer(Schedule(fault_rate=1.0, kinds=("400",))) as server:
        ep = _endpoint(server.url, max_failure_rate=0.5, max_concurrency=1)
        ledger = Ledger(tmp_path / "l")
        with pytest.raises(EndpointError) as err:
            run_chat_requests(_requests(30), ep, ledger, desc="teacher")
    message = str(err.value)
    assert message.startswith(f"teacher: stopped: 20 of 20 requests to {server.url} failed, more than the failure")
    assert "max_failure_rate=0.5" in message
    assert "The 0 finished rows are kept in" in message and len(ledger) == 20  # judged once 20 finished


def test_run_from_inside_an_event_loop(tmp_path):
    import asyncio

    async def inside() -> list[dict]:
        with FaultyServer() as server:
            return run_chat_requests(_requests(2), _endpoint(server.url), Ledger(tmp_path / "l"))

    rows = asyncio.run(inside())  # a notebook's running loop: the client runs in a helper thread
    assert [r["output"] for r in rows] == ["echo: review 0", "echo: review 1"]


def test_raw_completions_through_tgi_generate(tmp_path):
    greedy = {"max_new_tokens": 8, "temperature": 0.0}
    reqs = [
        ChatRequest.of("The food was", greedy, meta={"row": 0}),
        ChatRequest.of("The food was", {**greedy, "stop": [" food"]}, meta={"row": 1}),
        ChatRequest.of("Cut [long]", {"max_new_tokens": 8, "temperature": 0.7, "top_p": 0.9}, meta={"row": 2}),
    ]
    with FaultyServer() as server:
        rows = run_chat_requests(reqs, _endpoint(server.url), Ledger(tmp_path / "l"))
        sent = [e["body"]["parameters"] for e in server.log.entries]
    plain, cut, long = rows
    assert (plain["output"], plain["finish_reason"], plain["completion_tokens"]) == ("echo: The food was", "stop", 4)
    assert (cut["output"], cut["finish_reason"]) == ("echo: The", "stop")  # TGI's kept stop string removed
    assert (long["output"], long["finish_reason"]) == ("echo: Cut [long]", "length")
    by_prompt = {json.dumps(p.get("stop")): p for p in sent}
    assert by_prompt["null"]["max_new_tokens"] == 8
    greedy_sent = next(p for p in sent if p.get("do_sample") is False and not p.get("stop"))
    assert greedy_sent.get("temperature") is None and greedy_sent.get("top_p") is None
    sampled = next(p for p in sent if p.get("do_sample"))
    assert sampled["temperature"] == 0.7 and sampled["top_p"] == 0.9
    assert all(r["prompt_tokens"] is None and r["status"] == "ok" for r in rows)


def test_wait_healthy_and_check_reachable(tmp_path):
    import subprocess
    import sys

    from compeff_hf.llm.client import check_reachable, free_port, wait_healthy

    with FaultyServer() as server:
        wait_healthy(server.url, None, timeout=30)
        check_reachable(server.url)
    log = tmp_path / "server.log"
    log.write_text("Traceback: the model failed to load\n")
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(EndpointError, match=r"exited with code 3 while starting:\nTraceback: the model failed"):
        wait_healthy(_dead_url(), proc, timeout=30, log_path=log)
    with pytest.raises(EndpointError, match=r"exited with code 3 while starting:\n$"):
        wait_healthy(_dead_url(), proc, timeout=30, log_path=None)  # no log to show
    with pytest.raises(EndpointError, match="was not healthy after 0 s"):
        wait_healthy(_dead_url(), None, timeout=0.3, log_path=log)
    with pytest.raises(
        EndpointError, match=r"^cannot reach the endpoint .* or leave endpoint_url empty to use the embedded server\.$"
    ):
        check_reachable(_dead_url(), timeout=2)
    assert 1024 < free_port() < 65536  # an ephemeral port the OS handed out


def test_raw_completion_parameters_and_malformed_answers(tmp_path):
    reqs = [
        ChatRequest.of("seeded", {"temperature": 0.5, "top_p": 1.0, "seed": 5}),
        ChatRequest.of("greedy", {"temperature": 0.0, "top_p": 0.5}),
        ChatRequest.of("zero top_p", {"temperature": 0.5, "top_p": 0.0}),
        ChatRequest.of("ends [stop-token]", {"stop": ["</s>"]}),
        ChatRequest.of("broken [null]", {}),
    ]
    with FaultyServer() as server:
        rows = run_chat_requests(
            reqs, _endpoint(server.url, max_retries=0, max_failure_rate=1.0), Ledger(tmp_path / "l")
        )
        sent = {e["body"]["inputs"]: e["body"]["parameters"] for e in server.log.entries}
    assert sent["seeded"]["seed"] == 5 and sent["seeded"].get("top_p") is None  # top_p 1.0 is no nucleus
    assert sent["seeded"]["do_sample"] is True and sent["seeded"]["temperature"] == 0.5
    assert sent["greedy"].get("top_p") is None and sent["greedy"]["do_sample"] is False  # greedy: no top_p
    assert sent["zero top_p"].get("top_p") is None and sent["greedy"].get("seed") is None
    assert rows[3]["output"] == "echo: ends [stop-token]" and rows[3]["finish_reason"] == "stop"  # nothing cut
    assert rows[4]["status"] == "failed" and rows[4]["error"] == "ValueError: malformed response: no generated_text"


def test_logprobs_are_kept_per_token_when_asked(tmp_path):
    asked = {"logprobs": True, "top_logprobs": 2}
    reqs = [
        ChatRequest([{"role": "user", "content": "good"}], asked),
        ChatRequest([{"role": "user", "content": "none [no-logprobs]"}], asked),
        ChatRequest([{"role": "user", "content": "plain"}]),
    ]
    with FaultyServer() as server:
        rows = run_chat_requests(reqs, _endpoint(server.url), Ledger(tmp_path / "l"))
        bodies = [e["body"] for e in server.log.entries]
    assert rows[0]["logprobs"] == [
        {"token": "echo:", "logprob": 0.0, "top_logprobs": [{"token": "echo:0", "logprob": 0}, {"token": "echo:1", "logprob": -1}]},
        {"token": "good", "logprob": -0.5, "top_logprobs": [{"token": "good0", "logprob": 0}, {"token": "good1", "logprob": -1}]},
    ]  # fmt: skip
    assert rows[1]["logprobs"] is None and "logprobs" not in rows[2]
    assert sum(b.get("logprobs") is True and b.get("top_logprobs") == 2 for b in bodies) == 2


def test_a_junk_retry_after_falls_back_to_backoff(tmp_path, waits):
    with FaultyServer(Schedule(fault_rate=1.0, kinds=("503",), retry_after="soon-ish")) as server:
        ep = _endpoint(server.url, max_retries=1, retry_backoff_s=0.5, max_failure_rate=1.0)
        rows = run_chat_requests(_requests(1), ep, Ledger(tmp_path / "l.jsonl"))
    assert rows[0]["status"] == "failed" and "HTTP 503" in rows[0]["error"] and rows[0]["attempts"] == 2
    assert len(waits) == 1 and 0.25 <= waits[0] <= 0.5  # the backoff, since the header says nothing usable


def test_null_content_is_a_malformed_answer_and_the_run_is_logged(tmp_path, caplog):
    import logging

    reqs = [ChatRequest([{"role": "user", "content": c}]) for c in ("a b c", "[null]", "d")]
    with FaultyServer() as server, caplog.at_level(logging.INFO, logger="compeff_hf.llm.client"):
        rows = run_chat_requests(
            reqs, _endpoint(server.url, max_retries=0, max_failure_rate=1.0), Ledger(tmp_path / "l")
        )
    assert rows[1]["status"] == "failed"
    assert rows[1]["error"] == "ValueError: malformed response: the choice has no message content"
    assert "requests: 3 sent, 2 ok, 1 failed (0 already done)" in caplog.text
    assert caplog.text.rstrip().endswith(", 6 completion tokens")  # "echo: a b c" and "echo: d": 4 + 2 words


def test_least_outstanding_sends_more_to_the_faster_replica(tmp_path):
    with FaultyServer(Schedule(delay_s=0.3)) as slow, FaultyServer() as fast:
        ep = _endpoint(f"{slow.url},{fast.url}", max_concurrency=4)
        run_chat_requests(_requests(40), ep, Ledger(tmp_path / "l"))
        n_slow, n_fast = len(slow.log.entries), len(fast.log.entries)
    assert n_slow + n_fast == 40 and n_fast > n_slow  # round robin would give 20 each


def test_request_ids_are_pinned_across_versions():
    # A changed id re-sends every finished request of a resumed run: ids must not move between releases.
    ep = EndpointArgs(model="m")
    assert request_id(ChatRequest([{"role": "user", "content": "hi"}]), ep) == "f8e6869510cea25a"
    assert request_id(ChatRequest.of("hi"), ep) == "4278463e9b3be268"


def test_no_endpoint_url_is_a_clear_error(tmp_path):
    with pytest.raises(
        EndpointError, match=r"^run_chat_requests needs endpoint.endpoint_url; wrap the call in endpoint_for"
    ):
        run_chat_requests(_requests(1), EndpointArgs(model="m"), Ledger(tmp_path / "l"))


def test_an_answer_slower_than_the_timeout_fails_as_a_timeout(tmp_path):
    with FaultyServer(Schedule(fault_rate=1.0, kinds=("slow",))) as server:  # hangs until the server stops
        ep = _endpoint(server.url, request_timeout_s=0.5, max_retries=0, max_failure_rate=1.0)
        row = run_chat_requests(_requests(1), ep, Ledger(tmp_path / "l"))[0]
    assert row["status"] == "failed" and row["error"].startswith("timeout:")


def test_in_flight_counts_return_to_zero_after_concurrent_sends(tmp_path):
    import asyncio

    from huggingface_hub import AsyncInferenceClient

    from compeff_hf.llm import client

    async def go(url: str) -> client._Replica:
        run = client._Run([], _endpoint(url), ledger=None, bar=None)
        replica = client._Replica(url, AsyncInferenceClient(base_url=url))
        run.replicas = [replica]
        rows = await asyncio.gather(*(run._send(f"id{i}", r) for i, r in enumerate(_requests(3))))
        assert [row["status"] for row, _ in rows] == ["ok"] * 3
        return replica

    with FaultyServer(Schedule(delay_s=0.3)) as server:
        replica = asyncio.run(go(server.url))
        assert server.peak_in_flight >= 2  # they overlapped
    assert (replica.outstanding, replica.sent, replica.ok, replica.errors) == (0, 3, 3, 0)


def test_run_coroutine_reraises_from_the_helper_thread():
    import asyncio

    from compeff_hf.llm.client import _run_coroutine

    async def boom() -> None:
        raise RuntimeError("inside")

    async def value() -> int:
        return 7

    async def inside_a_loop() -> int:
        with pytest.raises(RuntimeError, match="inside"):
            _run_coroutine(boom())
        return _run_coroutine(value())

    assert asyncio.run(inside_a_loop()) == 7
    assert _run_coroutine(value()) == 7
