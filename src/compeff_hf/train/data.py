"""Training rows: any supported layout in, TRL's conversational prompt/completion out; overlong rows accounted for.

Accepted layouts (checked in this order):

* ``prompt`` + ``completion``: already in TRL's format (conversational or plain text), passed through;
* ``messages`` + ``<response_column>``: our pipeline's output (construct -> teacher -> filter); the teacher's text
  becomes the assistant turn;
* ``messages`` ending in an assistant turn: the last turn is the completion;
* ``<instruction_column>`` (+ optional ``<input_column>``) + ``<response_column>``: the published corpora, e.g.
  ``zhang-yice/sentiment-distillation-v2``; the instruction becomes the single user turn (no system prompt, as in
  the paper's torchtune recipe).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..data import is_local, load_rows
from ..errors import DataError
from ..log import get_logger

logger = get_logger(__name__)


def load_training_data(script_args: Any, seed: int = 42) -> Any:
    """Load ``script_args.dataset_name`` and convert it to conversational prompt/completion rows."""
    if not script_args.dataset_name:
        raise DataError("no training data: set `dataset_name` (a stage folder, a local file, or a Hub dataset id)")
    ref = script_args.dataset_name
    if script_args.dataset_files and not is_local(ref):
        ds = _load_hub_files(ref, script_args.dataset_files, script_args.dataset_split)
    else:
        ds = load_rows(
            ref, split=script_args.dataset_split, config_name=script_args.dataset_config, what="training data"
        )
    if len(ds) == 0:
        raise DataError(f"training data {ref}: the dataset has no rows")
    ds = to_prompt_completion(
        ds,
        source=str(ref),
        instruction_column=script_args.instruction_column,
        input_column=script_args.input_column,
        response_column=script_args.response_column,
        system_prompt=script_args.system_prompt,
    )
    if script_args.max_train_samples is not None and script_args.max_train_samples < len(ds):
        ds = ds.shuffle(seed=seed).select(range(script_args.max_train_samples))
    return ds


def _load_hub_files(ref: str, files: list[str], split: str) -> Any:
    import datasets

    try:
        return datasets.load_dataset(ref, data_files={split: list(files)}, split=split)
    except Exception as err:  # datasets raises many types; keep the cause and say which repo/files
        raise DataError(
            f"training data {ref} (files {files}): could not be loaded ({type(err).__name__}: {err})"
        ) from err


def detect_layout(columns: list[str], instruction_column: str, response_column: str) -> str:
    """Name the layout of a dataset from its columns, or raise a DataError listing what was found."""
    if "prompt" in columns and "completion" in columns:
        return "prompt_completion"
    if "messages" in columns and response_column in columns:
        return "messages_output"
    if "messages" in columns:
        return "messages"
    if instruction_column in columns and response_column in columns:
        return "instruction_output"
    raise DataError(
        f"no usable columns; columns found: {columns}. Training data needs `{instruction_column}` + "
        f"`{response_column}` (e.g. zhang-yice/sentiment-distillation-v2), `messages` (+ `{response_column}` for "
        "our pipeline's output), or `prompt` + `completion`. Set `instruction_column` / `response_column` if yours "
        "are named differently."
    )


def to_prompt_completion(
    ds: Any,
    *,
    source: str,
    instruction_column: str = "instruction",
    input_column: str = "input",
    response_column: str = "output",
    system_prompt: str | None = None,
) -> Any:
    """Convert rows to ``prompt`` (list of messages) + ``completion`` (one assistant message), keeping ``id``.

    Rows without a response (None or blank: a failed teacher call) are dropped and counted, never trained on.
    """
    try:
        layout = detect_layout(ds.column_names, instruction_column, response_column)
    except DataError as err:
        raise DataError(f"training data {source}: {err}") from None
    has_ids = "id" in ds.column_names
    has_input = input_column in ds.column_names

    def convert(row: dict[str, Any], idx: int) -> dict[str, Any]:
        rid = row["id"] if has_ids else str(idx)
        if layout == "prompt_completion":
            prompt, completion = row["prompt"], row["completion"]
            if isinstance(prompt, str) != isinstance(completion, str):
                raise DataError(f"{source}: row {rid}: `prompt` and `completion` must both be text or both messages")
            if isinstance(completion, str):
                return {"id": rid, "prompt": prompt, "completion": completion, "_ok": bool(completion.strip())}
            ok = bool(completion) and bool((completion[-1].get("content") or "").strip())
            return {"id": rid, "prompt": _messages(prompt, source, rid), "completion": completion, "_ok": ok}
        if layout == "messages_output":
            messages = _messages(row["messages"], source, rid)
            if messages and messages[-1]["role"] == "assistant":
                messages = messages[:-1]  # the response column is the answer to train on
            response = row[response_column]
        elif layout == "messages":
            messages = _messages(row["messages"], source, rid)
            if not messages or messages[-1]["role"] != "assistant":
                raise DataError(
                    f"{source}: row {rid}: `messages` does not end with an assistant turn and there is no "
                    f"`{response_column}` column; add the teacher's response"
                )
            messages, response = messages[:-1], messages[-1]["content"]
        else:
            text = row[instruction_column]
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{source}: row {rid}: `{instruction_column}` is empty")
            if has_input and isinstance(row[input_column], str) and row[input_column].strip():
                text = f"{text.rstrip()}\n\n{row[input_column].strip()}"
            messages, response = [{"role": "user", "content": text}], row[response_column]
        if system_prompt and (not messages or messages[0]["role"] != "system"):
            messages = [{"role": "system", "content": system_prompt}, *messages]
        if not messages:
            raise DataError(f"{source}: row {rid}: the prompt has no messages")
        ok = isinstance(response, str) and bool(response.strip())
        completion = [{"role": "assistant", "content": response if isinstance(response, str) else ""}]
        return {"id": rid, "prompt": messages, "completion": completion, "_ok": ok}

    keep = ["id", "prompt", "completion"]
    out = ds.map(convert, with_indices=True, remove_columns=ds.column_names, desc="Converting training rows")
    missing = len(out) - sum(out["_ok"])
    if missing:
        logger.warning(
            "%s: %d of %d rows have no teacher response (null or blank); they are left out of training",
            source,
            missing,
            len(out),
        )
        out = out.filter(lambda ok: ok, input_columns="_ok")
    if len(out) == 0:
        raise DataError(f"training data {source}: no row has a teacher response in `{response_column}`")
    out = out.select_columns(keep)
    out.info.description = json.dumps({"layout": layout, "rows_without_response": missing})
    return out


def _messages(value: Any, source: str, rid: str) -> list[dict[str, str]]:
    if isinstance(value, str):  # some exports store messages as a JSON string
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DataError(f"{source}: row {rid}: `messages` is a string but not JSON") from None
    if not isinstance(value, list) or not all(isinstance(m, dict) and "role" in m and "content" in m for m in value):
        raise DataError(f"{source}: row {rid}: `messages` must be a list of {{role, content}} mappings")
    return [{"role": m["role"], "content": m["content"] or ""} for m in value]


# --------------------------------------------------------------------------------------------------- lengths


def measure_lengths(ds: Any, tokenizer: Any, num_proc: int | None = None) -> Any:
    """Add ``prompt_tokens`` and ``total_tokens`` (chat-templated, as TRL will tokenise them) to every row."""

    def lengths(batch: dict[str, list[Any]]) -> dict[str, list[int]]:
        prompts = tokenizer.apply_chat_template(batch["prompt"], add_generation_prompt=True, tokenize=True)
        full = tokenizer.apply_chat_template(
            [p + c for p, c in zip(batch["prompt"], batch["completion"], strict=True)], tokenize=True
        )
        return {"prompt_tokens": [len(p) for p in _ids(prompts)], "total_tokens": [len(f) for f in _ids(full)]}

    return ds.map(lengths, batched=True, batch_size=256, num_proc=num_proc, desc="Measuring lengths")


def tokenize_rows(
    ds: Any, tokenizer: Any, eot: int, *, kwargs: dict[str, Any], loss_on: str, num_proc: int | None = None
) -> Any:
    """Add ``input_ids``, ``labels``, ``prompt_tokens`` and ``total_tokens``, rendered with the student's template.

    Conversational rows go through :func:`compeff_hf.train.template.tokenize_row`; plain-text rows are the prompt's
    tokens followed by the completion's and the eos token (the loss on the completion and eos).
    """
    from .template import tokenize_row

    def tokenize(row: dict[str, Any]) -> dict[str, Any]:
        if isinstance(row["prompt"], str):
            prompt_ids = tokenizer(row["prompt"])["input_ids"]
            full = tokenizer(row["prompt"] + row["completion"])["input_ids"] + [tokenizer.eos_token_id]
            labels = full if loss_on == "all" else [-100] * len(prompt_ids) + full[len(prompt_ids) :]
            return {"input_ids": full, "labels": labels, "prompt_tokens": len(prompt_ids), "total_tokens": len(full)}
        return tokenize_row(
            tokenizer, row["prompt"], row["completion"], eot, kwargs=kwargs, loss_on=loss_on, row_id=row["id"]
        )

    return ds.map(tokenize, num_proc=num_proc, desc="Tokenizing with the student's chat template")


def _ids(encoded: Any) -> list[int]:
    return encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded


def handle_overlong(ds: Any, max_length: int | None, policy: str, source: str) -> tuple[Any, dict[str, int]]:
    """Apply the ``overlong`` policy; returns the kept rows and the counts that go into the summary and card.

    A row whose prompt alone reaches ``max_length`` would be trained on nothing (every response token cut off), so
    it is dropped and counted whatever the policy (or fails under ``error``): truncation never silently removes a
    whole response.
    """
    stats = {"rows_in": len(ds), "dropped_prompt_too_long": 0, "dropped_overlong": 0, "truncated_response": 0}
    if max_length is None:
        return ds, stats
    prompt_tokens, total_tokens, ids = ds["prompt_tokens"], ds["total_tokens"], ds["id"]
    no_response = [i for i, p in enumerate(prompt_tokens) if p >= max_length]
    cut = [i for i, (p, t) in enumerate(zip(prompt_tokens, total_tokens, strict=True)) if t > max_length > p]
    if policy == "error" and (no_response or cut):
        first = (no_response or cut)[0]
        raise DataError(
            f"training data {source}: {len(no_response) + len(cut)} rows exceed max_length={max_length} tokens "
            f"(first: row {ids[first]}, {total_tokens[first]} tokens, prompt {prompt_tokens[first]}). Raise "
            "max_length, shorten the data, or set overlong to `drop` or `truncate`."
        )
    drop = set(no_response)
    if no_response:
        logger.warning(
            "%s: %d rows have a prompt of >= max_length=%d tokens, so no response token would be trained; dropped "
            "(first ids: %s)",
            source,
            len(no_response),
            max_length,
            [ids[i] for i in no_response[:5]],
        )
    if cut and policy == "drop":
        drop |= set(cut)
        logger.warning(
            "%s: %d rows exceed max_length=%d tokens; dropped (overlong: drop)", source, len(cut), max_length
        )
    elif cut:
        logger.warning(
            "%s: %d rows exceed max_length=%d tokens; their responses are cut at the limit and lose the end-of-turn "
            "token (overlong: truncate; use `drop` to skip them instead)",
            source,
            len(cut),
            max_length,
        )
    stats.update(
        dropped_prompt_too_long=len(no_response),
        dropped_overlong=len(cut) if policy == "drop" else 0,
        truncated_response=len(cut) if policy == "truncate" else 0,
    )
    if drop:
        keep = [i for i in range(len(ds)) if i not in drop]
        if not keep:
            raise DataError(f"training data {source}: every row exceeds max_length={max_length}; raise max_length")
        ds = ds.select(keep)
    return ds, stats


# --------------------------------------------------------------------------------------------------- lineage


def data_lineage(ref: str, max_depth: int = 6) -> list[dict[str, Any]]:
    """Walk stage folders upstream from the training data (filter -> teacher -> construct), newest first.

    Each entry has the stage name, its folder, its resolved config and summary; the model card reads the teacher
    and the filter settings from here. Hub ids and plain files have no lineage (an empty list).
    """
    import yaml

    out: list[dict[str, Any]] = []
    path = Path(str(ref)).expanduser()
    seen: set[Path] = set()
    while len(out) < max_depth and path.is_dir() and (path / "summary.json").exists() and path.resolve() not in seen:
        seen.add(path.resolve())
        try:
            summary = json.loads((path / "summary.json").read_text())
            config = yaml.safe_load((path / "config.yaml").read_text()) if (path / "config.yaml").exists() else {}
        except (OSError, ValueError, yaml.YAMLError):
            break
        out.append({"stage": summary.get("stage"), "path": str(path), "config": config or {}, "summary": summary})
        upstream = next(
            (
                config.get(k)
                for k in ("input", "input_dir", "dataset", "dataset_name")
                if isinstance(config.get(k), str)
            ),
            None,
        )
        if not upstream:
            break
        nxt = Path(upstream).expanduser()
        path = nxt if nxt.is_absolute() or nxt.exists() else (path / upstream)
    return out


def teacher_from_lineage(lineage: list[dict[str, Any]]) -> str | None:
    """The teacher model named by the teacher stage's config, if the data came through our pipeline."""
    for entry in lineage:
        if entry.get("stage") == "teacher":
            cfg = entry["config"]
            for key in ("teacher_model", "model", "model_name", "endpoint_model"):
                if isinstance(cfg.get(key), str) and cfg[key]:
                    return cfg[key]
    return None
