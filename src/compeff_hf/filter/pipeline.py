"""Entry point of `compeff-hf filter`: score difficulty, select, write the "scored" and "data" datasets.

Scores are appended to a ledger batch by batch, so a killed run resumes without rescoring finished rows; the
selection is recomputed from the ledger in a second (cheap) step.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..data import load_rows, row_id
from ..errors import DataError, RecipeError
from ..log import get_logger
from ..progress import progress
from ..stage import StageDir
from .config import FilterConfig
from .scores import Encoded, encode_response_only, encode_row, random_score
from .select import group_key, select

logger = get_logger(__name__)
MODEL_METRICS = ("rank", "ppl", "ifd")
SCORE_COLUMN = {"rank": "rank_score", "ppl": "ppl", "ifd": "ifd", "length": "n_response_tokens", "random": "random"}


@dataclass
class Row:
    id: str
    instruction: str
    output: str | None
    messages: list[dict[str, Any]]


# ------------------------------------------------------------------------------------------------ input rows


def _last_user_turn(messages: Any, rid: str, source: str) -> str:
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{source}: row {rid}: field 'messages' must be a non-empty list of {{role, content}} turns")
    for turn in reversed(messages):
        if not isinstance(turn, dict) or "role" not in turn or "content" not in turn:
            raise DataError(f"{source}: row {rid}: field 'messages' holds a turn without 'role'/'content': {turn!r}")
        if turn["role"] == "user":
            if not isinstance(turn["content"], str):
                raise DataError(f"{source}: row {rid}: the last user turn's content must be text")
            return turn["content"]
    raise DataError(f"{source}: row {rid}: field 'messages' has no user turn (the instruction)")


def read_rows(ds: Any, source: str, need_output: bool) -> list[Row]:
    """Normalise a dataset into rows: `messages` (or `instruction`) + `output`, with stable unique ids."""
    cols = set(ds.column_names)
    if "messages" not in cols and "instruction" not in cols:
        raise DataError(
            f"{source}: needs a `messages` column (chat turns; the last user turn is the instruction) or an "
            f"`instruction` column; columns found: {sorted(cols)}"
        )
    has_output = "output" in cols
    if need_output and not has_output and "messages" not in cols:
        raise DataError(f"{source}: no `output` column (the teacher response); columns found: {sorted(cols)}")
    rows: list[Row] = []
    seen: Counter[str] = Counter()
    given_ids = ds["id"] if "id" in cols else None
    for i, rec in enumerate(ds):
        label = str(given_ids[i]) if given_ids is not None else f"#{i}"
        if "messages" in cols and rec.get("messages"):
            messages = list(rec["messages"])
            instruction = _last_user_turn(messages, label, source)
        else:
            instruction = rec.get("instruction")
            if not isinstance(instruction, str) or not instruction.strip():
                raise DataError(f"{source}: row {label}: field 'instruction' is empty or not text")
            messages = [{"role": "user", "content": instruction}]
        output = rec.get("output") if has_output else None
        if output is None and messages and messages[-1].get("role") == "assistant":
            output = messages[-1]["content"]
        if need_output and not isinstance(output, str):
            raise DataError(
                f"{source}: row {label}: field 'output' (the teacher response) is missing or not text; run the "
                "teacher stage first, or pass --proxy_responses true to pre-filter instructions before it"
            )
        rid = str(given_ids[i]) if given_ids is not None else None
        if rid is None or seen[rid]:
            # Content ids; the occurrence number keeps exact duplicates apart (they are distinct rows).
            base = row_id(instruction, output)
            rid = row_id(base, seen[base]) if seen[base] else base
        seen[rid] += 1
        rows.append(Row(rid, instruction, output, messages))
    return rows


# ------------------------------------------------------------------------------------------------ scoring


def _device_and_dtype(config: FilterConfig) -> tuple[str, str]:
    from ..models import default_device

    device = default_device() if config.device == "auto" else config.device
    dtype = config.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return device, dtype


def _score_with_model(
    config: FilterConfig, stage: StageDir, rows: list[Row], responses: list[str], model: Any, tokenizer: Any
) -> dict[str, dict[str, Any]]:
    """Teacher-forced scores for every row, resuming from the 'scores' ledger.

    Rows are encoded and scored in blocks of ``BLOCK_ROWS`` (length-sorted within a block), so token ids of a
    large pool never sit in memory all at once.
    """
    from .scores import TokenScorer

    ledger = stage.ledger("scores")
    todo = [i for i, r in enumerate(rows) if r.id not in ledger]
    if not todo:
        return {r.id: ledger.get(r.id) for r in rows}  # type: ignore[misc]
    scorer = TokenScorer(
        model,
        top_p=config.top_p,
        batch_size=config.batch_size,
        max_batch_tokens=config.max_batch_tokens,
        chunk_tokens=config.chunk_tokens,
        pad_token_id=tokenizer.pad_token_id,
    )
    bar = progress(total=len(rows), desc="filter: scoring", unit="row", initial=len(rows) - len(todo))
    clock = {"start": time.perf_counter(), "tokens": 0}
    for offset in range(0, len(todo), BLOCK_ROWS):
        block = todo[offset : offset + BLOCK_ROWS]
        encoded = [
            encode_row(
                tokenizer,
                rows[i].instruction,
                responses[i],
                rows[i].messages,
                formatting=config.formatting,
                max_length=config.max_length,
            )
            for i in block
        ]
        unconditional = None
        if config.metric == "ifd":
            unconditional = [
                encode_response_only(tokenizer, responses[i], max_length=config.max_length) for i in block
            ]
        _score_block(scorer, encoded, unconditional, [rows[i].id for i in block], ledger, bar, clock)
    bar.close()
    return {r.id: ledger.get(r.id) for r in rows}  # type: ignore[misc]


BLOCK_ROWS = 4096


def _score_block(
    scorer: Any,
    encoded: list[Encoded],
    unconditional: list[Encoded] | None,
    ids: list[str],
    ledger: Any,
    bar: Any,
    clock: dict[str, float],
) -> None:
    uncond_ppl: list[float] = []
    if unconditional is not None:  # IFD's denominator first: responses only, cheap, persisted with the row
        uncond_ppl = [s["ppl"] for s in scorer.score(unconditional)]

    def on_batch(batch: list[int], stats: list[dict[str, Any]]) -> None:
        records = []
        for i, s in zip(batch, stats, strict=True):
            record = {"id": ids[i], **s, "truncated": encoded[i].truncated}
            if unconditional is not None:
                denominator = uncond_ppl[i]
                record["ifd"] = s["ppl"] / denominator if denominator and not math.isnan(denominator) else math.nan
            records.append(record)
            clock["tokens"] += len(encoded[i].input_ids)
        ledger.extend(records)
        bar.update(len(batch))
        bar.set_postfix(tok_per_s=f"{clock['tokens'] / max(1e-9, time.perf_counter() - clock['start']):.0f}")

    scorer.score(encoded, on_batch=on_batch)


def _score_without_model(config: FilterConfig, rows: list[Row], responses: list[str]) -> dict[str, dict[str, Any]]:
    """length and random need no forward pass (length needs only the scorer's tokenizer)."""
    out: dict[str, dict[str, Any]] = {}
    if config.metric == "random":
        for r in rows:
            out[r.id] = {"id": r.id, "random": random_score(config.seed, r.id)}
        return out
    from ..models import load_tokenizer

    tokenizer = load_tokenizer(config.scorer_model)
    for r, response in zip(rows, responses, strict=True):
        e = encode_row(
            tokenizer, r.instruction, response, r.messages, formatting=config.formatting, max_length=config.max_length
        )
        out[r.id] = {"id": r.id, "n_response_tokens": e.n_response, "truncated": e.truncated}
    return out


# ------------------------------------------------------------------------------------------------ proxy responses


def _proxy_responses(config: FilterConfig, stage: StageDir, rows: list[Row], model: Any, tokenizer: Any) -> None:
    from .proxy import generate_responses, proxy_prompt

    ledger = stage.ledger("proxy")
    todo = [i for i, r in enumerate(rows) if r.id not in ledger]
    if not todo:
        return
    bar = progress(total=len(rows), desc="filter: proxy responses", unit="row", initial=len(rows) - len(todo))

    def on_batch(batch: list[int], results: list[dict[str, Any]]) -> None:
        ledger.extend({"id": rows[todo[j]].id, **res} for j, res in zip(batch, results, strict=True))
        bar.update(len(batch))

    prompts = [proxy_prompt(tokenizer, rows[i].instruction, rows[i].messages) for i in todo]
    generate_responses(
        model,
        tokenizer,
        prompts,
        max_new_tokens=config.proxy_max_new_tokens,
        batch_size=config.proxy_batch_size,
        max_length=config.max_length,
        on_batch=on_batch,
    )
    bar.close()


# ------------------------------------------------------------------------------------------------ summary


def histograms(
    scores: Sequence[float], kinds: Sequence[str], kept: Sequence[bool], bins: int = 10, unit_range: bool = False
) -> dict[str, Any]:
    """Per instruction type: counts over shared bin edges, mean score, rows kept."""
    import numpy as np

    finite = [s for s in scores if not math.isnan(s)]
    if not finite:
        return {}
    lo, hi = (0.0, 1.0) if unit_range else (min(finite), max(finite))
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(kinds):
        by_kind[k].append(i)
    out: dict[str, Any] = {}
    for kind in sorted(by_kind):
        vals = [scores[i] for i in by_kind[kind] if not math.isnan(scores[i])]
        counts, _ = np.histogram(vals, bins=edges)
        out[kind] = {
            "n": len(by_kind[kind]),
            "kept": sum(1 for i in by_kind[kind] if kept[i]),
            "mean": round(float(np.mean(vals)), 6) if vals else None,
            "edges": [round(float(e), 6) for e in edges],
            "counts": [int(c) for c in counts],
        }
    return out


def _print_summary(summary: dict[str, Any]) -> None:
    lines = [
        f"filter: kept {summary['rows_kept']} of {summary['rows_in']} rows "
        f"({summary['metric']} score, {summary['method']}/{summary['strategy']}, keep_ratio {summary['keep_ratio']})"
    ]
    for kind, h in summary["histograms"].items():
        peak = max(h["counts"]) or 1
        lines.append(f"  {kind}: n={h['n']} kept={h['kept']} mean={h['mean']}")
        for a, b, c in zip(h["edges"][:-1], h["edges"][1:], h["counts"], strict=True):
            lines.append(f"    [{a:9.4g}, {b:9.4g}) {'#' * round(30 * c / peak):<30} {c}")
    if "proxy" in summary:
        p = summary["proxy"]
        lines.append(
            f"  proxy pre-filter: teacher calls {p['teacher_calls']} instead of {p['candidates']} "
            f"(saves {p['teacher_calls_saved']} calls, ~{p['tokens_saved_fraction']:.0%} of teacher tokens)"
        )
    print("\n".join(lines))


# ------------------------------------------------------------------------------------------------ main


def run(config: FilterConfig) -> dict[str, Any]:
    """Run the filter stage; returns its summary (also written to ``<output_dir>/summary.json``)."""
    if not config.input:
        raise RecipeError("filter needs --input (a teacher stage folder, a dataset file/folder, or a Hub id)")
    if config.push_to_hub and not config.hub_repo_id:
        raise RecipeError("--push_to_hub true needs --hub_repo_id (e.g. me/my-filtered-data)")
    if config.metric != "random" or config.proxy_responses:  # checked before the folder is claimed
        from ..models import check_tokenizer, load_tokenizer

        check_tokenizer(
            config.scorer_model,
            load_tokenizer(config.scorer_model),
            need_chat_template=config.formatting == "chat",
            what="--scorer_model",
        )
    stage = StageDir(config.resolved_output_dir(), config, stage="filter")
    if stage.prepare(config.overwrite):
        return stage.summary() or {}
    try:
        return _run(config, stage)
    finally:
        stage.release()


def _run(config: FilterConfig, stage: StageDir) -> dict[str, Any]:
    ds = load_rows(config.input, split=config.split, config_name=config.input_config)
    if config.limit is not None:
        ds = ds.select(range(min(config.limit, len(ds))))
    rows = read_rows(ds, source=str(config.input), need_output=not config.proxy_responses)
    if not rows:
        raise DataError(f"{config.input}: the dataset has no rows")

    model = tokenizer = None
    needs_model = config.metric in MODEL_METRICS or config.proxy_responses
    if needs_model:
        from ..models import load_causal_lm, load_tokenizer

        device, dtype = _device_and_dtype(config)
        logger.info("filter: loading scorer %s (%s on %s)", config.scorer_model, dtype, device)
        tokenizer = load_tokenizer(config.scorer_model)
        model = load_causal_lm(config.scorer_model, dtype=dtype, device=device)

    proxy_stats = None
    if config.proxy_responses:
        _proxy_responses(config, stage, rows, model, tokenizer)
        proxy_stats = {r.id: stage.ledger("proxy").get(r.id) for r in rows}
        responses = [proxy_stats[r.id]["response"] for r in rows]  # type: ignore[index]
    else:
        responses = [r.output for r in rows]  # type: ignore[misc]

    if config.metric in MODEL_METRICS:
        stats = _score_with_model(config, stage, rows, responses, model, tokenizer)
    else:
        stats = _score_without_model(config, rows, responses)
    column = SCORE_COLUMN[config.metric]
    scores = [float(stats[r.id].get(column, math.nan)) for r in rows]
    nan_rows = [r.id for r, s in zip(rows, scores, strict=True) if math.isnan(s)]
    if nan_rows:
        logger.warning(
            "filter: %d row(s) have no scorable response tokens (empty response, or the prompt fills max_length=%d) "
            "and are never selected, e.g. %s",
            len(nan_rows),
            config.max_length,
            nan_rows[:3],
        )

    groups = [group_key(rec, r.instruction) for rec, r in zip(ds, rows, strict=True)]
    kept = select(
        scores,
        [r.id for r in rows],
        groups if config.strategy == "inprompt" else None,
        method=config.method,
        keep_ratio=config.keep_ratio,
        direction=config.direction,
        soft_peak=config.soft_peak,
        seed=config.seed,
    )

    scored = _with_columns(ds, rows, stats, scores, groups, kept, config, proxy_stats)
    stage.save_dataset(scored, "scored")
    data = scored.filter(lambda flag: flag, input_columns="selected")
    stage.save_dataset(data, "data")

    kinds = ds["instruction_type"] if "instruction_type" in ds.column_names else ["all"] * len(rows)
    kinds = [k or "unknown" for k in kinds]
    summary: dict[str, Any] = {
        "rows_in": len(rows),
        "rows_kept": sum(kept),
        "rows_unscorable": len(nan_rows),
        "groups": len(set(groups)) if config.strategy == "inprompt" else 1,
        "metric": config.metric,
        "method": config.method,
        "strategy": config.strategy,
        "keep_ratio": config.keep_ratio,
        "seed": config.seed,
        "scorer_model": config.scorer_model if config.metric not in ("random",) else None,
        "histograms": histograms(scores, kinds, kept, unit_range=config.metric == "rank"),
    }
    if proxy_stats is not None:
        from .proxy import savings

        summary["proxy"] = savings(
            [proxy_stats[r.id]["prompt_tokens"] for r in rows],  # type: ignore[index]
            [proxy_stats[r.id]["response_tokens"] for r in rows],  # type: ignore[index]
            kept,
        )
    record = stage.finish(**summary)
    _print_summary(record)
    if config.push_to_hub:
        _push(config, scored, data)
    return record


def _push(config: FilterConfig, scored: Any, data: Any) -> None:
    """Push the selected set (config "data") and the scored pool (config "scored") to one dataset repo."""
    if not config.hub_repo_id:
        raise RecipeError("--push_to_hub true needs --hub_repo_id (e.g. me/my-filtered-data)")
    for name, ds in (("data", data), ("scored", scored)):
        ds.push_to_hub(config.hub_repo_id, config_name=name, private=config.hub_private)
    logger.info("filter: pushed data and scored to https://huggingface.co/datasets/%s", config.hub_repo_id)


def _with_columns(
    ds: Any,
    rows: list[Row],
    stats: dict[str, dict[str, Any]],
    scores: list[float],
    groups: list[str],
    kept: list[bool],
    config: FilterConfig,
    proxy_stats: dict[str, Any] | None = None,
) -> Any:
    n = len(rows)

    def stat(key: str, default: Any = math.nan) -> list[Any]:
        return [stats[r.id].get(key, default) for r in rows]

    columns: dict[str, list[Any]] = {
        "id": [r.id for r in rows],
        "score": scores,
        "score_metric": [config.metric] * n,
        "rank_score": [float(v) for v in stat("rank_score")],
        "rank_score_all": [float(v) for v in stat("rank_score_all")],
        "ppl": [float(v) for v in stat("ppl")],
        "n_response_tokens": [int(v) if v == v else -1 for v in stat("n_response_tokens", -1)],
        "truncated": [bool(v) for v in stat("truncated", False)],
        "select_group": groups,
        "selected": kept,
        "select_method": [config.method] * n,
        "select_strategy": [config.strategy] * n,
        "select_direction": [config.direction] * n,
        "keep_ratio": [float(config.keep_ratio)] * n,
        "select_seed": [int(config.seed)] * n,
    }
    if config.metric == "ifd":
        columns["ifd"] = [float(v) for v in stat("ifd")]
    if proxy_stats is not None:
        columns["proxy_output"] = [proxy_stats[r.id]["response"] for r in rows]
    if "messages" not in ds.column_names:
        columns["messages"] = [r.messages for r in rows]
    for name, values in columns.items():
        if name in ds.column_names:
            ds = ds.remove_columns(name)
        ds = ds.add_column(name, values)
    return ds


def main(config: FilterConfig) -> int:
    """`compeff-hf filter`: returns the process exit code."""
    run(config)
    return 0
