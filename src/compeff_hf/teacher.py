"""Stage 2: the teacher answers every instruction through an endpoint.

In: an instructions dataset with a ``messages`` column (chat turns ending with the user's turn; a trailing assistant
turn, e.g. a reference answer, is dropped). Out: ``<output_dir>/data`` with the same rows plus the teacher's
``output`` and request metadata; requests that still failed are in ``<output_dir>/failed``; answers cut at the
token budget (``finish_reason=length``) are in ``<output_dir>/truncated`` (in ``data``, marked ``truncated``, with
``keep_truncated``), so later stages never train on a cut answer by default.

Rows stream through in chunks of ``chunk_size``: input, requests, ledger and output shards never hold the whole
dataset in memory, so 100k rows run in the memory of 4k.

With no ``endpoint_url`` the embedded server is started on ``model`` and stopped at the end. Every finished request
is in ``_ledger/requests.jsonl`` as soon as it completes: a killed run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .configs import StageConfig
from .data import load_rows, row_id
from .errors import DataError
from .hub.redact import redact_text
from .llm.config import EndpointArgs
from .llm.pipeline_config import StreamingPipelineArgs
from .log import get_logger
from .stage import StageDir
from .validate import check_empty_texts

logger = get_logger(__name__)


@dataclass
class TeacherConfig(StageConfig, EndpointArgs, StreamingPipelineArgs):
    """The teacher stage: an instructions dataset in, the same rows with the teacher's ``output`` out."""

    stage_name: ClassVar[str] = "teacher"
    volatile_fields: ClassVar[tuple[str, ...]] = ("accept_failures", "chunk_size")

    input: str | None = field(
        default=None,
        metadata={
            "help": "Instructions dataset with a `messages` column: a construct stage folder, a file, or a Hub id."
        },
    )
    limit: int | None = field(default=None, metadata={"help": "Answer only the first N rows (smoke tests)."})
    keep_truncated: bool = field(
        default=False,
        metadata={
            "help": "Keep answers cut at max_new_tokens (finish_reason=length) in `data`, marked truncated=true. "
            "Default: they go to `truncated` and are not trained on."
        },
    )
    chunk_size: int = field(
        default=4096, metadata={"help": "Rows read, sent and written per chunk (memory stays flat with size)."}
    )
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


# Columns the teacher adds to every output row, with their Arrow types (fixed, so chunks share one schema).
_META_TYPES = {
    "request_id": "string",
    "teacher_model": "string",
    "finish_reason": "string",
    "truncated": "bool_",
    "prompt_tokens": "int64",
    "completion_tokens": "int64",
    "latency_s": "float64",
}


class _ParquetSink:
    """One output dataset written chunk by chunk into a single Hub-style shard, moved in place on ``close``."""

    def __init__(self, folder: Path, schema: Any):
        self.folder = folder
        self.schema = schema
        self.rows = 0
        self._writer: Any = None
        self._tmp = folder.with_name(f".{folder.name}.parquet.tmp")

    def write(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not rows:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(str(self._tmp), self.schema)
        self._writer.write_table(pa.Table.from_pylist(rows, schema=self.schema))
        self.rows += len(rows)

    def close(self, keep_empty: bool) -> None:
        """Move the shard in place (replacing older shards); with no rows, write an empty one only if asked, else
        remove this stage's older shards (a `failed` of an earlier run must not outlive its recovery)."""
        import pyarrow.parquet as pq

        if self._writer is None:
            if not keep_empty:
                for old in self.folder.glob("*.parquet"):
                    old.unlink()
                if self.folder.is_dir() and not any(self.folder.iterdir()):
                    self.folder.rmdir()
                return
            pq.write_table(self.schema.empty_table(), str(self._tmp))
        else:
            self._writer.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.parquet"):
            old.unlink()
        self._tmp.replace(self.folder / "train-00000-of-00001.parquet")


def _schemas(features: Any) -> tuple[Any, Any]:
    """Arrow schemas of the answered rows and of the failed ones: the input columns plus the teacher's."""
    import pyarrow as pa

    base = [f for f in features.arrow_schema if f.name != "id"]
    meta = [pa.field(k, getattr(pa, v)()) for k, v in _META_TYPES.items()]
    ok = pa.schema([pa.field("id", pa.string()), *base, pa.field("output", pa.string()), *meta])
    failed = pa.schema([pa.field("id", pa.string()), *base, pa.field("error", pa.string()), *meta])
    return ok, failed


def _user_turns(ds: Any, config: TeacherConfig) -> Any:
    """Every row's messages checked, streamed in chunks before any request; yields the user turn each row asks."""
    checked = ds.select_columns(["messages", *(["id"] if "id" in ds.column_names else [])])
    for start, batch in enumerate(checked.iter(batch_size=config.chunk_size)):
        for i, values in enumerate(zip(*batch.values(), strict=True)):
            messages = _messages(dict(zip(batch, values, strict=True)), start * config.chunk_size + i, config.input)
            yield messages[-1]["content"]


def main(config: TeacherConfig) -> int:
    """Run the teacher stage; returns 0 when every row has an output (or failures are accepted), 1 otherwise."""
    from .llm.client import ChatRequest, display_url, endpoint_for, endpoint_urls, request_id
    from .llm.pipelines.teacher import EndpointSnapshot, read_endpoint_stats, run_teacher_pipeline

    if not config.input:
        raise DataError("the teacher stage needs --input: an instructions dataset with a `messages` column")
    config.check_pipeline_args()
    if config.chunk_size < 1:
        raise DataError(f"--chunk_size must be at least 1, got {config.chunk_size}")
    # Input and endpoint are checked before the folder is claimed: a failed start leaves nothing behind.
    ds = load_rows(config.input, columns=["messages"], what="teacher input")
    if config.limit is not None:
        ds = ds.select(range(min(config.limit, len(ds))))
    if len(ds) == 0:
        raise DataError(f"teacher input {config.input}: no rows to answer")
    check_empty_texts(_user_turns(ds, config), f"teacher input {config.input}", "user turn")
    if config.endpoint_url:
        from .llm.client import check_any_reachable

        check_any_reachable(config.endpoint_url)
    stage = StageDir(config.resolved_output_dir(), config, stage="teacher")
    if stage.prepare(config.overwrite):
        return 0
    try:
        ok_schema, failed_schema = _schemas(ds.features)
        sinks = {
            "data": _ParquetSink(stage.dataset_path("data"), ok_schema),
            "truncated": _ParquetSink(stage.dataset_path("truncated"), ok_schema),
            "failed": _ParquetSink(stage.dataset_path("failed"), failed_schema),
        }
        # The answers come from the teacher's distilabel Pipeline (compeff_hf.llm.pipelines.teacher): it streams the
        # instructions in batches and every answer lands in the request ledger, which is read back chunk by chunk.
        with endpoint_for(config) if config.llm_class == "compeff" else contextlib.nullcontext(config) as endpoint:
            run_teacher_pipeline(config, stage.root, endpoint)
        stats = read_endpoint_stats(stage.root)
        ep = EndpointSnapshot.of(endpoint)  # the fields a request id depends on
        ledger = stage.ledger("requests")
        request_ids: set[str] = set()
        rows_in = prompt_tokens = completion_tokens = n_truncated = 0
        for batch in ds.iter(batch_size=config.chunk_size):
            rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
            requests = []
            for i, row in enumerate(rows, rows_in):
                messages = _messages(row, i, config.input)
                row["id"] = str(row.get("id") or row_id("instruction", messages))
                requests.append(ChatRequest(messages=messages, meta={"row_id": row["id"]}))
            results = [
                ledger.get(request_id(req, ep))
                or {"id": request_id(req, ep), "status": "failed", "error": "not answered by the pipeline"}
                for req in requests
            ]
            rows_in += len(rows)
            out: dict[str, list[dict[str, Any]]] = {name: [] for name in sinks}
            for row, res in zip(rows, results, strict=True):
                truncated = res.get("finish_reason") == "length"
                meta = {
                    "request_id": res["id"],
                    "teacher_model": config.model,
                    "finish_reason": res.get("finish_reason"),
                    "truncated": truncated,
                    "prompt_tokens": res.get("prompt_tokens"),
                    "completion_tokens": res.get("completion_tokens"),
                    "latency_s": res.get("latency_s"),
                }
                if res["id"] not in request_ids and res["status"] == "ok":
                    prompt_tokens += res.get("prompt_tokens") or 0
                    completion_tokens += res.get("completion_tokens") or 0
                request_ids.add(res["id"])
                n_truncated += res["status"] == "ok" and truncated
                if res["status"] != "ok":
                    out["failed"].append({**row, "error": redact_text(res.get("error") or ""), **meta})
                elif truncated and not config.keep_truncated:
                    out["truncated"].append({**row, "output": res["output"], **meta})
                else:
                    out["data"].append({**row, "output": res["output"], **meta})
            for name, sink in sinks.items():
                sink.write(out[name])
        sinks["data"].close(keep_empty=True)
        for name in ("truncated", "failed"):
            sinks[name].close(keep_empty=False)
        n_ok, n_failed = sinks["data"].rows, sinks["failed"].rows
        if n_truncated and config.keep_truncated:
            logger.warning(
                "teacher: %d answers were cut at max_new_tokens=%d (finish_reason=length); kept in data as asked "
                "(keep_truncated), marked truncated=true",
                n_truncated, config.max_new_tokens,
            )  # fmt: skip
        elif n_truncated:
            logger.warning(
                "teacher: %d answers were cut at max_new_tokens=%d (finish_reason=length); they are in %s and not "
                "trained on (--keep_truncated true keeps them in data)",
                n_truncated, config.max_new_tokens, stage.dataset_path("truncated"),
            )  # fmt: skip
        if n_ok == 0:  # nothing to train on: never a finished stage (the next stage would read an empty set)
            logger.error(
                "teacher: none of the %d answers is usable (%d failed, %d cut at max_new_tokens=%d); raise "
                "--max_new_tokens, or pass --keep_truncated true to keep cut answers (flagged)",
                rows_in, n_failed, n_truncated, config.max_new_tokens,
            )  # fmt: skip
            return 1
        if n_failed and not config.accept_failures:
            logger.error(
                "teacher: %d of %d rows failed (see %s); run the same command again to retry them, or pass "
                "--accept_failures true to finish without them",
                n_failed, rows_in, stage.dataset_path("failed"),
            )  # fmt: skip
            return 1
        summary = stage.finish(
            rows_in=rows_in,
            rows_out=n_ok,
            failed=n_failed,
            truncated=n_truncated,
            truncated_kept=bool(config.keep_truncated),
            requests=len(request_ids),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=config.model,
            endpoint=", ".join(display_url(u) for u in endpoint_urls(config.endpoint_url)) or "embedded",
            endpoints=stats,
        )
        logger.info(
            "teacher: %d/%d rows answered, %d completion tokens, in %.0f s -> %s",
            n_ok, rows_in, summary["completion_tokens"], summary["wall_time_s"], stage.dataset_path("data"),
        )  # fmt: skip
        return 0
    finally:
        stage.release()
