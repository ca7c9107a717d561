"""Difficulty scores for (instruction, response) pairs: rank-based (method.md 3.1), perplexity, IFD, length, random.

The rank score of a response token y_i is r_i / n_i, where n_i is the size of the scorer's top-p nucleus at that
position and r_i the 0-based rank of y_i in it (1.0 when y_i falls outside the nucleus). A row's score is the
mean over its response tokens: over the tokens the scorer does not rank first (``non_top1``, the official code) or
over all of them (``all``). A row without response tokens scores 0.0, as in the official code.

Why it is fast: rows are length-sorted and right-padded into batches (one forward pass per batch); the model body
runs once, and the vocabulary projection runs only on response positions, a block of ``chunk_tokens`` positions at
a time, so at most one block of full-vocabulary logits exists at any moment. The rank is a comparison count against
the target's logit (no sort) and the nucleus size comes from a ``topk`` that is widened only for the rows whose
nucleus it does not cover.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ModelError

NUCLEUS_TOPK = 1024  # first guess for the nucleus width; widened x8 per row that needs more


@dataclass
class Encoded:
    """Token ids of one scoring text and where its response starts (index of the first response token)."""

    input_ids: list[int]
    response_start: int
    truncated: bool = False

    @property
    def n_response(self) -> int:
        return max(0, len(self.input_ids) - self.response_start)


def raw_instruction(instruction: str) -> str:
    """The official code's scoring prefix: stripped, with ``Input: ``/``Output: `` glued to their text."""
    return instruction.strip().replace("Input: ", "Input:").replace("Output: ", "Output:")


def encode_text(tokenizer: Any, prompt: str, response: str, *, add_special_tokens: bool, max_length: int) -> Encoded:
    """Tokenise ``prompt + response`` as one string; the response starts at ``len(encode(prompt))``.

    This is the official rule (``rank_score_compute.py``): the whole text is encoded as the tokenizer does it (no
    BOS added beyond what it adds itself), truncated to ``max_length`` the way ``encode(truncation=True)`` does,
    and the response begins at the length of the prompt's own encoding. A token that straddles the boundary
    (Gemma-3 merges ``Output:`` and ``[`` into ``:[``) therefore counts as prompt.
    """
    text = prompt + response
    ids = tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
    truncated = len(ids) > max_length
    if truncated:  # re-encode so special tokens the tokenizer appends survive, as encode(truncation=True) keeps them
        ids = tokenizer(text, add_special_tokens=add_special_tokens, truncation=True, max_length=max_length)[
            "input_ids"
        ]
    start = len(tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"])
    # Position 0 has no preceding context, so it can never be scored.
    return Encoded(list(ids), max(1, min(start, len(ids))), truncated)


def encode_row(
    tokenizer: Any,
    instruction: str,
    response: str,
    messages: Sequence[dict[str, Any]] | None = None,
    *,
    formatting: str = "raw",
    max_length: int = 2048,
) -> Encoded:
    """Encode one row for scoring: raw concatenation (official) or the tokenizer's chat template."""
    if formatting == "raw":
        return encode_text(
            tokenizer, raw_instruction(instruction), response, add_special_tokens=True, max_length=max_length
        )
    if formatting == "chat":
        turns = list(messages) if messages else [{"role": "user", "content": instruction}]
        if turns and turns[-1].get("role") == "assistant":
            turns = turns[:-1]
        prompt = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        return encode_text(tokenizer, prompt, response, add_special_tokens=False, max_length=max_length)
    raise ValueError(f"formatting must be 'raw' or 'chat', got {formatting!r}")


def encode_response_only(tokenizer: Any, response: str, *, max_length: int = 2048) -> Encoded:
    """The response alone (after BOS when the tokenizer adds one), for the unconditional perplexity of IFD."""
    return encode_text(tokenizer, "", response, add_special_tokens=True, max_length=max_length)


def make_batches(lengths: Sequence[int], batch_size: int, max_batch_tokens: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first, so memory peaks show up at once).

    A batch holds at most ``batch_size`` rows and ``max_batch_tokens`` padded tokens (one over-long row still
    gets a batch of its own).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i in order:
        new_width = max(width, lengths[i])
        if current and (len(current) >= batch_size or new_width * (len(current) + 1) > max_batch_tokens):
            batches.append(current)
            current, new_width = [], lengths[i]
        current.append(i)
        width = new_width
    if current:
        batches.append(current)
    return batches


class TokenScorer:
    """Teacher-forced per-token statistics of a causal LM: rank, nucleus size and negative log-likelihood.

    ``score(encoded)`` returns, per row, the rank score under both aggregations, the perplexity and the number of
    response tokens. ``token_stats(encoded)`` exposes the per-token values (used by tests and the benchmark).
    """

    def __init__(
        self,
        model: Any,
        *,
        top_p: float = 0.95,
        batch_size: int = 16,
        max_batch_tokens: int = 16384,
        chunk_tokens: int = 256,
        pad_token_id: int | None = 0,
    ):
        import torch

        self.model = model.eval()
        self.top_p = float(top_p)
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.chunk_tokens = chunk_tokens
        self.pad_token_id = pad_token_id if pad_token_id is not None else 0
        self.device = next(model.parameters()).device
        self.body = getattr(model, model.base_model_prefix, None)
        head = model.get_output_embeddings()
        if self.body is None or head is None:
            raise ModelError(f"{type(model).__name__}: cannot split the model into body and vocabulary projection")
        # Logits are computed in float32 whatever the body's dtype: bf16 logits tie too often for ranks.
        self.head_weight = head.weight.detach().to(torch.float32)
        bias = getattr(head, "bias", None)
        self.head_bias = None if bias is None else bias.detach().to(torch.float32)
        self.softcap = getattr(model.config, "final_logit_softcapping", None) or getattr(
            getattr(model.config, "text_config", None), "final_logit_softcapping", None
        )
        self._check_head()

    # ------------------------------------------------------------------------------------------- internals
    def _logits(self, hidden: Any) -> Any:
        import torch

        logits = torch.nn.functional.linear(hidden.to(torch.float32), self.head_weight, self.head_bias)
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def _check_head(self) -> None:
        """Refuse models whose logits are not ``head(body(x))`` (e.g. extra scaling we do not reproduce)."""
        import torch

        ids = torch.tensor([[self.pad_token_id or 1, 3, 5, 7]], device=self.device) % self.head_weight.shape[0]
        with torch.inference_mode():
            want = self.model(input_ids=ids).logits[0, -1].float()
            got = self._logits(self.body(input_ids=ids).last_hidden_state[0, -1:])[0]
        exact = next(self.model.parameters()).dtype == self.head_weight.dtype
        tol = (1e-3 if exact else 5e-2) * max(1.0, float(want.abs().max()))
        if float((want - got).abs().max()) > tol:
            raise ModelError(
                f"{type(self.model).__name__}: its logits are not the output projection of its last hidden state; "
                "this architecture is not supported by the batched scorer"
            )

    def _nucleus_sizes(self, probs: Any) -> Any:
        """Smallest n with cumulative top-n probability >= top_p, per row, via topk widened only where needed."""
        import torch

        vocab = probs.shape[-1]
        sizes = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
        rows = torch.arange(probs.shape[0], device=probs.device)
        k = min(NUCLEUS_TOPK, vocab)
        while rows.numel():
            top = torch.topk(probs[rows], k, dim=-1, sorted=True).values
            cum = torch.cumsum(top, dim=-1)
            covered = (cum[:, -1] >= self.top_p) | (k >= vocab)
            sizes[rows[covered]] = (cum[covered] < self.top_p).sum(-1) + 1
            rows = rows[~covered]
            k = min(vocab, k * 8)
        return sizes.clamp_(max=vocab)

    def _chunk_stats(self, hidden: Any, targets: Any) -> tuple[Any, Any, Any]:
        import torch

        logits = self._logits(hidden)
        target_logit = logits.gather(1, targets[:, None])
        ranks = (logits > target_logit).sum(-1)
        log_z = torch.logsumexp(logits, dim=-1)
        nll = log_z - target_logit[:, 0]
        probs = torch.softmax(logits, dim=-1)
        del logits
        sizes = self._nucleus_sizes(probs)
        return ranks, sizes, nll

    # ------------------------------------------------------------------------------------------- public API
    def token_stats(
        self,
        encoded: Sequence[Encoded],
        on_batch: Callable[[list[int], list[dict[str, Any]]], None] | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> list[dict[str, Any] | None]:
        """Per-row lists of ``rank``, ``nucleus`` and ``nll`` over the response tokens (in order).

        ``shard=(rank, world_size)`` scores only every ``world_size``-th batch starting at ``rank`` (other rows
        stay None). The batches are those of the unsharded run, so every row sees exactly the computation it would
        see in one process.
        """
        import torch

        out: list[dict[str, Any] | None] = [None] * len(encoded)
        lengths = [len(e.input_ids) for e in encoded]
        rank, world_size = shard
        for batch in make_batches(lengths, self.batch_size, self.max_batch_tokens)[rank::world_size]:
            width = max(lengths[i] for i in batch)
            ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            rows, positions = [], []
            for b, i in enumerate(batch):
                e = encoded[i]
                ids[b, : len(e.input_ids)] = torch.tensor(e.input_ids, dtype=torch.long)
                mask[b, : len(e.input_ids)] = 1
                # Logits at position p predict token p + 1.
                span = range(e.response_start - 1, len(e.input_ids) - 1)
                rows += [b] * len(span)
                positions += list(span)
            ids, mask = ids.to(self.device), mask.to(self.device)
            row_t = torch.tensor(rows, dtype=torch.long, device=self.device)
            pos_t = torch.tensor(positions, dtype=torch.long, device=self.device)
            with torch.inference_mode():
                hidden = self.body(input_ids=ids, attention_mask=mask).last_hidden_state
                picked = hidden[row_t, pos_t]
                targets = ids[row_t, pos_t + 1]
                del hidden
                parts = [
                    self._chunk_stats(picked[s : s + self.chunk_tokens], targets[s : s + self.chunk_tokens])
                    for s in range(0, picked.shape[0], self.chunk_tokens)
                ]
            if parts:
                ranks = torch.cat([p[0] for p in parts]).cpu().tolist()
                sizes = torch.cat([p[1] for p in parts]).cpu().tolist()
                nlls = torch.cat([p[2] for p in parts]).cpu().tolist()
            else:
                ranks = sizes = nlls = []
            cursor = 0
            results = []
            for i in batch:
                n = encoded[i].n_response
                out[i] = {
                    "rank": ranks[cursor : cursor + n],
                    "nucleus": sizes[cursor : cursor + n],
                    "nll": nlls[cursor : cursor + n],
                }
                results.append(out[i])
                cursor += n
            if on_batch is not None:
                on_batch(batch, results)
        return out  # type: ignore[return-value]

    def score(
        self,
        encoded: Sequence[Encoded],
        on_batch: Callable[[list[int], list[dict[str, Any]]], None] | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> list[dict[str, Any] | None]:
        """Per-row ``rank_score`` (non-top-1 mean), ``rank_score_all``, ``ppl`` and ``n_response_tokens``."""

        def summarise(stats: dict[str, Any]) -> dict[str, Any]:
            return aggregate(stats["rank"], stats["nucleus"], stats["nll"])

        callback = None
        if on_batch is not None:

            def callback(batch: list[int], stats: list[dict[str, Any]]) -> None:
                on_batch(batch, [summarise(s) for s in stats])

        return [None if s is None else summarise(s) for s in self.token_stats(encoded, callback, shard)]


def token_rank_scores(ranks: Sequence[int], sizes: Sequence[int]) -> list[float]:
    """Per-token s_i = r_i / n_i inside the nucleus (r_i < n_i), 1.0 outside it."""
    return [r / n if r < n else 1.0 for r, n in zip(ranks, sizes, strict=True)]


def aggregate(ranks: Sequence[int], sizes: Sequence[int], nlls: Sequence[float]) -> dict[str, Any]:
    """Row scores from per-token values.

    A row without response tokens (empty, or truncated away) has rank scores 0.0, as in the official code, and a
    NaN perplexity (so the ppl and ifd metrics never select it).
    """
    n = len(ranks)
    if n == 0:
        return {"rank_score": 0.0, "rank_score_all": 0.0, "ppl": float("nan"), "n_response_tokens": 0}
    s = token_rank_scores(ranks, sizes)
    # The official code averages only tokens with s_i > 1e-6, i.e. it skips top-1 tokens; all-top-1 rows score 0.
    non_top1 = [v for v, r in zip(s, ranks, strict=True) if r > 0]
    mean_nll = sum(nlls) / n
    return {
        "rank_score": sum(non_top1) / len(non_top1) if non_top1 else 0.0,
        "rank_score_all": sum(s) / n,
        "ppl": math.exp(min(mean_nll, 700.0)),
        "n_response_tokens": n,
    }


def random_score(seed: int, row_id: str) -> float:
    """A uniform [0, 1) score that depends only on (seed, row id): stable across runs and resumes."""
    return random.Random(f"{seed}:{row_id}").random()
