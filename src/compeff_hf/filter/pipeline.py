"""Entry point of `compeff-hf filter`: score difficulty, select, write the "scored" and "data" datasets.

Scores are appended to a ledger batch by batch, so a killed run resumes without rescoring finished rows; the
selection is recomputed from the ledger in a second (cheap) step.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..data import load_rows, row_id
from ..decontaminate import DEFAULT_FIELDS as DECONTAMINATION_FIELDS
from ..decontaminate.step import StageCheck
from ..distributed import on_main
from ..errors import DataError, RecipeError
from ..log import get_logger
from ..progress import progress
from ..stage import StageDir
from . import dist
from .config import FilterConfig
from .dist import Dist
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


def _bar(ctx: Dist, **kwargs: Any) -> Any:
    """A progress bar on the main process; a silent one elsewhere (one bar per job, not per process)."""
    if ctx.is_main:
        return progress(unit="row", **kwargs)
    from tqdm.auto import tqdm

    return tqdm(disable=True)


def score_column(config: FilterConfig) -> str:
    """The stats column a run selects on: the metric's, and for ``rank`` the chosen aggregation."""
    if config.metric == "rank" and config.rank_aggregation == "all":
        return "rank_score_all"
    return SCORE_COLUMN[config.metric]


def _score_with_model(
    config: FilterConfig,
    stage: StageDir,
    rows: list[Row],
    responses: list[str],
    model: Any,
    tokenizer: Any,
    ctx: Dist,
) -> dict[str, dict[str, Any]] | None:
    """Teacher-forced scores for every row, resuming from the 'scores' ledger (on the main process; None elsewhere).

    Rows are encoded and scored in blocks of ``BLOCK_ROWS`` (length-sorted within a block), so token ids of a
    large pool never sit in memory all at once. Data-parallel, every process encodes the block and scores its
    share of the block's batches; the main process gathers the records and alone writes the ledger.
    """
    from .scores import TokenScorer

    ledger = stage.ledger("scores") if ctx.is_main else None
    todo = ctx.broadcast([i for i, r in enumerate(rows) if r.id not in ledger] if ledger is not None else None)
    if todo:
        scorer = TokenScorer(
            model,
            top_p=config.top_p,
            batch_size=config.batch_size,
            max_batch_tokens=config.max_batch_tokens,
            chunk_tokens=config.chunk_tokens,
            pad_token_id=tokenizer.pad_token_id,
        )
        bar = _bar(ctx, total=len(rows), desc="filter: scoring", initial=len(rows) - len(todo))
        clock = {"start": time.perf_counter(), "tokens": 0}

        def write(records: list[dict[str, Any]], tokens: int) -> None:
            ledger.extend(records)  # type: ignore[union-attr]
            clock["tokens"] += tokens
            bar.update(len(records))
            bar.set_postfix(tok_per_s=f"{clock['tokens'] / max(1e-9, time.perf_counter() - clock['start']):.0f}")

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
            _score_block(scorer, encoded, unconditional, [rows[i].id for i in block], ctx, write)
        bar.close()
    if ledger is None:
        return None
    return {r.id: ledger.get(r.id) for r in rows}  # type: ignore[misc]


BLOCK_ROWS = 4096


def _score_block(
    scorer: Any,
    encoded: list[Encoded],
    unconditional: list[Encoded] | None,
    ids: list[str],
    ctx: Dist,
    write: Callable[[list[dict[str, Any]], int], None],
) -> None:
    """Score one block; ``write(records, tokens)`` runs on the main process, per batch (one process) or per block."""
    uncond_ppl: dict[int, float] = {}
    if unconditional is not None:  # IFD's denominator first: responses only, cheap, persisted with the row
        local: dict[int, float] = {}

        def keep(batch: list[int], stats: list[dict[str, Any]]) -> None:
            local.update({i: s["ppl"] for i, s in zip(batch, stats, strict=True)})

        scorer.score(unconditional, on_batch=keep, shard=ctx.shard)
        for part in ctx.all_gather(local):
            uncond_ppl.update(part)

    pending: list[tuple[int, dict[str, Any]]] = []

    def on_batch(batch: list[int], stats: list[dict[str, Any]]) -> None:
        records = []
        for i, s in zip(batch, stats, strict=True):
            record = {"id": ids[i], **s, "truncated": encoded[i].truncated}
            if unconditional is not None:
                denominator = uncond_ppl[i]
                record["ifd"] = s["ppl"] / denominator if denominator and not math.isnan(denominator) else math.nan
            records.append((i, record))
        if ctx.world_size == 1:
            write([r for _, r in records], sum(len(encoded[i].input_ids) for i in batch))
        else:
            pending.extend(records)

    scorer.score(encoded, on_batch=on_batch, shard=ctx.shard)
    if ctx.world_size > 1:
        parts = ctx.gather(pending)
        if parts is not None:  # main: one ledger write per block, in the rows' original order
            merged = sorted((item for part in parts for item in part), key=lambda item: item[0])
            write([r for _, r in merged], sum(len(encoded[i].input_ids) for i, _ in merged))


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


def _proxy_responses(
    config: FilterConfig, stage: StageDir, rows: list[Row], model: Any, tokenizer: Any, ctx: Dist
) -> dict[str, dict[str, Any]]:
    """The proxy's own response to every row (resumed from the 'proxy' ledger), on every process."""
    from .proxy import generate_responses, proxy_prompt

    ledger = stage.ledger("proxy") if ctx.is_main else None
    todo = ctx.broadcast([i for i, r in enumerate(rows) if r.id not in ledger] if ledger is not None else None)
    if todo:
        bar = _bar(ctx, total=len(rows), desc="filter: proxy responses", initial=len(rows) - len(todo))
        pending: list[tuple[int, dict[str, Any]]] = []

        def on_batch(batch: list[int], results: list[dict[str, Any]]) -> None:
            records = [(todo[j], {"id": rows[todo[j]].id, **res}) for j, res in zip(batch, results, strict=True)]
            if ledger is not None and ctx.world_size == 1:
                ledger.extend(r for _, r in records)
                bar.update(len(batch))
            else:
                pending.extend(records)

        prompts = [proxy_prompt(tokenizer, rows[i].instruction, rows[i].messages) for i in todo]
        generate_responses(
            model,
            tokenizer,
            prompts,
            max_new_tokens=config.proxy_max_new_tokens,
            batch_size=config.proxy_batch_size,
            max_length=config.max_length,
            on_batch=on_batch,
            shard=ctx.shard,
        )
        if ctx.world_size > 1:
            parts = ctx.gather(pending)
            if ledger is not None and parts is not None:
                merged = sorted((item for part in parts for item in part), key=lambda item: item[0])
                ledger.extend(r for _, r in merged)
                bar.update(len(merged))
        bar.close()
    return ctx.broadcast({r.id: ledger.get(r.id) for r in rows} if ledger is not None else None)


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
        f"filter: kept {summary['rows_kept']} of {summary['rows_in']} rows ({summary['keep_ratio_actual']:.2%}; "
        f"{summary['metric']} score, {summary['method']}/{summary['strategy']}, keep_ratio {summary['keep_ratio']})"
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
    """Run the filter stage; returns its summary (also written to ``<output_dir>/summary.json``).

    Data-parallel (under accelerate/torchrun, or ``num_processes > 1``): every process scores a share of the
    rows; only the main process claims, writes and finishes the stage folder, and every process returns its summary.
    """
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
    if config.num_processes > 1 and dist.launched_world_size() == 1:
        dist.spawn(run, config, config.num_processes)
        return stage.summary() or {}
    ctx = dist.init()
    # The main process claims the folder; every process gets its answer (or its error) through StageDir.
    if stage.prepare(config.overwrite):
        return stage.summary() or {}
    try:
        return _run(config, stage, ctx)
    finally:
        if ctx.is_main:
            stage.release()


def _run(config: FilterConfig, stage: StageDir, ctx: Dist) -> dict[str, Any]:
    ds = load_rows(config.input, split=config.split, config_name=config.input_config)
    if config.limit is not None:
        ds = ds.select(range(min(config.limit, len(ds))))
    # Checked before anything is recorded, so bad input leaves no work behind and the claim is given back.
    read_rows(ds, source=str(config.input), need_output=not config.proxy_responses)
    # Every process drops the same rows (the check is deterministic); only the main one records it in the stage.
    decontam = StageCheck(config, stage if ctx.is_main else None)
    ds = decontam.dataset("rows", ds, DECONTAMINATION_FIELDS)  # before scoring: no compute on dropped rows
    rows = read_rows(ds, source=str(config.input), need_output=not config.proxy_responses)
    if not rows:
        raise DataError(f"{config.input}: the dataset has no rows")

    model = tokenizer = None
    needs_model = config.metric in MODEL_METRICS or config.proxy_responses
    if needs_model:
        from ..models import load_causal_lm, load_tokenizer

        device = ctx.device(config.device)
        logger.info("filter: loading scorer %s (%s on %s)", config.scorer_model, config.dtype, device)
        tokenizer = load_tokenizer(config.scorer_model)
        model = load_causal_lm(config.scorer_model, dtype=config.dtype, device=device)

    proxy_stats = None
    if config.proxy_responses:
        proxy_stats = _proxy_responses(config, stage, rows, model, tokenizer, ctx)
        responses = [proxy_stats[r.id]["response"] for r in rows]
    else:
        responses = [r.output for r in rows]  # type: ignore[misc]

    if config.metric in MODEL_METRICS:
        stats = _score_with_model(config, stage, rows, responses, model, tokenizer, ctx)
    else:
        stats = _score_without_model(config, rows, responses) if ctx.is_main else None
    # Selection and writing run on the main process (the others' shares are in its ledger); every process gets
    # its summary, or its error.
    return on_main(_select_and_write, config, stage, ds, rows, stats, proxy_stats, decontam.summary())


def _select_and_write(
    config: FilterConfig,
    stage: StageDir,
    ds: Any,
    rows: list[Row],
    stats: dict[str, dict[str, Any]],
    proxy_stats: dict[str, Any] | None,
    decontamination: dict[str, Any],
) -> dict[str, Any]:
    column = score_column(config)
    scores = [float(stats[r.id].get(column, math.nan)) for r in rows]
    nan_rows = [r.id for r, s in zip(rows, scores, strict=True) if math.isnan(s)]
    empty_rows = [r.id for r in rows if stats[r.id].get("n_response_tokens", 1) == 0]
    if empty_rows:
        logger.warning(
            "filter: %d row(s) have no scorable response tokens (empty response, or the prompt fills max_length=%d); "
            "their rank score is 0.0 as in the official code and their ppl/ifd NaN (never selected), e.g. %s",
            len(empty_rows),
            config.max_length,
            empty_rows[:3],
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
        hard_zero_count=config.hard_zero_count,
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
        # What was really kept: differs from keep_ratio by rounding, soft sampling and keep_group on small groups
        "keep_ratio_actual": round(sum(kept) / len(rows), 6),
        "rows_unscorable": len(nan_rows),
        "rows_without_response_tokens": len(empty_rows),
        "groups": len(set(groups)) if config.strategy == "inprompt" else 1,
        "metric": config.metric,
        "score_column": column,
        "method": config.method,
        "strategy": config.strategy,
        "keep_ratio": config.keep_ratio,
        "seed": config.seed,
        "scorer_model": config.scorer_model if config.metric not in ("random",) else None,
        "histograms": histograms(scores, kinds, kept, unit_range=config.metric == "rank"),
        "decontamination": decontamination,
    }
    if proxy_stats is not None:
        from .proxy import savings

        summary["proxy"] = savings(
            [proxy_stats[r.id]["prompt_tokens"] for r in rows],
            [proxy_stats[r.id]["response_tokens"] for r in rows],
            kept,
        )
    record = stage.finish(**summary)  # pushes `filtered` and `scored` when push_to_hub is set (the one push path)
    _print_summary(record)
    return record


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
