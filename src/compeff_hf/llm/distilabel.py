"""The distilabel adapter: an LLM class for distilabel steps that sends through our client, and ``run_task``.

distilabel (pinned 1.5.3, unmaintained upstream) is imported only in the ``llm`` package: this module and
``llm/pipelines/`` (the stages as distilabel Pipelines). Two of its behaviours are worked around rather than relied
on here:

* its endpoint LLMs turn request errors into ``None`` generations and its tasks turn formatting errors into rows
  of ``None``: a row then vanishes silently. Here a request failure is a ledger row with its error, and
  ``parse_output`` errors are caught before distilabel sees them, so every input row comes back as ok or failed;
* its Pipeline runner hangs on resume: inside a pipeline step, a sub-stage's requests run through ``run_task``
  (``task.load()``, ``task.process(rows)``) and our ledger is the source of truth for resuming (see
  :mod:`compeff_hf.llm.pipelines.base` for the runner's other defects).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# distilabel 1.5.3 trips pydantic's newer field-attribute checks on import; harmless, and not ours to fix.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from distilabel.models.llms.base import LLM
    from distilabel.steps.tasks.base import Task
from pydantic import PrivateAttr

from ..errors import DataError, ParseError
from ..stage import Ledger
from .client import ChatRequest, request_id, run_chat_requests
from .config import EndpointArgs

# Steps run in-process without a Pipeline on purpose (our ledger resumes them); silence the warning about it.
logging.getLogger("distilabel").setLevel(logging.ERROR)


ENDPOINT_STATS = "endpoint_stats.json"  # beside the ledger: {url: {sent, ok, errors}} of the last run


class CompEffLLM(LLM):
    """A distilabel LLM that sends every batch through :func:`compeff_hf.llm.client.run_chat_requests`.

    ``generation_kwargs`` are per-request overrides (max_new_tokens, temperature, top_p, stop, seed, ...). Failed
    requests come back as ``None`` generations for distilabel, and as full rows (with the error) in
    :attr:`last_rows` for the caller, which is how :func:`run_task` never loses one.
    """

    endpoint: Any  # EndpointArgs (a dataclass, so not validated by pydantic)
    desc: str = "requests"
    _ledger: Ledger | None = PrivateAttr(None)
    _last_rows: list[dict] = PrivateAttr(default_factory=list)
    _stats: dict = PrivateAttr(default_factory=dict)
    _metas: list | None = PrivateAttr(None)  # per-input request meta for the next generate() (e.g. row ids)

    @property
    def model_name(self) -> str:
        return self.endpoint.model

    @property
    def generate_parameters(self) -> list[Any]:
        """The per-request overrides, declared for distilabel's runtime-parameter check (``generate`` takes **kwargs,
        which a Pipeline would otherwise report as a missing required parameter)."""
        import inspect

        def signature(
            inputs, num_generations=1, max_new_tokens=None, temperature=None, top_p=None, stop=None, seed=None
        ):
            pass

        return list(inspect.signature(signature).parameters.values())

    def bind(self, ledger: Ledger) -> CompEffLLM:
        self._ledger = ledger
        return self

    def _save_stats(self) -> None:
        """Per-endpoint counts of this run, beside the ledger: the stage reads them after the pipeline (the LLM runs
        in a worker process)."""
        import json

        path = self._ledger.path.with_name(ENDPOINT_STATS)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._stats))
        tmp.replace(path)

    @property
    def last_rows(self) -> list[dict]:
        return self._last_rows

    def generate(self, inputs: list[Any], num_generations: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
        if self._ledger is None:
            raise RuntimeError("CompEffLLM needs a ledger: call llm.bind(ledger) before generating")
        if num_generations != 1:
            raise ValueError("CompEffLLM generates one response per input (num_generations=1)")
        params = {k: v for k, v in kwargs.items() if v is not None}
        # A formatted input is chat messages, or a string for a raw completion (base-model prompting).
        metas = self._metas if self._metas is not None and len(self._metas) == len(inputs) else [{}] * len(inputs)
        self._metas = None
        requests = [
            ChatRequest.of(formatted, params, meta=dict(meta)) for formatted, meta in zip(inputs, metas, strict=True)
        ]
        rows = run_chat_requests(requests, self.endpoint, self._ledger, desc=self.desc, stats=self._stats)
        self._last_rows = rows
        self._save_stats()
        return _generate_output(rows)


class LedgerLLM(CompEffLLM):
    """One of distilabel's own LLMs behind our ledger: answered requests are never sent again, failures are rows.

    distilabel's endpoint LLMs log a request error and return a ``None`` generation; here such a ``None`` (or an
    empty answer) becomes a ledger row with ``status: failed`` and a reason, so it is counted and retried by a rerun,
    never silently missing. Raw completion prompts (base-model prompting) are sent as one user message: distilabel's
    LLMs take chat input.
    """

    inner: Any  # a distilabel LLM

    @property
    def model_name(self) -> str:
        return getattr(self.inner, "model_name", None) or self.endpoint.model

    def load(self) -> None:
        super().load()
        self.inner.load()

    def unload(self) -> None:
        self.inner.unload()
        super().unload()

    def generate(self, inputs: list[Any], num_generations: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
        import inspect

        if self._ledger is None:
            raise RuntimeError("LedgerLLM needs a ledger: call llm.bind(ledger) before generating")
        params = {k: v for k, v in kwargs.items() if v is not None}
        requests = [ChatRequest.of(formatted, params) for formatted in inputs]
        ids = [request_id(r, self.endpoint) for r in requests]
        todo = [i for i, rid in enumerate(ids) if (self._ledger.get(rid) or {}).get("status") != "ok"]
        if todo:
            accepted = inspect.signature(self.inner.generate).parameters
            gen_kwargs = {k: v for k, v in params.items() if k in accepted}
            chats = [requests[i].messages or [{"role": "user", "content": requests[i].prompt}] for i in todo]
            cls = type(self.inner).__name__
            try:
                outputs = self.inner.generate_outputs(inputs=chats, num_generations=1, **gen_kwargs)
            except Exception as err:  # a whole-batch failure: every request of it is a failed row
                outputs = [{"generations": [None], "error": f"{cls}: {type(err).__name__}: {err}"} for _ in todo]
            for i, out in zip(todo, outputs, strict=True):
                text = (out.get("generations") or [None])[0]
                ok = isinstance(text, str) and bool(text.strip())
                reason = out.get("error") or (
                    f"{cls} returned no generation (distilabel turns a failed request into None; its log has the cause)"
                    if text is None
                    else f"{cls} returned an empty generation"
                )
                stats = out.get("statistics") or {}
                self._ledger.append(
                    {
                        "id": ids[i],
                        "status": "ok" if ok else "failed",
                        "output": text if ok else None,
                        "error": None if ok else reason,
                        "finish_reason": None,
                        "prompt_tokens": (stats.get("input_tokens") or [None])[0],
                        "completion_tokens": (stats.get("output_tokens") or [None])[0],
                        "attempts": 1,
                        "meta": requests[i].meta,
                    }
                )
            self._ledger.flush()
        rows = [self._ledger.get(rid) for rid in ids]
        self._last_rows = rows
        return _generate_output(rows)


def _make_task(
    name: str, llm: CompEffLLM, format_input: Callable[[dict], list[dict]], parse_output: Callable[[str, dict], dict]
) -> Task:
    class _CompEffTask(Task):
        @property
        def inputs(self) -> list[str]:
            return ["id"]

        @property
        def outputs(self) -> list[str]:
            return ["generation", "parsed", "parse_error", "model_name"]

        def format_input(self, input: dict[str, Any]) -> list[dict] | str:
            return format_input(input)

        def format_output(self, output: str | None, input: dict[str, Any] | None = None) -> dict[str, Any]:
            # Never raise here: distilabel would log a warning and replace the row with Nones.
            if output is None:
                return {"generation": None, "parsed": None, "parse_error": None}
            try:
                parsed = parse_output(output, input or {})
            except ParseError as err:
                return {"generation": output, "parsed": None, "parse_error": str(err)}
            except Exception as err:
                return {"generation": output, "parsed": None, "parse_error": f"{type(err).__name__}: {err}"}
            if not isinstance(parsed, dict):
                return {"generation": output, "parsed": None, "parse_error": "parse_output did not return a dict"}
            return {"generation": output, "parsed": parsed, "parse_error": None}

    _CompEffTask.__name__ = f"CompEffTask_{name}"
    return _CompEffTask(name=name, llm=llm, add_raw_output=False, add_raw_input=False)


@dataclass
class TaskResult:
    """What :func:`run_task` returns: every input row is in ``ok`` or in ``failed``."""

    ok: list[dict] = field(default_factory=list)  # input fields + parsed fields + "generation" + request metadata
    failed: list[dict] = field(default_factory=list)  # input + "error" or "parse_error" + raw "generation"
    stats: dict = field(default_factory=dict)


def _request_meta(row: dict) -> dict[str, Any]:
    return {
        "request_id": row["id"],
        "finish_reason": row.get("finish_reason"),
        "latency_s": row.get("latency_s"),
        "prompt_tokens": row.get("prompt_tokens"),
        "completion_tokens": row.get("completion_tokens"),
        "attempts": row.get("attempts"),
    }


def run_task(
    name: str,
    rows: list[dict],
    *,
    format_input: Callable[[dict], list[dict]],
    parse_output: Callable[[str, dict], dict],
    endpoint: EndpointArgs,
    ledger: Ledger,
    params: dict | None = None,
    desc: str | None = None,
    llm: LLM | None = None,
) -> TaskResult:
    """Run a distilabel Task named ``name`` over ``rows`` (each with an ``id``), resuming from ``ledger``.

    ``format_input(row)`` returns chat messages (or a string: a raw completion prompt); ``parse_output(text, row)`` returns the parsed fields or raises
    :class:`~compeff_hf.errors.ParseError`. Requests already ``ok`` in the ledger are not sent again.
    ``llm``: one of distilabel's own LLMs (OpenAILLM, InferenceEndpointsLLM, vLLM, ...) instead of our client; its
    answers go through the same ledger (see :class:`LedgerLLM`), and its ``None`` generations become failed rows.

    Raises:
        EndpointError: the failure budget was exceeded or the endpoint is unreachable (the ledger keeps the rows).
    """
    started = time.perf_counter()
    for i, row in enumerate(rows):
        if "id" not in row:
            raise DataError(f"{name}: input row {i} has no 'id' (give every row a stable id, e.g. data.row_id)")
    result = TaskResult()
    if rows:
        if llm is None:
            llm = CompEffLLM(endpoint=endpoint, desc=desc or name, generation_kwargs=dict(params or {}))
        else:
            llm = LedgerLLM(inner=llm, endpoint=endpoint, desc=desc or name, generation_kwargs=dict(params or {}))
        llm.bind(ledger)
        task = _make_task(name, llm, format_input, parse_output)
        task.load()
        try:
            outputs = next(task.process(list(rows)))
        finally:
            task.unload()
        request_rows = llm.last_rows
        if len(outputs) != len(rows) or len(request_rows) != len(rows):
            raise RuntimeError(f"{name}: distilabel returned {len(outputs)} rows for {len(rows)} inputs")
        for row, out, req in zip(rows, outputs, request_rows, strict=True):
            base = {**row, "generation": out.get("generation"), **_request_meta(req)}
            if req["status"] != "ok":
                result.failed.append({**base, "error": req.get("error"), "parse_error": None})
            elif out.get("parse_error") is not None:
                result.failed.append({**base, "error": None, "parse_error": out["parse_error"]})
            else:
                result.ok.append({**base, **(out.get("parsed") or {})})
    ids = {request_id(ChatRequest.of(format_input(r), params), endpoint) for r in rows} if rows else set()
    unique = [ledger.get(i) for i in ids]
    result.stats = {
        "rows": len(rows),
        "requests": len(ids),
        "ok": len(result.ok),
        "failed": sum(1 for r in result.failed if r.get("error") is not None),
        "parse_failed": sum(1 for r in result.failed if r.get("parse_error") is not None),
        "prompt_tokens": sum((r or {}).get("prompt_tokens") or 0 for r in unique),
        "completion_tokens": sum((r or {}).get("completion_tokens") or 0 for r in unique),
        "wall_s": round(time.perf_counter() - started, 3),
    }
    return result


def _generate_output(rows: list[dict]) -> list[dict]:
    """Our result rows as distilabel's GenerateOutput: one generation per input (None when it failed)."""
    return [
        {
            "generations": [row["output"] if row["status"] == "ok" else None],
            "statistics": {
                "input_tokens": [row.get("prompt_tokens") or 0],
                "output_tokens": [row.get("completion_tokens") or 0],
            },
        }
        for row in rows
    ]
