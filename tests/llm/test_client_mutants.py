"""Client details that mutation testing (`make mutation`) showed no test pinned: request construction, the
effective parameters and ids, error classification (Retry-After on 429 and 503), backoff bounds, result rows and
logprobs. The request loop itself is exercised against real servers in test_llm_client.py / test_llm_faults.py."""

from __future__ import annotations

import asyncio
import email.utils
import time
from types import SimpleNamespace

import httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

from compeff_hf.llm import client
from compeff_hf.llm.client import ChatRequest, effective_params, request_id
from compeff_hf.llm.config import EndpointArgs

MESSAGES = [{"role": "user", "content": "hi"}]


def test_a_request_is_chat_or_raw_never_both():
    with pytest.raises(ValueError, match="either chat messages or a raw prompt"):
        ChatRequest(MESSAGES, prompt="x")
    with pytest.raises(ValueError, match="either chat messages or a raw prompt"):
        ChatRequest([])
    raw = ChatRequest.of("Input: x\nOutput:", {"seed": 1}, meta={"row": 3})
    assert (raw.messages, raw.prompt, raw.params, raw.meta) == ([], "Input: x\nOutput:", {"seed": 1}, {"row": 3})
    chat = ChatRequest.of(tuple(MESSAGES))
    assert chat.messages == MESSAGES and chat.prompt is None and chat.params == {}


def test_effective_params_endpoint_defaults_and_overrides():
    ep = EndpointArgs(model="m", max_new_tokens=64, temperature=0.7, top_p=0.9, stop=["###"])
    assert effective_params(ChatRequest(MESSAGES), ep) == {"max_tokens": 64, "temperature": 0.7, "top_p": 0.9, "stop": ["###"]}  # fmt: skip
    req = ChatRequest(MESSAGES, params={"max_new_tokens": 8, "temperature": 0, "logprobs": False, "seed": 3})
    # 0 is a real value (greedy); None and False mean "not sent"
    assert effective_params(req, ep) == {"max_tokens": 8, "temperature": 0, "top_p": 0.9, "stop": ["###"], "seed": 3}
    plain = EndpointArgs(model="m", top_p=None, stop=None)
    assert "top_p" not in effective_params(ChatRequest(MESSAGES), plain)
    assert "stop" not in effective_params(ChatRequest(MESSAGES), plain)
    with pytest.raises(ValueError, match="unknown generation parameter 'beam'"):
        effective_params(ChatRequest(MESSAGES, params={"beam": 2}), ep)


def test_request_ids_separate_chat_and_raw_and_models():
    ep = EndpointArgs(model="m")
    chat, raw = ChatRequest(MESSAGES), ChatRequest([], prompt="hi")
    assert request_id(chat, ep) != request_id(raw, ep)
    assert request_id(raw, ep) != request_id(raw, EndpointArgs(model="other"))
    assert request_id(raw, ep) == request_id(ChatRequest([], prompt="hi"), EndpointArgs(model="m"))
    assert request_id(raw, ep) != request_id(ChatRequest([], prompt="hi", params={"seed": 1}), ep)


def _http_error(status: int, headers: dict | None = None, body: str = "busy") -> HfHubHTTPError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, headers=headers or {}, text=body, request=request)
    return HfHubHTTPError(f"{status} error", response=response)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_read_on_429_and_503(status):
    failure = client._classify(_http_error(status, {"Retry-After": "7"}))
    assert failure.retryable and failure.retry_after == 7.0 and failure.error == f"HTTP {status}: busy"


def test_retry_after_ignored_elsewhere_and_client_errors_not_retried():
    assert client._classify(_http_error(500, {"Retry-After": "7"})).retry_after is None
    bad = client._classify(_http_error(400, body="bad\nrequest"))
    assert not bad.retryable and bad.error == "HTTP 400: bad request" and not bad.unreachable
    for status in (408, 409, 425, 429, 500, 502, 503, 504):
        assert client._classify(_http_error(status)).retryable, status
    assert client._classify(_http_error(500, body="")).error.startswith("HTTP 500: 500 error")


def test_retry_after_forms():
    assert client._retry_after({"retry-after": "2.5"}) == 2.5
    assert client._retry_after({"retry-after": "-3"}) == 0.0
    assert client._retry_after({}) is None and client._retry_after(None) is None
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 20 < client._retry_after({"retry-after": date}) <= 30


@pytest.mark.parametrize("err", [InferenceTimeoutError("slow"), asyncio.TimeoutError(), TimeoutError("t")])
def test_timeouts_are_retryable(err):
    failure = client._classify(err)
    assert failure.retryable and failure.error.startswith("timeout: ") and not failure.unreachable


def test_connection_errors_mark_the_endpoint_unreachable():
    failure = client._classify(httpx.ConnectError("refused"))
    assert failure.retryable and failure.unreachable and failure.error == "ConnectError: refused"
    failure = client._classify(ConnectionResetError("reset"))
    assert failure.unreachable
    other = client._classify(ValueError("x" * 500))
    assert other.retryable and not other.unreachable and other.error == "ValueError: " + "x" * 300


def test_backoff_doubles_within_bounds(monkeypatch):
    monkeypatch.setattr(client.random, "random", lambda: 1.0)
    assert [client._backoff(a, 1.0) for a in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert client._backoff(20, 1.0) == client._MAX_RETRY_WAIT_S
    monkeypatch.setattr(client.random, "random", lambda: 0.0)
    assert client._backoff(2, 1.0) == 1.0  # jitter: half to all of the step


def test_api_token_read_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("MY_KEY", "secret-value")
    assert client._api_token(EndpointArgs(model="m", api_key_env="MY_KEY")) == "secret-value"
    monkeypatch.setenv("MY_KEY", "")
    assert client._api_token(EndpointArgs(model="m", api_key_env="MY_KEY")) is None
    assert client._api_token(EndpointArgs(model="m", api_key_env="")) is None


def test_result_row_defaults():
    row = client._result_row("r1", ChatRequest(MESSAGES, meta={"k": 1}), status="ok", output="yes")
    assert row == {
        "id": "r1", "status": "ok", "output": "yes", "error": None, "finish_reason": None, "latency_s": None,
        "prompt_tokens": None, "completion_tokens": None, "attempts": 0, "meta": {"k": 1}, "endpoint": None,
    }  # fmt: skip


def test_logprobs_rows():
    top = [SimpleNamespace(token="a", logprob=-0.1), SimpleNamespace(token="b", logprob=-2.0)]
    content = [SimpleNamespace(token="a", logprob=-0.1, top_logprobs=top), SimpleNamespace(token="!", logprob=-1.5, top_logprobs=None)]  # fmt: skip
    choice = SimpleNamespace(logprobs=SimpleNamespace(content=content))
    assert client._logprobs(choice) == [
        {"token": "a", "logprob": -0.1, "top_logprobs": [{"token": "a", "logprob": -0.1}, {"token": "b", "logprob": -2.0}]},
        {"token": "!", "logprob": -1.5, "top_logprobs": []},
    ]  # fmt: skip
    assert client._logprobs(SimpleNamespace(logprobs=None)) is None
    assert client._logprobs(SimpleNamespace(logprobs=SimpleNamespace(content=[]))) is None


def _dead_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_check_any_reachable_passes_on_one_live_replica_and_names_every_dead_one(monkeypatch):
    from faulty_server import FaultyServer

    from compeff_hf.errors import EndpointError

    dead, other = _dead_url(), _dead_url()
    with FaultyServer() as server:
        assert client.check_any_reachable(f"{dead},{server.url}", timeout=2) is None  # a dead replica first is fine
        assert client.check_any_reachable(f"{server.url},{dead}", timeout=2) is None
    # one endpoint: its own message, with the advice how to fix it
    with pytest.raises(EndpointError, match=rf"^cannot reach the endpoint {dead} .*Start the server, fix"):
        client.check_any_reachable(dead, timeout=2)
    # several: one line naming each, without repeating the advice per replica
    with pytest.raises(EndpointError) as err:
        client.check_any_reachable(f"{dead}, {other}", timeout=2)
    text = str(err.value)
    assert text.startswith(f"none of the endpoints answers: cannot reach the endpoint {dead} (")
    assert f"; cannot reach the endpoint {other} (" in text and "Start the server" not in text
    # the timeout reaches every probe
    seen = []
    monkeypatch.setattr(client, "check_reachable", lambda url, timeout: seen.append((url, timeout)))
    client.check_any_reachable("http://a:1,http://b:2", timeout=7.5)
    assert seen == [("http://a:1", 7.5)]  # the first answering replica ends the check
    client.check_any_reachable("http://c:3")
    assert seen[-1] == ("http://c:3", 10.0)


def test_a_server_child_dies_with_its_parent_even_on_sigkill():
    """`embedded_server` starts its server with `_die_with_parent`: a stage killed with -9 leaves no server behind."""
    import os
    import signal
    import subprocess
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    import ctypes

    # Called here too (and undone), so that coverage and mutation tools see this test reach the function: the
    # calls that matter run in child processes, where they do not look.
    client._die_with_parent()
    ctypes.CDLL("libc.so.6").prctl(1, 0)
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "from compeff_hf.llm.client import _die_with_parent\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
            " preexec_fn=_die_with_parent)\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        # a dead child that is not yet reaped is a zombie: gone for our purpose
        try:
            with open(f"/proc/{child}/stat") as f:
                if f.read().split(") ")[1].startswith("Z"):
                    return
        except FileNotFoundError:
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the server child outlived its parent's SIGKILL")


def test_the_server_gets_the_endpoint_model_and_the_template_switches_only_when_set(tmp_path):
    """Thinking off reaches the server as `chat_template_kwargs` (Qwen3 teachers); without it nothing extra is sent."""
    from faulty_server import FaultyServer, Schedule

    from compeff_hf.stage import Ledger

    with FaultyServer(Schedule(think=True)) as server:
        for name, thinking in (("off", False), ("unset", None)):
            ep = EndpointArgs(endpoint_url=server.url, model="teacher-70b", max_retries=0, enable_thinking=thinking)
            reqs = [ChatRequest([{"role": "user", "content": name}])]
            rows = client.run_chat_requests(reqs, ep, Ledger(tmp_path / f"{name}.jsonl"))
            assert rows[0]["output"] == f"echo: {name}"  # no think block: turned off, or stripped
        bodies = {e["body"]["messages"][0]["content"]: e["body"] for e in server.log.entries}
    assert bodies["off"]["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in bodies["unset"]
    assert {b["model"] for b in bodies.values()} == {"teacher-70b"}


def test_an_empty_answer_fails_with_its_finish_reason(tmp_path):
    from faulty_server import FaultyServer

    from compeff_hf.stage import Ledger

    with pytest.raises(client.EmptyCompletion, match=r"^empty completion \(finish_reason=length\)$"):
        client._refuse_empty(" \n", "length")
    client._refuse_empty(" x ", "length")  # something in it: no error
    reqs = [
        ChatRequest([{"role": "user", "content": "[empty]"}]),
        ChatRequest.of("raw [empty] [long]", {"max_new_tokens": 4}),
    ]
    with FaultyServer() as server:
        ep = EndpointArgs(endpoint_url=server.url, model="m", max_retries=0, max_failure_rate=1.0)
        rows = client.run_chat_requests(reqs, ep, Ledger(tmp_path / "l.jsonl"))
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert "empty completion (finish_reason=stop)" in rows[0]["error"]
    assert "empty completion (finish_reason=length)" in rows[1]["error"]


def test_errors_are_scrubbed_of_the_endpoint_token_longest_secret_first(monkeypatch):
    """The endpoint's own token is masked even when its variable's name does not look secret, and a secret that
    contains another is masked whole (the shorter one first would leave the rest of the longer one readable)."""
    from compeff_hf.hub import redact

    monkeypatch.setattr(redact, "known_secrets", lambda: ["secretAB1"])
    monkeypatch.setenv("PLAIN_VARIABLE", "XsecretAB1-longer-credential")
    ep = EndpointArgs(model="m", api_key_env="PLAIN_VARIABLE")
    text = "401 for XsecretAB1-longer-credential and secretAB1"
    assert client._scrub(text, ep) == f"401 for {redact.REDACTED} and {redact.REDACTED}"


def test_retry_after_is_taken_as_given_down_to_zero(tmp_path, monkeypatch):
    from faulty_server import FaultyServer, Schedule

    from compeff_hf.stage import Ledger

    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(client, "_sleep", record)
    for given in ("0.05", "-3"):
        with FaultyServer(Schedule(fault_rate=1.0, kinds=("503",), retry_after=given)) as server:
            ep = EndpointArgs(endpoint_url=server.url, model="m", max_retries=1, max_failure_rate=1.0)
            client.run_chat_requests([ChatRequest(MESSAGES)], ep, Ledger(tmp_path / f"{given}.jsonl"))
    assert waits == [0.05, 0.0]  # a short wait stays short; a negative one is no wait


def test_an_answer_without_usage_is_still_an_answer(tmp_path):
    from faulty_server import FaultyServer

    from compeff_hf.stage import Ledger

    with FaultyServer() as server:
        ep = EndpointArgs(endpoint_url=server.url, model="m", max_retries=0)
        rows = client.run_chat_requests(
            [ChatRequest([{"role": "user", "content": "[no-usage]"}])], ep, Ledger(tmp_path / "l.jsonl")
        )
    assert rows[0]["status"] == "ok" and rows[0]["output"] == "echo: [no-usage]"
    assert rows[0]["prompt_tokens"] is None and rows[0]["completion_tokens"] is None


def test_the_failure_budget_names_every_replica_and_a_budget_of_one_never_stops(tmp_path):
    from faulty_server import FaultyServer, Schedule

    from compeff_hf.errors import EndpointError
    from compeff_hf.stage import Ledger

    reqs = [ChatRequest([{"role": "user", "content": f"r{i}"}]) for i in range(25)]
    with FaultyServer(Schedule(fault_rate=1.0, kinds=("400",))) as a, FaultyServer(Schedule(fault_rate=1.0, kinds=("400",))) as b:  # fmt: skip
        ep = EndpointArgs(endpoint_url=f"{a.url},{b.url}", model="m", max_retries=0, max_failure_rate=0.5)
        with pytest.raises(EndpointError, match=rf"requests to {a.url}, {b.url} failed, more than the failure budget"):
            client.run_chat_requests(reqs, ep, Ledger(tmp_path / "a.jsonl"))
        # every request may fail (1.0): the run finishes, all rows failed, nothing raised
        ep = EndpointArgs(endpoint_url=f"{a.url},{b.url}", model="m", max_retries=0, max_failure_rate=1.0)
        rows = client.run_chat_requests(reqs, ep, Ledger(tmp_path / "b.jsonl"))
    assert len(rows) == 25 and {r["status"] for r in rows} == {"failed"}


def test_stats_add_up_over_calls(tmp_path):
    from faulty_server import FaultyServer

    from compeff_hf.stage import Ledger

    stats: dict = {}
    with FaultyServer() as server:
        ep = EndpointArgs(endpoint_url=server.url, model="m", max_retries=0)
        for n, name in ((2, "a"), (3, "b")):
            reqs = [ChatRequest([{"role": "user", "content": f"{name}{i}"}]) for i in range(n)]
            client.run_chat_requests(reqs, ep, Ledger(tmp_path / f"{name}.jsonl"), stats=stats)
    assert stats == {server.url: {"sent": 5, "ok": 5, "errors": 0}}


def test_unreachable_names_the_error_and_a_failed_start_shows_the_exact_log_tail(tmp_path):
    import subprocess
    import sys

    from compeff_hf.errors import EndpointError

    with pytest.raises(EndpointError, match=r"\(ConnectError: "):
        client.check_reachable(_dead_url(), timeout=2)
    log = tmp_path / "server.log"
    body = "x" * 3500 + "the model failed to load"
    log.write_bytes(b"\xff\xfe not utf-8 \n" + body.encode())
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(EndpointError) as err:
        client.wait_healthy(_dead_url(), proc, timeout=30, log_path=log)
    assert str(err.value).split("while starting:\n", 1)[1] == body[-3000:]  # the last 3000 characters, no more


def test_a_retry_goes_to_the_other_of_two_replicas_even_when_it_is_busier(monkeypatch):
    a, b = (client._Replica(f"http://{x}:1", None) for x in "ab")
    run = client._Run([], EndpointArgs(model="m"), ledger=None, bar=None)
    run.replicas = [a, b]
    b.outstanding = 1
    assert run._pick(None) is a and run._pick(avoid=a) is b


def test_text_before_a_think_block_is_kept():
    assert client.strip_thinking("Answer: <think>hmm</think>positive<think>sure</think>") == "Answer: positive"


class _FakeReplicaClient:
    """Stands in for a replica's InferenceClient: refuses connections, or answers "fine"; logs who was called."""

    def __init__(self, name: str, calls: list[str], run: client._Run, refuse: bool | str):
        self.name, self.calls, self.run, self.refuse = name, calls, run, refuse

    async def chat_completion(self, **kwargs):
        self.calls.append(self.name)
        if len(self.calls) > 50:  # a mutant that fails over forever: stop it, the count says the rest
            self.run.abort = "runaway"
        if self.refuse == "error":
            raise RuntimeError("the replica broke mid-answer")  # retryable, but the replica is not down
        if self.refuse:
            raise ConnectionRefusedError("connection refused")
        message = SimpleNamespace(content="fine")
        return SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason="stop", logprobs=None)])


def _send_one(monkeypatch, refuse: dict[str, bool | str], max_retries: int, refusals: int = 0, busy: int = 0):
    """One request through `_Run._send` over fake replicas, with a clock that moves 100 s per reading (every
    paused replica is up again at the next look) and no real waiting."""
    clock = [1000.0]

    def tick() -> float:
        clock[0] += 100.0
        return clock[0]

    async def no_wait(seconds: float) -> None:
        pass

    monkeypatch.setattr(client.time, "monotonic", tick)
    monkeypatch.setattr(client, "_sleep", no_wait)
    run = client._Run([], EndpointArgs(model="m", max_retries=max_retries), ledger=None, bar=None)
    calls: list[str] = []
    run.replicas = [client._Replica(f"http://{n}:1", _FakeReplicaClient(n, calls, run, r)) for n, r in refuse.items()]
    for replica in run.replicas:
        replica.refusals = refusals
    run.replicas[-1].outstanding = busy  # requests of other rows in flight there
    row, failure = asyncio.run(run._send("id0", ChatRequest(MESSAGES)))
    return row, failure, calls, run.replicas


def test_refusing_replicas_fail_over_a_bounded_number_of_times(monkeypatch):
    # two replicas that refuse: failovers are free until 2 x (max_retries + 1) of them, then attempts count
    row, failure, calls, _ = _send_one(monkeypatch, {"a": True, "b": True}, max_retries=1)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert row["status"] == "failed" and row["attempts"] == 2 and failure.unreachable
    # one replica: nowhere to fail over to, so a refusal is an attempt like any other
    row, _, calls, _ = _send_one(monkeypatch, {"a": True}, max_retries=0)
    assert calls == ["a"] and row["attempts"] == 1


def test_an_answer_resets_the_replicas_refusal_streak(monkeypatch):
    row, failure, calls, (a,) = _send_one(monkeypatch, {"a": False}, max_retries=0, refusals=3)
    assert failure is None and row["output"] == "fine" and calls == ["a"]
    assert a.refusals == 0 and a.ok == 1


def test_all_replicas_unreachable_names_them_in_one_line(tmp_path):
    from compeff_hf.errors import EndpointError
    from compeff_hf.stage import Ledger

    d1, d2 = _dead_url(), _dead_url()
    ep = EndpointArgs(endpoint_url=f"{d1},{d2}", model="m", max_retries=0, request_timeout_s=5.0)
    with pytest.raises(EndpointError, match=rf"endpoint {d1}, {d2} is unreachable \(ConnectError"):
        client.run_chat_requests([ChatRequest(MESSAGES)], ep, Ledger(tmp_path / "l.jsonl"))


def test_a_retry_after_an_error_moves_to_the_other_replica_even_a_busier_one(monkeypatch):
    row, failure, calls, _ = _send_one(monkeypatch, {"a": "error", "b": False}, max_retries=1, busy=5)
    assert calls == ["a", "b"] and failure is None and row["attempts"] == 2
