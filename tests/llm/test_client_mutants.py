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
