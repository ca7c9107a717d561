"""A real HTTP server on 127.0.0.1 that speaks the Messages API and misbehaves on a seeded schedule.

Each attempt at a request is answered, depending on a seeded draw keyed by (request content, attempt number), with:
a valid completion, HTTP 500, HTTP 429 or 503 with ``Retry-After``, a response slower than the client's timeout, or
a malformed body. The schedule depends only on the content and attempt, so a run is reproducible whatever the
order in which concurrent requests arrive. Completions are synthesised (the reply echoes the last user message), or,
with ``upstream``, forwarded to a real server (a fault-injecting proxy).

Every request is logged (content key, fault, headers) so tests can check what was sent and how often.

Run as a script (``python faulty_server.py --die_after N``) it serves in its own process, prints its URL, and dies
(``os._exit``, as a crashed replica) when request N+1 arrives, after finishing the N answers: a deterministic kill.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("ok", "400", "500", "429", "503", "slow", "malformed")


@dataclass
class Schedule:
    seed: int = 0
    fault_rate: float = 0.0  # probability that an attempt gets a fault instead of an answer
    kinds: tuple[str, ...] = ("500", "429", "503", "slow", "malformed")
    retry_after: str = "0.05"
    slow_s: float = 60.0  # how long a "slow" answer hangs (until the server stops; far past the client's timeout)
    delay_s: float = 0.0  # latency of every good answer
    think: bool = False  # answers start with a <think> block unless chat_template_kwargs.enable_thinking is false
    long_marker: str = "[long]"  # a message holding it is answered as cut at the token budget (finish "length")

    def fault(self, key: str, attempt: int) -> str:
        if self.fault_rate <= 0:
            return "ok"
        rng = random.Random(f"{self.seed}:{key}:{attempt}")
        return rng.choice(self.kinds) if rng.random() < self.fault_rate else "ok"


def content_key(messages: Any) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RequestLog:
    entries: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **entry: Any) -> None:
        with self.lock:
            entry["t"] = time.monotonic()
            self.entries.append(entry)

    def keys(self, fault: str | None = None) -> Counter:
        with self.lock:
            return Counter(e["key"] for e in self.entries if fault is None or e["fault"] == fault)


class FaultyServer:
    """``with FaultyServer(Schedule(...)) as server: server.url``; ``server.schedule`` may be changed between runs."""

    def __init__(self, schedule: Schedule | None = None, upstream: str | None = None, die_after: int | None = None):
        self.schedule = schedule or Schedule()
        self.upstream = upstream
        self.die_after = die_after  # answers given before the process exits (script mode only)
        self.hold_after: int | None = None  # answers given before later requests hang (unanswered) until shutdown
        self.held = 0  # requests hanging because of hold_after
        self._answering = 0
        self._answered = 0
        self.peak_in_flight = 0  # most requests the server held at once
        self._idle = threading.Condition()
        self._closing = threading.Event()
        self.log = RequestLog()
        self._attempts: Counter = Counter()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset_log(self) -> None:
        self.log = RequestLog()

    def _next_attempt(self, key: str) -> int:
        with self._lock:
            self._attempts[key] += 1
            return self._attempts[key]

    def _may_answer(self) -> bool:
        """False once ``die_after`` answers were given, after waiting for the ones still being written."""
        with self._idle:
            if self.hold_after is not None and self._answered >= self.hold_after:
                self._answering += 1
                self.held += 1
                self._idle.release()
                try:
                    self._closing.wait()  # held: never answered, never logged
                finally:
                    self._idle.acquire()
                return True
            if self.die_after is None or self._answered < self.die_after:
                self._answered += 1
                self._answering += 1
                self.peak_in_flight = max(self.peak_in_flight, self._answering)
                return True
            while self._answering:
                self._idle.wait()
            return False

    def _done_answering(self) -> None:
        with self._idle:
            self._answering -= 1
            self._idle.notify_all()

    def _generate(self, body: dict, list_form: bool) -> Any:
        """TGI's generate API (what ``InferenceClient.text_generation`` posts to ``/``): the matched stop string
        stays at the end of ``generated_text``, as TGI does."""
        prompt = body["inputs"]
        text, reason = f"echo: {prompt}", "eos_token"
        if self.schedule.long_marker in prompt:
            reason = "length"
        for stop in body.get("parameters", {}).get("stop") or []:
            if stop in text:
                text, reason = text[: text.index(stop) + len(stop)], "stop_sequence"
                break
        if "[stop-token]" in prompt:  # a stop reported without its text (TGI does so for a stop token)
            reason = "stop_sequence"
        if "[null]" in prompt:
            text = None
        if "[empty]" in prompt:  # an answer with nothing in it (a model that stops at once)
            text = " "
        n_tokens = len(text.split()) if text else 0
        details = {"finish_reason": reason, "generated_tokens": n_tokens, "seed": None, "prefill": []}
        details["tokens"] = []
        out = {"generated_text": text, "details": details}
        return [out] if list_form else out

    def _answer(self, body: dict) -> dict:
        if self.upstream:
            import httpx

            return httpx.post(self.upstream + "/v1/chat/completions", json=body, timeout=300).json()
        last = body["messages"][-1]["content"]
        text = f"echo: {last}"
        finish = "length" if self.schedule.long_marker in last else "stop"
        logprobs = None
        if body.get("logprobs") and "[no-logprobs]" not in last:  # one entry per word, made-up numbers
            top = body.get("top_logprobs") or 0
            logprobs = {
                "content": [
                    {
                        "token": w,
                        "logprob": -0.5 * k,
                        "top_logprobs": [{"token": f"{w}{j}", "logprob": -j} for j in range(top)],
                    }
                    for k, w in enumerate(text.split())
                ]
            }
        thinking = (body.get("chat_template_kwargs") or {}).get("enable_thinking", True)
        if self.schedule.think and thinking:
            text = f"<think>\nThe user wants {last!r}; think it over.\n</think>\n\n{text}"
        return {
            "id": "chatcmpl-faulty",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "dummy"),
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None if "[null]" in last else " " if "[empty]" in last else text,
                    },
                    "finish_reason": finish,
                    "logprobs": logprobs,
                }
            ],
            # some OpenAI-compatible servers leave usage out
            **(
                {}
                if "[no-usage]" in last
                else {
                    "usage": {
                        "prompt_tokens": len(last.split()),
                        "completion_tokens": len(text.split()),
                        "total_tokens": 0,
                    }
                }
            ),
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                if self.path in ("/health", "/v1/models"):
                    self._send(200, b'{"object": "list", "data": []}')
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                if not server._may_answer():
                    os._exit(1)  # a replica crashing: every open connection is reset by the kernel
                try:
                    if server._closing.is_set():
                        return
                    self._post()
                finally:
                    server._done_answering()

            def _post(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                key = content_key(body.get("messages") or body.get("inputs"))
                attempt = server._next_attempt(key)
                sched = server.schedule
                fault = sched.fault(key, attempt)
                server.log.add(
                    key=key, attempt=attempt, fault=fault, auth=self.headers.get("Authorization"), body=body
                )
                try:
                    if fault == "400":
                        self._send(400, b'{"error": "bad request", "error_type": "validation"}')
                    elif fault == "500":
                        self._send(500, b'{"error": "injected failure", "error_type": "generation"}')
                    elif fault in ("429", "503"):
                        self._send(int(fault), b'{"error": "overloaded"}', {"Retry-After": sched.retry_after})
                    elif fault == "slow":
                        server._closing.wait(sched.slow_s)  # past any client timeout: hangs until shutdown
                        self._send(200, json.dumps(server._answer(body)).encode())
                    elif fault == "malformed":
                        self._send(200, b'{"choices": [{"message": ')
                    elif self.path in ("/", "/generate"):
                        self._send(200, json.dumps(server._generate(body, list_form=self.path == "/")).encode())
                    else:
                        if sched.delay_s:
                            time.sleep(sched.delay_s)
                        self._send(200, json.dumps(server._answer(body)).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): that is the point of "slow"

        return Handler


class KillingServer(FaultyServer):
    """Answers ``answer`` requests, then SIGKILLs ``victim`` (a pid) when the next one arrives and never answers it.

    Deterministic kill tests: the kill point is a request count, not a timer, so it cannot race a finishing run.
    Set ``victim`` and then ``ready`` right after starting the client; nothing is answered before that.
    """

    def __init__(self, answer: int, schedule: Schedule | None = None) -> None:
        super().__init__(schedule)
        self.answer = answer
        self.victim: int | None = None
        self.ready = threading.Event()
        self.answered: list[str] = []

    def _answer(self, body: dict) -> dict:
        import os
        import signal

        self.ready.wait(60)
        with self._lock:
            if len(self.answered) >= self.answer:
                if self.victim is not None:
                    os.kill(self.victim, signal.SIGKILL)
                    self.victim = None
                raise ConnectionResetError  # the handler drops the connection: never answered
            self.answered.append(content_key(body.get("messages")))
        return super()._answer(body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--die_after", type=int, default=None, help="exit when request N+1 arrives")
    args = parser.parse_args()
    server = FaultyServer(die_after=args.die_after)
    print(server.url, flush=True)
    server.httpd.serve_forever()
