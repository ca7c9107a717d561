"""The one way the pipeline talks to an LLM: chat completions against a TGI / OpenAI-compatible endpoint.

Built on ``huggingface_hub.AsyncInferenceClient`` (the maintained TGI client; its ``base_url`` mode speaks the
OpenAI-compatible Messages API that TGI, vLLM, SGLang and Inference Endpoints all serve). On top of it:

* a stable request id (hash of messages + model + effective generation parameters);
* bounded concurrency, per-attempt timeouts, retries with exponential backoff that honour ``Retry-After``;
* one ledger row per finished request, appended as it completes, so a killed run resumes without re-requesting a
  finished id and without duplicating a row;
* a failure budget that stops the run with a clear message when too many requests fail.

The API token is read from the environment variable named by ``EndpointArgs.api_key_env`` and handed to the HTTP
client only: it is never logged, stored in a row, or written to a config.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import row_id
from ..errors import EndpointError
from ..log import get_logger
from ..progress import progress
from ..stage import Ledger
from .config import EndpointArgs

logger = get_logger(__name__)

# Generation parameters a request may set, with the names the Messages API uses for them.
_PARAM_NAMES = {
    "max_new_tokens": "max_tokens",
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "stop": "stop",
    "seed": "seed",
    "logprobs": "logprobs",
    "top_logprobs": "top_logprobs",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "response_format": "response_format",
}
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_MIN_FINISHED_FOR_BUDGET = 20  # the failure rate is judged only once this many requests finished in this run
_MAX_RETRY_WAIT_S = 60.0
_sleep = asyncio.sleep  # the wait between attempts (tests record it instead of waiting)


@dataclass
class ChatRequest:
    """One request to send: OpenAI-style messages, per-request parameter overrides, caller metadata.

    With ``prompt`` set (and ``messages`` empty) it is a raw completion instead: the text goes to TGI's generate API
    (``InferenceClient.text_generation``) without a chat template, which is how a *base* model is prompted.
    """

    messages: list[dict]
    params: dict = field(default_factory=dict)  # max_new_tokens, temperature, top_p, stop, seed, logprobs, ...
    meta: dict = field(default_factory=dict)  # carried untouched into the result row (callers put row ids here)
    prompt: str | None = None

    def __post_init__(self) -> None:
        if (self.prompt is None) == (not self.messages):
            raise ValueError("a ChatRequest holds either chat messages or a raw prompt, not both or neither")

    @classmethod
    def of(cls, formatted: list[dict] | str, params: dict | None = None, **kwargs: Any) -> ChatRequest:
        """A chat request for a list of messages, a raw completion for a string."""
        if isinstance(formatted, str):
            return cls(messages=[], prompt=formatted, params=dict(params or {}), **kwargs)
        return cls(messages=list(formatted), params=dict(params or {}), **kwargs)


def effective_params(req: ChatRequest, endpoint: EndpointArgs) -> dict[str, Any]:
    """The Messages-API parameters a request is sent with: endpoint defaults overridden by ``req.params``."""
    params: dict[str, Any] = {
        "max_tokens": endpoint.max_new_tokens,
        "temperature": endpoint.temperature,
        "top_p": endpoint.top_p,
        "stop": list(endpoint.stop) if endpoint.stop else None,
    }
    for key, value in req.params.items():
        if key not in _PARAM_NAMES:
            raise ValueError(f"unknown generation parameter {key!r}; known: {sorted(_PARAM_NAMES)}")
        params[_PARAM_NAMES[key]] = value
    if endpoint.enable_thinking is not None and req.prompt is None:
        params["chat_template_kwargs"] = {"enable_thinking": bool(endpoint.enable_thinking)}
    return {k: v for k, v in params.items() if v is not None and v is not False}


_THINK = re.compile(r"<think>.*?(?:</think>|\Z)\s*", re.DOTALL)


def strip_thinking(text: str) -> str:
    """Remove ``<think>...</think>`` blocks (an unclosed one, cut by the token budget, runs to the end)."""
    if "<think>" not in text and "</think>" not in text:
        return text
    close, start = text.find("</think>"), text.find("<think>")
    if close != -1 and (start == -1 or close < start):  # the template opened the first block in the prompt
        text = text[close + len("</think>") :]
    return _THINK.sub("", text).strip()


def endpoint_urls(value: str | None) -> list[str]:
    """The replica URLs in an ``endpoint_url`` value: one URL, or several separated by commas or spaces."""
    return [u for u in re.split(r"[,\s]+", value or "") if u]


def display_url(url: str) -> str:
    """``url`` without credentials or query string, fit for logs, ledgers and summaries."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def request_id(req: ChatRequest, endpoint: EndpointArgs) -> str:
    """A stable id: the same messages (or prompt), model and effective parameters always give the same id."""
    if req.prompt is not None:
        return row_id("completion", endpoint.model, req.prompt, effective_params(req, endpoint))
    return row_id("chat", endpoint.model, req.messages, effective_params(req, endpoint))


async def _complete(client: Any, req: ChatRequest, params: dict[str, Any]) -> tuple[str, str | None, Any]:
    """A raw completion through TGI's generate API; returns (text, finish reason, completion tokens)."""
    temperature = params.get("temperature") or 0.0
    top_p = params.get("top_p")
    stop = list(params.get("stop") or [])
    out = await client.text_generation(
        req.prompt,
        details=True,
        max_new_tokens=params.get("max_tokens"),
        do_sample=temperature > 0,
        temperature=temperature if temperature > 0 else None,
        top_p=top_p if temperature > 0 and top_p is not None and 0 < top_p < 1 else None,
        stop=stop or None,
        seed=params.get("seed"),
    )
    text = out.generated_text
    if text is None:
        raise ValueError("malformed response: no generated_text")
    reason = getattr(out.details, "finish_reason", None)
    if reason == "stop_sequence":
        # TGI keeps the matched stop sequence at the end of generated_text; the Messages API does not: drop it.
        matched = next((seq for seq in stop if text.endswith(seq)), "")
        text = text[: len(text) - len(matched)]
    reason = {"eos_token": "stop", "stop_sequence": "stop"}.get(reason, reason)
    return text, reason, getattr(out.details, "generated_tokens", None)


# ------------------------------------------------------------------------------------------------ error handling


@dataclass
class _Failure:
    error: str
    retryable: bool
    retry_after: float | None = None
    unreachable: bool = False


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)  # the HTTP-date form
    except (TypeError, ValueError):
        return None  # unusable: the backoff decides (a junk header must not crash the error path)
    return max(0.0, parsed.timestamp() - time.time())


def _refuse_empty(content: str, finish_reason: Any) -> None:
    """An empty answer is no answer: retried like a transport error, then a failure with a reason."""
    if not content.strip():
        raise EmptyCompletion(f"empty completion (finish_reason={finish_reason})")


def _classify(err: BaseException) -> _Failure:
    """Turn any exception from one attempt into (message, retryable?, Retry-After)."""
    from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

    if isinstance(err, (InferenceTimeoutError, asyncio.TimeoutError, TimeoutError)):
        return _Failure(f"timeout: {err}", retryable=True)
    if isinstance(err, HfHubHTTPError) and getattr(err, "response", None) is not None:
        status = err.response.status_code
        body = (err.response.text or "")[:300].replace("\n", " ")
        return _Failure(
            f"HTTP {status}: {body or err}",
            retryable=status in _RETRY_STATUS,
            retry_after=_retry_after(err.response.headers) if status in (429, 503) else None,
        )
    name = type(err).__name__
    text = str(err)[:300]
    if "Connect" in name or isinstance(err, ConnectionError):
        return _Failure(f"{name}: {text}", retryable=True, unreachable=True)
    # Transport errors, dropped connections and malformed (non-JSON / incomplete) bodies: worth another try.
    return _Failure(f"{name}: {text}", retryable=True)


class EmptyCompletion(ValueError):
    """The endpoint answered with empty or whitespace-only text."""


def _scrub(text: str, endpoint: EndpointArgs) -> str:
    """An error as it may be stored: the API token (any length) and inline credentials masked."""
    from ..hub.redact import known_secrets, redact_text

    token = _api_token(endpoint)
    return redact_text(text, secrets=sorted({*known_secrets(), *([token] if token else [])}, key=len, reverse=True))


def _backoff(attempt: int, base: float) -> float:
    return min(_MAX_RETRY_WAIT_S, base * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)


# ------------------------------------------------------------------------------------------------------ the run


def _api_token(endpoint: EndpointArgs) -> str | None:
    # Read at send time and handed to the HTTP client only; never stored on the endpoint object or in a row.
    return os.environ.get(endpoint.api_key_env or "") or None


def _result_row(rid: str, req: ChatRequest, **values: Any) -> dict[str, Any]:
    row = {
        "id": rid,
        "status": "failed",
        "output": None,
        "error": None,
        "finish_reason": None,
        "latency_s": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "attempts": 0,
        "meta": req.meta,
        "endpoint": None,
    }
    row.update(values)
    return row


def _logprobs(choice: Any) -> list[dict[str, Any]] | None:
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    return [
        {
            "token": t.token,
            "logprob": t.logprob,
            "top_logprobs": [{"token": x.token, "logprob": x.logprob} for x in (t.top_logprobs or [])],
        }
        for t in content
    ]


class _Replica:
    """One endpoint URL: its client, requests in flight, and when it may be tried again after refusing."""

    def __init__(self, url: str, client: Any):
        self.name = display_url(url)
        self.client = client
        self.outstanding = 0
        self.down_until = 0.0
        self.refusals = 0  # consecutive connection failures: the pause before the next try doubles with them
        self.sent = self.ok = self.errors = 0

    def mark_down(self) -> None:
        self.refusals += 1
        self.down_until = time.monotonic() + min(_MAX_RETRY_WAIT_S, 0.5 * 2 ** (self.refusals - 1))

    def stats(self) -> dict[str, int]:
        return {"sent": self.sent, "ok": self.ok, "errors": self.errors}


class _Run:
    """One batch of requests in flight: workers, counters, the progress bar, the failure budget."""

    def __init__(self, todo: list[tuple[str, ChatRequest]], endpoint: EndpointArgs, ledger: Ledger, bar: Any):
        self.todo = todo
        self.endpoint = endpoint
        self.ledger = ledger
        self.bar = bar
        self.finished = self.failed = self.ok = 0
        self.tokens = 0
        self.started = time.perf_counter()
        self.abort: str | None = None
        self._last_flush = time.monotonic()
        self.replicas: list[_Replica] = []

    async def run(self) -> None:
        from huggingface_hub import AsyncInferenceClient

        ep = self.endpoint
        queue: asyncio.Queue = asyncio.Queue()
        for item in self.todo:
            queue.put_nowait(item)
        async with contextlib.AsyncExitStack() as stack:
            for url in endpoint_urls(ep.endpoint_url):
                client = AsyncInferenceClient(base_url=url, token=_api_token(ep), timeout=ep.request_timeout_s)
                self.replicas.append(_Replica(url, await stack.enter_async_context(client)))
            workers = [
                asyncio.create_task(self._worker(queue)) for _ in range(min(ep.max_concurrency, len(self.todo)))
            ]
            try:
                await asyncio.gather(*workers)
            finally:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                self.ledger.flush()

    def _pick(self, avoid: _Replica | None) -> _Replica:
        """The replica with the fewest requests in flight among those up (not ``avoid`` when another is up)."""
        now = time.monotonic()
        up = [r for r in self.replicas if r.down_until <= now]
        if avoid is not None and len(up) > 1:
            up = [r for r in up if r is not avoid]
        if not up:  # all refused lately: probe the one that may be tried again first
            return min(self.replicas, key=lambda r: r.down_until)
        return min(up, key=lambda r: (r.outstanding, r.sent))

    async def _worker(self, queue: asyncio.Queue) -> None:
        while self.abort is None:
            try:
                rid, req = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            row, failure = await self._send(rid, req)
            self._record(row, failure)  # also when the run is stopping: a finished answer is never thrown away

    async def _attempt(self, replica: _Replica, req: ChatRequest, params: dict[str, Any]) -> dict[str, Any]:
        """One try at one replica: the answer's fields, or an exception."""
        client = replica.client
        if req.prompt is not None:
            content, finish_reason, n_out = await _complete(client, req, params)
            _refuse_empty(content, finish_reason)
            return {"output": content, "finish_reason": finish_reason, "completion_tokens": n_out}
        api = dict(params)
        template_kwargs = api.pop("chat_template_kwargs", None)
        extra = {"extra_body": {"chat_template_kwargs": template_kwargs}} if template_kwargs else {}
        out = await client.chat_completion(messages=req.messages, model=self.endpoint.model, **api, **extra)
        choice = out.choices[0]
        content = choice.message.content
        if content is None:
            raise ValueError("malformed response: the choice has no message content")
        content = strip_thinking(content)
        _refuse_empty(content, choice.finish_reason)
        usage = getattr(out, "usage", None)
        values = {
            "output": content,
            "finish_reason": choice.finish_reason,
            "prompt_tokens": getattr(usage, "prompt_tokens", None),
            "completion_tokens": getattr(usage, "completion_tokens", None),
        }
        if params.get("logprobs"):
            values["logprobs"] = _logprobs(choice)
        return values

    async def _send(self, rid: str, req: ChatRequest) -> tuple[dict[str, Any], _Failure | None]:
        ep = self.endpoint
        params = effective_params(req, ep)
        attempt = failovers = 0
        replica: _Replica | None = None
        while True:
            attempt += 1
            replica = self._pick(avoid=replica)
            replica.outstanding += 1
            replica.sent += 1
            t0 = time.perf_counter()
            try:
                values = await self._attempt(replica, req, params)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                failure = _classify(err)
                failure.error = _scrub(failure.error, ep)
                replica.errors += 1
                if failure.unreachable:
                    replica.mark_down()
                    others_up = any(r.down_until <= time.monotonic() for r in self.replicas if r is not replica)
                    if others_up and failovers < len(self.replicas) * (ep.max_retries + 1) and self.abort is None:
                        failovers += 1  # a refusing replica is not the request's fault: move it, uncounted
                        attempt -= 1
                        continue
                if failure.retryable and attempt <= ep.max_retries and self.abort is None:
                    wait = _backoff(attempt, ep.retry_backoff_s)
                    if failure.retry_after is not None:
                        wait = min(_MAX_RETRY_WAIT_S, max(failure.retry_after, 0.0))
                    await _sleep(wait)
                    continue
                row = _result_row(
                    rid, req, error=failure.error, attempts=attempt, latency_s=round(time.perf_counter() - t0, 4),
                    endpoint=replica.name,
                )  # fmt: skip
                return row, failure
            finally:
                replica.outstanding -= 1
            replica.ok += 1
            replica.refusals = 0
            row = _result_row(
                rid, req, status="ok", latency_s=round(time.perf_counter() - t0, 4), attempts=attempt,
                endpoint=replica.name, **values,
            )  # fmt: skip
            return row, None

    def _record(self, row: dict[str, Any], failure: _Failure | None) -> None:
        self.ledger.append(row)
        self.finished += 1
        if failure is None:
            self.ok += 1
            self.tokens += row["completion_tokens"] or 0
        else:
            self.failed += 1
            logger.debug("request %s failed after %d attempts: %s", row["id"], row["attempts"], row["error"])
        now = time.monotonic()
        if now - self._last_flush > 0.5:  # fsync twice a second at most; the OS keeps the rest across SIGKILL
            self.ledger.flush()
            self._last_flush = now
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.bar.update(1)
        self.bar.set_postfix(
            failed=self.failed, req_s=f"{self.finished / elapsed:.2f}", tok_s=f"{self.tokens / elapsed:.1f}"
        )
        ep = self.endpoint
        if self.abort is not None:
            return
        if failure is not None and failure.unreachable and self.ok == 0:
            names = ", ".join(r.name for r in self.replicas)
            self.abort = f"endpoint {names} is unreachable ({failure.error})"
        elif self.finished >= _MIN_FINISHED_FOR_BUDGET and self.failed / self.finished > ep.max_failure_rate:
            self.abort = (
                f"{self.failed} of {self.finished} requests to {', '.join(r.name for r in self.replicas)} failed, more than the failure budget "
                f"max_failure_rate={ep.max_failure_rate}; last error: {row['error']}"
            )


def _run_coroutine(coro: Any) -> Any:
    """asyncio.run, also from inside a running event loop (notebooks): then in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run_chat_requests(
    requests: list[ChatRequest],
    endpoint: EndpointArgs,
    ledger: Ledger,
    *,
    desc: str = "requests",
    stats: dict[str, dict[str, int]] | None = None,
) -> list[dict]:
    """Send every request whose id is not already ``ok`` in ``ledger``; return result rows aligned with ``requests``.

    One row per finished request is appended to the ledger as it completes (``id``, ``status`` ok/failed,
    ``output``, ``error``, ``finish_reason``, ``latency_s``, ``prompt_tokens``, ``completion_tokens``, ``attempts``,
    ``meta``, ``endpoint``; ``logprobs`` when asked for). Requests that share an id are sent once and share one
    row. With several URLs in ``endpoint.endpoint_url`` each attempt goes to the replica with the fewest requests
    in flight; a replica that refuses connections is paused and its requests move to the others. ``stats``, when
    given, gets per-replica counts added: ``{url: {"sent", "ok", "errors"}}`` (attempts, answers, failed attempts).

    Raises:
        EndpointError: the endpoint is unreachable, or more than ``endpoint.max_failure_rate`` of the finished
            requests failed (after 20). Rows finished so far stay in the ledger; rerunning resumes.
    """
    if not endpoint.endpoint_url:
        raise EndpointError("run_chat_requests needs endpoint.endpoint_url; wrap the call in endpoint_for(endpoint)")
    ids = [request_id(r, endpoint) for r in requests]
    unique: dict[str, ChatRequest] = {}
    for rid, req in zip(ids, requests, strict=True):
        unique.setdefault(rid, req)
    todo = [(rid, req) for rid, req in unique.items() if ledger.status(rid) != "ok"]
    if todo:
        done = len(unique) - len(todo)
        with progress(total=len(unique), desc=desc, unit="req", initial=done) as bar:
            run = _Run(todo, endpoint, ledger, bar)
            try:
                _run_coroutine(run.run())
            finally:
                for replica in run.replicas if stats is not None else []:
                    counts = stats.setdefault(replica.name, {"sent": 0, "ok": 0, "errors": 0})
                    for key, value in replica.stats().items():
                        counts[key] += value
        logger.info(
            "%s: %d sent, %d ok, %d failed (%d already done) in %.1f s, %d completion tokens",
            desc, run.finished, run.ok, run.failed, done, time.perf_counter() - run.started, run.tokens,
        )  # fmt: skip
        if run.abort:
            raise EndpointError(
                f"{desc}: stopped: {run.abort}. The {len(ledger.done_ids('ok'))} finished rows are kept in "
                f"{ledger.path}; fix the endpoint and run again to resume."
            )
    return [ledger.get(rid) for rid in ids]


# ------------------------------------------------------------------------------------------------ endpoints


def check_reachable(url: str, timeout: float = 10.0) -> None:
    """Fail with a clear message when nothing answers at ``url`` (any HTTP answer counts as reachable)."""
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/health", timeout=timeout)
    except httpx.HTTPError as err:
        from ..hub.redact import redact_text

        raise EndpointError(
            redact_text(
                f"cannot reach the endpoint {url} ({type(err).__name__}: {err}). Start the server, fix "
                "--endpoint_url, or leave endpoint_url empty to use the embedded server."
            )
        ) from None


def check_any_reachable(endpoint_url: str, timeout: float = 10.0) -> None:
    """Fail with a clear message when none of the replicas in ``endpoint_url`` (comma-separated) answers."""
    errors = []
    for url in endpoint_urls(endpoint_url):
        try:
            return check_reachable(url, timeout)
        except EndpointError as err:
            errors.append(err)
    if len(errors) == 1:
        raise errors[0]
    raise EndpointError("none of the endpoints answers: " + "; ".join(str(e).split(". Start")[0] for e in errors))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen | None, timeout: float, log_path: Path | None = None) -> None:
    """Poll ``url/health`` until it answers 200; fail early (with the server log's tail) if ``proc`` exits."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path and log_path.exists() else ""
            raise EndpointError(f"the embedded server exited with code {proc.returncode} while starting:\n{tail}")
        try:
            if httpx.get(url + "/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise EndpointError(f"the server at {url} was not healthy after {timeout:.0f} s (log: {log_path})")


def _die_with_parent() -> None:
    """In the server child: get SIGTERM when the stage process dies, even by SIGKILL, so no server is orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@contextlib.contextmanager
def embedded_server(model: str, *, log_path: Path | None = None, timeout: float = 600.0, **options: Any):
    """Start ``compeff-hf serve`` for ``model`` on a free 127.0.0.1 port; yield its base URL; stop it on exit."""
    port = free_port()
    if log_path is None:
        log_path = Path(tempfile.mkstemp(prefix="compeff-hf-serve-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "compeff_hf.cli", "serve", "--model", model, "--port", str(port)]
    for key, value in options.items():
        cmd += [f"--{key}", str(value)]
    url = f"http://127.0.0.1:{port}"
    logger.info("starting the embedded server for %s at %s (log: %s)", model, url, log_path)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
    try:
        wait_healthy(url, proc, timeout, log_path)
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logger.info("embedded server stopped")


@contextlib.contextmanager
def endpoint_for(endpoint: EndpointArgs) -> Iterator[EndpointArgs]:
    """Yield an endpoint to send to: the given URL(s) (checked), or the embedded server started for ``endpoint.model``.

    With several URLs, those that do not answer now are named in a warning and the run starts on the others (the
    client keeps trying them); none answering is an error. The embedded server is stopped on exit, also on
    exceptions and Ctrl-C.
    """
    urls = endpoint_urls(endpoint.endpoint_url)
    if len(urls) == 1:
        check_reachable(urls[0])
    elif urls:
        down = []
        for url in urls:
            try:
                check_reachable(url)
            except EndpointError:
                down.append(f"cannot reach the endpoint replica {display_url(url)}")
        if len(down) == len(urls):
            raise EndpointError(f"none of the {len(urls)} endpoint replicas answers: {'; '.join(down)}")
        for message in down:
            logger.warning("%s; sending to the other replicas", message)
    if urls:
        yield endpoint
        return
    from ..models import resolve_model

    model_path = resolve_model(endpoint.model)
    with embedded_server(
        model_path, timeout=endpoint.server_startup_timeout_s, served_model_name=endpoint.model
    ) as url:
        yield dataclasses.replace(endpoint, endpoint_url=url)
