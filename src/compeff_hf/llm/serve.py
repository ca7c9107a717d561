"""`compeff-hf serve`: the embedded TGI-compatible server (FastAPI + uvicorn around transformers).

It implements what ``huggingface_hub.InferenceClient`` and our client use, the way TGI answers it:

* ``POST /v1/chat/completions``: the Messages API (max_tokens, temperature, top_p, stop, seed, logprobs and
  top_logprobs, stream);
* ``POST /generate`` and ``POST /`` (``InferenceClient.text_generation`` posts to the root): TGI's generate API with
  ``details`` and ``top_n_tokens``; ``POST /generate_stream`` streams it;
* ``GET /info``, ``GET /health``, ``GET /v1/models``.

Concurrent requests are batched dynamically: a worker thread gathers the requests that arrive within
``batch_wait_ms`` (up to ``max_batch_size``) and runs them as one left-padded ``generate`` call, grouped by sampling
settings. Generation stops at the model's end-of-turn tokens (``generation_config.eos_token_id``, needed for base
models such as Gemma-3-270M that keep writing), at ``stop`` strings, and at each request's own token budget. Any
model name is accepted (``dummy`` is InferenceClient's default), as TGI does.
"""

import asyncio
import itertools
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..log import get_logger

logger = get_logger(__name__)


@dataclass
class ServeConfig:
    """Settings of the embedded server."""

    model: str = field(
        default="gemma-3-270m", metadata={"help": "Model to serve: Hub id, local folder, or gemma-3-270m."}
    )
    host: str = field(default="127.0.0.1", metadata={"help": "Interface to bind (keep it on loopback)."})
    port: int = field(default=0, metadata={"help": "Port (0 = a free port, printed at start-up)."})
    served_model_name: str | None = field(
        default=None, metadata={"help": "Name reported by /info and /v1/models (default: the model reference)."}
    )
    dtype: str = field(
        default="auto", metadata={"help": "Weights dtype: auto (as saved), bfloat16, float32, float16."}
    )
    device: str | None = field(default=None, metadata={"help": "cpu or cuda (default: cuda when available)."})
    max_batch_size: int = field(default=16, metadata={"help": "Most requests generated together in one batch."})
    batch_wait_ms: float = field(
        default=5.0, metadata={"help": "How long the batcher waits for more requests before generating."}
    )
    max_input_tokens: int = field(default=4096, metadata={"help": "Longer prompts are refused with HTTP 422."})
    max_new_tokens_limit: int = field(default=4096, metadata={"help": "Upper bound on a request's max_tokens."})


class ValidationError(ValueError):
    """A request the server refuses with HTTP 422 (TGI's validation error)."""


# ---------------------------------------------------------------------------------------------- generation


@dataclass
class GenParams:
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    do_sample: bool = True
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    top_n: int = 0  # alternatives to report per token (0 = none)
    logprobs: bool = False  # report the chosen tokens' log-probabilities


@dataclass
class GenResult:
    token_ids: list[int]
    text: str  # decoded, cut before a matched stop string
    finish_reason: str  # "length" | "eos_token" | "stop_sequence"
    stop_text: str | None  # the stop string that matched
    prompt_tokens: int
    logprobs: list[float] | None = None
    top: list[list[tuple[int, float]]] | None = None
    seed: int | None = None


@dataclass
class _Job:
    prompt_ids: list[int]
    params: GenParams
    done: Any  # callable(result | exception)


class Engine:
    """A transformers causal LM behind a dynamic batcher running in a worker thread."""

    def __init__(self, config: "ServeConfig"):
        import torch

        from ..models import default_device, load_causal_lm, load_tokenizer, resolve_model

        self.config = config
        self.model_ref = config.model
        self.path = resolve_model(config.model)
        self.device = config.device or default_device()
        self.tokenizer = load_tokenizer(self.path)
        self.model = load_causal_lm(self.path, dtype=config.dtype, device=self.device).eval()
        self.dtype = str(self.model.dtype).replace("torch.", "")
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        if self.tokenizer.eos_token_id is not None:
            eos.append(self.tokenizer.eos_token_id)
        self.eos_ids = sorted({int(e) for e in eos if e is not None})
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.eos_ids[0]
        self._torch = torch
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._loop, name="compeff-hf-batcher", daemon=True)
        self._worker.start()
        self.batches = 0
        self.batched_requests = 0
        self.largest_batch = 0

    # ------------------------------------------------------------------------------------------ prompts
    def chat_prompt(self, messages: list[dict], template_kwargs: dict | None = None) -> list[int]:
        if template_kwargs is not None and not isinstance(template_kwargs, dict):
            raise ValidationError("`chat_template_kwargs` must be an object")
        if not isinstance(messages, list) or not messages:
            raise ValidationError("`messages` must be a non-empty list of {role, content}")
        clean = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or "role" not in m:
                raise ValidationError(f"messages[{i}] must be an object with `role` and `content`")
            content = m.get("content")
            if isinstance(content, list):  # OpenAI content parts: keep the text ones
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            clean.append({"role": m["role"], "content": content or ""})
        if not self.tokenizer.chat_template:
            raise ValidationError(f"model {self.model_ref} has no chat template: use /generate with a raw prompt")
        # vLLM's chat_template_kwargs (e.g. enable_thinking=false for Qwen3) go to the template as variables.
        text = self.tokenizer.apply_chat_template(
            clean, tokenize=False, add_generation_prompt=True, **(template_kwargs or {})
        )
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def text_prompt(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise ValidationError("`inputs` must be a string")
        return self.tokenizer(text)["input_ids"]

    def check(self, prompt_ids: list[int], params: GenParams) -> None:
        if len(prompt_ids) > self.config.max_input_tokens:
            raise ValidationError(
                f"`inputs` must have less than {self.config.max_input_tokens} tokens. Given: {len(prompt_ids)}"
            )
        if params.max_new_tokens < 1 or params.max_new_tokens > self.config.max_new_tokens_limit:
            raise ValidationError(f"`max_new_tokens` must be in [1, {self.config.max_new_tokens_limit}]")
        if params.do_sample and params.temperature <= 0:
            raise ValidationError("`temperature` must be strictly positive when sampling")

    # ------------------------------------------------------------------------------------------ batching
    async def generate(self, prompt_ids: list[int], params: GenParams) -> GenResult:
        self.check(prompt_ids, params)
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def done(value: Any) -> None:
            def settle() -> None:
                if future.done():
                    return
                if isinstance(value, BaseException):
                    future.set_exception(value)
                else:
                    future.set_result(value)

            loop.call_soon_threadsafe(settle)

        self._queue.put(_Job(prompt_ids, params, done))
        return await future

    def close(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        wait = self.config.batch_wait_ms / 1000
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            jobs = [first]
            deadline = time.monotonic() + wait
            while len(jobs) < self.config.max_batch_size:
                left = deadline - time.monotonic()
                try:
                    jobs.append(self._queue.get(timeout=max(left, 0)) if left > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            groups: dict[Any, list[_Job]] = {}
            counter = itertools.count()
            for job in jobs:
                p = job.params
                # Only requests that sample alike share a batch; a seeded sample runs alone so it is reproducible.
                key = (p.do_sample, p.temperature, p.top_p, p.top_k) if p.do_sample else ("greedy",)
                if p.do_sample and p.seed is not None:
                    key = ("seeded", next(counter))
                groups.setdefault(key, []).append(job)
            for group in groups.values():
                try:
                    results = self._generate_batch(group)
                except Exception as err:
                    logger.exception("generation failed for a batch of %d", len(group))
                    for job in group:
                        job.done(err)
                    continue
                for job, result in zip(group, results, strict=True):
                    job.done(result)

    def _generate_batch(self, jobs: list[_Job]) -> list[GenResult]:
        torch = self._torch
        from transformers import (
            GenerationConfig,
            LogitsProcessorList,
            StoppingCriteriaList,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        params = [j.params for j in jobs]
        p0 = params[0]
        width = max(len(j.prompt_ids) for j in jobs)
        # Left padding: every row's last prompt token sits at the same position, as generate expects.
        input_ids = torch.full((len(jobs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(jobs), width), dtype=torch.long)
        for i, job in enumerate(jobs):
            n = len(job.prompt_ids)
            input_ids[i, width - n :] = torch.tensor(job.prompt_ids, dtype=torch.long)
            mask[i, width - n :] = 1
        max_new = max(p.max_new_tokens for p in params)
        want_logprobs = any(p.logprobs or p.top_n for p in params)
        top_n = max(p.top_n for p in params)
        recorder = _LogprobRecorder(width, top_n) if want_logprobs else None
        # Our recorder must see the raw logits, so sampling warpers are ours too, placed after it.
        processors = LogitsProcessorList([recorder] if recorder else [])
        if p0.do_sample:
            if p0.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(p0.temperature))
            if p0.top_k:
                processors.append(TopKLogitsWarper(p0.top_k))
            if p0.top_p < 1.0:
                processors.append(TopPLogitsWarper(p0.top_p))
        stopper = _RowStopper(width, [p.max_new_tokens for p in params], [p.stop for p in params], self.tokenizer)
        sampling = {"temperature": 1.0, "top_p": 1.0, "top_k": 0} if p0.do_sample else {}  # warpers are ours
        gen_config = GenerationConfig(
            max_new_tokens=max_new,
            do_sample=p0.do_sample,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            **sampling,
        )
        seed = p0.seed if p0.do_sample else None
        if p0.do_sample:
            seed = seed if seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item())
            torch.manual_seed(seed)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=mask.to(self.device),
                generation_config=gen_config,
                logits_processor=processors,
                stopping_criteria=StoppingCriteriaList([stopper]),
            )
        self.batches += 1
        self.batched_requests += len(jobs)
        self.largest_batch = max(self.largest_batch, len(jobs))
        sequences = out[:, width:].tolist()
        if recorder is not None:
            recorder.finish(out)
        results = []
        for i, (job, p) in enumerate(zip(jobs, params, strict=True)):
            ids = sequences[i][: p.max_new_tokens]
            finish = "length"
            for j, tok in enumerate(ids):
                if tok in self.eos_ids:
                    ids, finish = ids[:j], "eos_token"
                    break
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            stop_text = None
            if p.stop:
                hits = [(text.find(s), s) for s in p.stop if s and s in text]
                if hits:
                    pos, stop_text = min(hits)
                    text, finish = text[:pos], "stop_sequence"
                    ids = _trim_to_text(self.tokenizer, ids, pos + len(stop_text))
            res = GenResult(ids, text, finish, stop_text, len(job.prompt_ids), seed=seed)
            if recorder is not None:
                n = len(ids) + (1 if finish == "eos_token" else 0)  # the end token has a probability too
                res.logprobs = recorder.chosen[i][:n]
                res.top = [t[: p.top_n] for t in recorder.top[i][:n]] if p.top_n else None
            results.append(res)
        return results


def _trim_to_text(tokenizer: Any, ids: list[int], chars: int) -> list[int]:
    """The shortest prefix of ``ids`` whose text reaches ``chars`` characters (the stop string included)."""
    for n in range(1, len(ids) + 1):
        if len(tokenizer.decode(ids[:n], skip_special_tokens=True)) >= chars:
            return ids[:n]
    return ids


class _LogprobRecorder:
    """Logits processor that keeps each step's top-n and, one step later, the chosen token's log-probability.

    Only one step of full log-probabilities is held at a time: a 262k vocabulary times the batch is too much to keep.
    """

    def __init__(self, prompt_width: int, top_n: int):
        self.prompt_width = prompt_width
        self.top_n = top_n
        self.prev = None
        self.chosen: list[list[float]] = []
        self.top: list[list[list[tuple[int, float]]]] = []

    def _take_chosen(self, input_ids: Any) -> None:
        if self.prev is None:
            return
        tok = input_ids[:, -1:]
        vals = self.prev.gather(1, tok.to(self.prev.device)).squeeze(1).tolist()
        for row, v in zip(self.chosen, vals, strict=True):
            row.append(float(v))

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if not self.chosen:
            self.chosen = [[] for _ in range(scores.shape[0])]
            self.top = [[] for _ in range(scores.shape[0])]
        self._take_chosen(input_ids)
        logp = torch.log_softmax(scores.float(), dim=-1)
        if self.top_n:
            values, indices = logp.topk(self.top_n, dim=-1)
            for row, v, ix in zip(self.top, values.tolist(), indices.tolist(), strict=True):
                row.append(list(zip(ix, v, strict=True)))
        self.prev = logp
        return scores

    def finish(self, sequences: Any) -> None:
        self._take_chosen(sequences)
        self.prev = None


class _RowStopper:
    """Per-row stopping: each row's own token budget and stop strings (generate handles the end tokens)."""

    def __init__(self, prompt_width: int, budgets: list[int], stops: list[list[str]], tokenizer: Any):
        self.prompt_width = prompt_width
        self.budgets = budgets
        self.stops = stops
        self.tokenizer = tokenizer
        # A stop string of L characters spans at most L tokens (plus partial bytes): decode that much of the tail.
        self.tail = [2 * max((len(s) for s in stop), default=0) + 4 for stop in stops]

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        generated = input_ids.shape[1] - self.prompt_width
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for i, budget in enumerate(self.budgets):
            if generated >= budget:
                done[i] = True
            elif self.stops[i]:
                tail = input_ids[i, max(self.prompt_width, input_ids.shape[1] - self.tail[i]) :].tolist()
                text = self.tokenizer.decode(tail, skip_special_tokens=True)
                done[i] = any(s and s in text for s in self.stops[i])
        return done


# -------------------------------------------------------------------------------------------------- the app


def _stop_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value
    raise ValidationError("`stop` must be a string or a list of strings")


def _number(body: dict, key: str, default: Any, kind: type) -> Any:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"`{key}` must be a number, got {value!r}")
    return kind(value)


def chat_params(body: dict) -> GenParams:
    """Messages-API body -> generation parameters (temperature 0 = greedy; default 1.0, as TGI)."""
    temperature = _number(body, "temperature", 1.0, float)
    top_logprobs = _number(body, "top_logprobs", 0, int)
    return GenParams(
        max_new_tokens=_number(body, "max_tokens", None, int)
        or _number(body, "max_completion_tokens", None, int)
        or 256,
        temperature=temperature if temperature > 0 else 1.0,
        do_sample=temperature > 0,
        top_p=_number(body, "top_p", 1.0, float),
        seed=_number(body, "seed", None, int),
        stop=_stop_list(body.get("stop")),
        logprobs=bool(body.get("logprobs")),
        top_n=top_logprobs if body.get("logprobs") else 0,
    )


def generate_params(parameters: dict) -> GenParams:
    """TGI `parameters` -> generation parameters (greedy unless do_sample or a temperature/top_p/top_k is set)."""
    temperature = _number(parameters, "temperature", None, float)
    top_p = _number(parameters, "top_p", None, float)
    top_k = _number(parameters, "top_k", None, int)
    do_sample = bool(parameters.get("do_sample")) or any(v is not None for v in (temperature, top_p, top_k))
    if temperature is not None and temperature <= 0:
        raise ValidationError("`temperature` must be strictly positive")
    return GenParams(
        max_new_tokens=_number(parameters, "max_new_tokens", 100, int),
        temperature=temperature or 1.0,
        top_p=top_p or 1.0,
        top_k=top_k or 0,
        do_sample=do_sample,
        seed=_number(parameters, "seed", None, int),
        stop=_stop_list(parameters.get("stop")),
        logprobs=bool(parameters.get("details")),
        top_n=_number(parameters, "top_n_tokens", 0, int),
    )


def _chat_response(engine: Engine, body: dict, res: GenResult, name: str) -> dict:
    finish = {"eos_token": "stop", "stop_sequence": "stop", "length": "length"}[res.finish_reason]
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": res.text},
        "logprobs": None,
        "finish_reason": finish,
    }
    if body.get("logprobs") and res.logprobs is not None:
        tok = engine.tokenizer
        content = []
        for k, tid in enumerate(res.token_ids):
            entry = {"token": tok.decode([tid]), "logprob": res.logprobs[k], "top_logprobs": []}
            if res.top:
                entry["top_logprobs"] = [{"token": tok.decode([t]), "logprob": lp} for t, lp in res.top[k]]
            content.append(entry)
        choice["logprobs"] = {"content": content}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or name,
        "system_fingerprint": "compeff-hf",
        "choices": [choice],
        "usage": {
            "prompt_tokens": res.prompt_tokens,
            "completion_tokens": len(res.token_ids),
            "total_tokens": res.prompt_tokens + len(res.token_ids),
        },
    }


def _generate_response(engine: Engine, prompt: str, parameters: dict, res: GenResult) -> dict:
    text = res.text + (res.stop_text or "")  # TGI keeps the matched stop sequence in generated_text
    if parameters.get("return_full_text"):
        text = prompt + text
    out: dict[str, Any] = {"generated_text": text}
    if parameters.get("details"):
        tok = engine.tokenizer
        ids = list(res.token_ids)
        details: dict[str, Any] = {
            "finish_reason": res.finish_reason,
            "generated_tokens": len(ids),
            "seed": res.seed,
            "prefill": [],
            "tokens": [
                {
                    "id": t,
                    "text": tok.decode([t]),
                    "logprob": res.logprobs[k] if res.logprobs and k < len(res.logprobs) else None,
                    "special": t in tok.all_special_ids,
                }
                for k, t in enumerate(ids)
            ],
        }
        if res.top:
            details["top_tokens"] = [
                [
                    {"id": t, "text": tok.decode([t]), "logprob": lp, "special": t in tok.all_special_ids}
                    for t, lp in step
                ]
                for step in res.top[: len(ids)]
            ]
        out["details"] = details
    return out


def build_app(engine: Engine, served_name: str) -> Any:
    """The FastAPI app serving ``engine``."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response, StreamingResponse

    app = FastAPI(title="compeff-hf embedded server", version="1")

    def error(status: int, message: str, kind: str) -> JSONResponse:
        # TGI's error body ({error, error_type}); OpenAI clients read `error` too.
        return JSONResponse({"error": message, "error_type": kind}, status_code=status)

    async def body_of(request: Request) -> dict:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValidationError("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ValidationError("the request body must be a JSON object")
        return body

    async def run(handler: Any, request: Request) -> Any:
        try:
            return await handler(await body_of(request))
        except ValidationError as err:
            return error(422, str(err), "validation")
        except Exception as err:
            logger.exception("request failed")
            return error(500, f"{type(err).__name__}: {err}", "generation")

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200)

    @app.get("/info")
    async def info() -> dict:
        from .. import __version__

        return {
            "model_id": served_name,
            "model_sha": None,
            "model_dtype": engine.dtype,
            "model_device_type": engine.device,
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": 128,
            "max_best_of": 1,
            "max_stop_sequences": 16,
            "max_input_tokens": engine.config.max_input_tokens,
            "max_total_tokens": engine.config.max_input_tokens + engine.config.max_new_tokens_limit,
            "max_batch_size": engine.config.max_batch_size,
            "validation_workers": 1,
            "max_client_batch_size": 1,
            "router": "compeff-hf",
            "version": __version__,
            "sha": None,
            "docker_label": None,
            # ours, not TGI's: how the dynamic batcher has grouped requests so far
            "batches": engine.batches,
            "batched_requests": engine.batched_requests,
            "largest_batch": engine.largest_batch,
        }

    @app.get("/v1/models")
    async def models() -> dict:
        return {
            "object": "list",
            "data": [{"id": served_name, "object": "model", "created": 0, "owned_by": "compeff-hf"}],
        }

    async def chat(body: dict) -> Any:
        params = chat_params(body)
        if body.get("n") not in (None, 1):
            raise ValidationError("`n` must be 1")
        prompt_ids = engine.chat_prompt(body.get("messages"), body.get("chat_template_kwargs"))
        res = await engine.generate(prompt_ids, params)
        payload = _chat_response(engine, body, res, served_name)
        if not body.get("stream"):
            return payload
        return StreamingResponse(_chat_stream(engine, payload, res), media_type="text/event-stream")

    async def generate(body: dict, stream: bool = False) -> Any:
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise ValidationError("`parameters` must be an object")
        prompt = body.get("inputs")
        params = generate_params(parameters)
        res = await engine.generate(engine.text_prompt(prompt), params)
        if stream or body.get("stream"):
            return StreamingResponse(_generate_stream(engine, res), media_type="text/event-stream")
        return _generate_response(engine, prompt, parameters, res)

    @app.post("/v1/chat/completions")
    async def chat_route(request: Request) -> Any:
        return await run(chat, request)

    @app.post("/generate")
    async def generate_route(request: Request) -> Any:
        return await run(generate, request)

    @app.post("/generate_stream")
    async def generate_stream_route(request: Request) -> Any:
        return await run(lambda body: generate(body, stream=True), request)

    @app.post("/")
    async def root_route(request: Request) -> Any:
        # InferenceClient.text_generation posts here; TGI answers a list of one generation.
        async def compat(body: dict) -> Any:
            out = await generate(body)
            return out if isinstance(out, StreamingResponse) else [out]

        return await run(compat, request)

    return app


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


async def _chat_stream(engine: Engine, payload: dict, res: GenResult):
    # Generation is batched, so the stream is replayed from the finished result, one chunk per token.
    base = {k: payload[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    yield _sse(
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    )
    pieces = [engine.tokenizer.decode([t]) for t in res.token_ids]
    text, sent = res.text, 0
    for piece in pieces:
        piece = piece[: max(0, len(text) - sent)]
        if piece:
            sent += len(piece)
            yield _sse({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
    if sent < len(text):
        yield _sse({**base, "choices": [{"index": 0, "delta": {"content": text[sent:]}, "finish_reason": None}]})
    finish = payload["choices"][0]["finish_reason"]
    yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": payload["usage"]})
    yield "data: [DONE]\n\n"


async def _generate_stream(engine: Engine, res: GenResult):
    tok = engine.tokenizer
    for k, t in enumerate(res.token_ids):
        last = k == len(res.token_ids) - 1
        event = {
            "index": k,
            "token": {
                "id": t,
                "text": tok.decode([t]),
                "logprob": res.logprobs[k] if res.logprobs else None,
                "special": t in tok.all_special_ids,
            },
            "generated_text": res.text + (res.stop_text or "") if last else None,
            "details": {"finish_reason": res.finish_reason, "generated_tokens": len(res.token_ids), "seed": res.seed}
            if last
            else None,
        }
        yield _sse(event)


def serve(config: ServeConfig) -> None:
    """Load the model and serve until SIGINT/SIGTERM (uvicorn shuts down cleanly on both)."""
    import uvicorn

    from .client import free_port

    started = time.time()
    engine = Engine(config)
    name = config.served_model_name or config.model
    port = config.port or free_port()
    logger.info(
        "loaded %s (%s, %s) in %.1f s; serving on http://%s:%d (routes: /v1/chat/completions, /generate, /, /info, "
        "/health, /v1/models)", name, engine.dtype, engine.device, time.time() - started, config.host, port,
    )  # fmt: skip
    try:
        uvicorn.run(build_app(engine, name), host=config.host, port=port, log_level="warning", access_log=False)
    finally:
        engine.close()
        logger.info("server stopped after %d batches (%d requests)", engine.batches, engine.batched_requests)


def main(config: ServeConfig) -> int:
    """`compeff-hf serve`: serve a local model over a TGI-compatible HTTP API on 127.0.0.1."""
    serve(config)
    return 0
