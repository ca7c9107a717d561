"""Proxy pre-filter: score instructions with a small model's *own* responses before the teacher answers them.

The method scores (instruction, teacher response) pairs, which needs the teacher to answer every candidate first.
Here the proxy writes a response to each candidate (greedy, short), the pair is scored and selected as usual, and
only the kept instructions go to the teacher: the teacher's calls and tokens shrink by the drop ratio.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..stage import iter_batches


def proxy_prompt(tokenizer: Any, instruction: str, messages: Sequence[dict[str, Any]] | None) -> str:
    """What the proxy sees: its chat template when it has one, else the raw instruction."""
    if getattr(tokenizer, "chat_template", None):
        turns = list(messages) if messages else [{"role": "user", "content": instruction}]
        if turns and turns[-1].get("role") == "assistant":
            turns = turns[:-1]
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    return instruction.strip() + "\n"


def generate_responses(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 128,
    batch_size: int = 16,
    max_length: int = 2048,
    on_batch: Callable[[list[int], list[dict[str, Any]]], None] | None = None,
    shard: tuple[int, int] = (0, 1),
) -> list[dict[str, Any] | None]:
    """Greedy responses for ``prompts``, batched by length with left padding.

    Returns per prompt ``{"response", "prompt_tokens", "response_tokens"}``; ``on_batch(indices, results)`` is
    called after each batch so the caller can persist progress. ``shard=(rank, world_size)`` generates only every
    ``world_size``-th batch of the unsharded run (other prompts stay None).
    """
    import torch

    device = next(model.parameters()).device
    has_template = bool(getattr(tokenizer, "chat_template", None))
    encoded = [
        tokenizer(p, add_special_tokens=not has_template, truncation=True, max_length=max_length)["input_ids"]
        for p in prompts
    ]
    order = sorted(range(len(prompts)), key=lambda i: (-len(encoded[i]), i))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    out: list[dict[str, Any] | None] = [None] * len(prompts)
    rank, world_size = shard
    for batch in list(iter_batches(order, batch_size))[rank::world_size]:
        width = max(len(encoded[i]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for b, i in enumerate(batch):  # left padding: every row's continuation starts at the same column
            n = len(encoded[i])
            ids[b, width - n :] = torch.tensor(encoded[i], dtype=torch.long)
            mask[b, width - n :] = 1
        with torch.inference_mode():
            generated = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad,
            )
        stops = set(_as_list(model.generation_config.eos_token_id)) | {pad}
        results = []
        for b, i in enumerate(batch):
            new = generated[b, width:].tolist()
            cut = next((j for j, t in enumerate(new) if t in stops), len(new))
            new = new[:cut]
            result = {
                "response": tokenizer.decode(new, skip_special_tokens=True).strip(),
                "prompt_tokens": len(encoded[i]),
                "response_tokens": len(new),
            }
            out[i] = result
            results.append(result)
        if on_batch is not None:
            on_batch(batch, results)
    return out  # type: ignore[return-value]


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def savings(prompt_tokens: Sequence[int], response_tokens: Sequence[int], kept: Sequence[bool]) -> dict[str, Any]:
    """What the pre-filter spares the teacher: calls, prompt tokens, and output tokens (estimated by the proxy's)."""
    n = len(kept)
    dropped = [i for i in range(n) if not kept[i]]
    total_prompt = sum(prompt_tokens)
    total_out = sum(response_tokens)
    saved_prompt = sum(prompt_tokens[i] for i in dropped)
    saved_out = sum(response_tokens[i] for i in dropped)
    return {
        "candidates": n,
        "teacher_calls": n - len(dropped),
        "teacher_calls_saved": len(dropped),
        "prompt_tokens_saved": saved_prompt,
        "prompt_tokens_total": total_prompt,
        "output_tokens_saved_est": saved_out,
        "output_tokens_total_est": total_out,
        "tokens_saved_fraction": round((saved_prompt + saved_out) / max(1, total_prompt + total_out), 4),
    }
