"""Stage 2: the teacher answers every instruction through an endpoint.

In: an instructions dataset with a ``messages`` column (chat turns ending with the user's turn; a trailing assistant
turn, e.g. a reference answer, is dropped). Out: ``<output_dir>/data`` with the same rows plus the teacher's
``output`` and request metadata; requests that still failed are in ``<output_dir>/failed``.

With no ``endpoint_url`` the embedded server is started on ``model`` and stopped at the end. Every finished request
is in ``_ledger/requests.jsonl`` as soon as it completes: a killed run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .configs import StageConfig
from .data import load_rows, row_id
from .errors import DataError
from .llm.config import EndpointArgs
from .llm.pipeline_config import StreamingPipelineArgs
from .log import get_logger
from .stage import StageDir

logger = get_logger(__name__)


@dataclass
class TeacherConfig(StageConfig, EndpointArgs, StreamingPipelineArgs):
    """The teacher stage: an instructions dataset in, the same rows with the teacher's ``output`` out."""

    stage_name: ClassVar[str] = "teacher"
    volatile_fields: ClassVar[tuple[str, ...]] = ("accept_failures",)

    input: str | None = field(
        default=None,
        metadata={
            "help": "Instructions dataset with a `messages` column: a construct stage folder, a file, or a Hub id."
        },
    )
    limit: int | None = field(default=None, metadata={"help": "Answer only the first N rows (smoke tests)."})
    accept_failures: bool = field(
        default=False,
        metadata={
            "help": "Finish the stage even if some requests still fail (they go to `failed`). Default: leave the "
            "stage unfinished so that running it again retries them."
        },
    )


def _messages(row: dict[str, Any], index: int, source: str) -> list[dict]:
    messages = row.get("messages")
    where = f"{source}: row {row.get('id', index)!r}"
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: `messages` must be a non-empty list of {{role, content}} turns")
    for turn in messages:
        if not isinstance(turn, dict) or not isinstance(turn.get("role"), str) or "content" not in turn:
            raise DataError(f"{where}: every turn in `messages` needs a `role` and a `content`, got {turn!r}")
    clean = [{"role": t["role"], "content": t["content"]} for t in messages]
    if clean[-1]["role"] == "assistant":  # a reference answer: the teacher writes its own
        clean = clean[:-1]
    if not clean or clean[-1]["role"] != "user":
        raise DataError(f"{where}: `messages` must end with a user turn for the teacher to answer")
    return clean


def main(config: TeacherConfig) -> int:
    """Run the teacher stage; returns 0 when every row has an output (or failures are accepted), 1 otherwise."""
    import datasets

    from .llm.client import ChatRequest, endpoint_for

    if not config.input:
        raise DataError("the teacher stage needs --input: an instructions dataset with a `messages` column")
    config.check_pipeline_args()
    stage = StageDir(config.resolved_output_dir(), config, stage="teacher")
    if stage.prepare(config.overwrite):
        return 0
    try:
        ds = load_rows(config.input, columns=["messages"], what="teacher input")
        if config.limit is not None:
            ds = ds.select(range(min(config.limit, len(ds))))
        rows = ds.to_list()
        requests = []
        for i, row in enumerate(rows):
            messages = _messages(row, i, config.input)
            row.setdefault("id", None)
            row["id"] = row["id"] or row_id("instruction", messages)
            requests.append(ChatRequest(messages=messages, meta={"row_id": row["id"]}))
        # The answers come from the teacher's distilabel Pipeline (compeff_hf.llm.pipelines.teacher), via the ledger.
        from .llm.pipelines.teacher import answer_requests

        with endpoint_for(config) if config.llm_class == "compeff" else contextlib.nullcontext(config) as endpoint:
            results = answer_requests(config, stage.root, endpoint, requests)
        ok, failed = [], []
        for row, res in zip(rows, results, strict=True):
            meta = {
                "request_id": res["id"],
                "teacher_model": config.model,
                "finish_reason": res.get("finish_reason"),
                "prompt_tokens": res.get("prompt_tokens"),
                "completion_tokens": res.get("completion_tokens"),
                "latency_s": res.get("latency_s"),
            }
            if res["status"] == "ok":
                ok.append({**row, "output": res["output"], **meta})
            else:
                failed.append({**row, "error": res.get("error"), **meta})
        stage.save_dataset(datasets.Dataset.from_list(ok) if ok else datasets.Dataset.from_dict({}), "data")
        if failed:
            stage.save_dataset(datasets.Dataset.from_list(failed), "failed")
            if not config.accept_failures:
                logger.error(
                    "teacher: %d of %d rows failed (see %s); run the same command again to retry them, or pass "
                    "--accept_failures true to finish without them",
                    len(failed), len(rows), stage.dataset_path("failed"),
                )  # fmt: skip
                return 1
        summary = stage.finish(
            rows_in=len(rows),
            rows_out=len(ok),
            failed=len(failed),
            requests=len({r["id"] for r in results}),
            prompt_tokens=sum(r.get("prompt_tokens") or 0 for r in results if r["status"] == "ok"),
            completion_tokens=sum(r.get("completion_tokens") or 0 for r in results if r["status"] == "ok"),
            model=config.model,
            endpoint=config.endpoint_url or "embedded",
        )
        logger.info(
            "teacher: %d/%d rows answered, %d completion tokens, in %.0f s -> %s",
            len(ok), len(rows), summary["completion_tokens"], summary["wall_time_s"], stage.dataset_path("data"),
        )  # fmt: skip
        return 0
    finally:
        stage.release()
