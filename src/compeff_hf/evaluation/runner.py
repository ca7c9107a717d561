"""Batched SentiBench inference: first-token label logits for classification, greedy generation for the rest.

Classification needs one forward pass per item: the prompts are right-padded, so every real token keeps the
position it has alone, and the LM head is applied to each row's last real token only and only to the label words'
rows (never the full vocabulary at every position). The official ``icl_multifaced.py`` reads the label scores from
``generate(...).scores[0]``, i.e. *after* the generation config's logits processors (e.g. ``repetition_penalty``);
when the model's generation config has any, the label scores come from ``generate`` the same way. Fine-grained tasks use a batched greedy decoder with left
padding that stops a row as soon as its answer block (``Output: [...]``) is complete: the extracted answer is then
fixed, so stopping early gives the same prediction as generating the whole budget. A finished row also leaves the
batch (its KV cache rows are dropped), so each decode step costs only the rows still writing: with ``generate``, a
batch ran as long as its slowest row for every row (measured on SentiBench with Gemma-3-270M: answers of 26-76
tokens on average, batch maxima of 101-300). The stop check looks at the newest token of each row only and decodes
a row just when that token holds a ``]``. Rows are sorted by length before batching so padding stays small, and
batches are capped in rows and in padded tokens.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterator
from typing import Any

from .parsers import count_answers

CPU_BATCH_TOKENS = 2048  # padded-token cap of a classification batch on CPU (see ``InferenceRunner.classify``)


class InferenceRunner:
    """Wraps a causal LM and its tokenizer for batched scoring and generation."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int = 16,
        max_batch_tokens: int = 16384,
        max_padding: float = 0.15,
    ):
        self.model = model.eval()
        self.max_padding = max_padding
        self.tokenizer = tokenizer
        self.batch_size = max(1, batch_size)
        self.max_batch_tokens = max_batch_tokens
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.device = next(model.parameters()).device
        self.processed_logits = has_logits_processors(model)

    # -------------------------------------------------------------------------------------------------- helpers
    def encode(self, prompts: list[str]) -> list[list[int]]:
        return self.tokenizer(prompts, add_special_tokens=True)["input_ids"]

    def batches(
        self, lengths: list[int], extra: int = 0, max_padding: float | None = None, max_tokens: int | None = None
    ) -> Iterator[list[int]]:
        """Row indices grouped longest-first under the row and padded-token caps.

        With ``max_padding``, a batch is also closed before its pad tokens would exceed that fraction of its real
        tokens: a prefill on CPU is compute-bound, so padding costs as much as real tokens and batching gains
        little (classification); generation sets none, since batching is what amortises its decode steps.
        """
        max_tokens = max_tokens or self.max_batch_tokens
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batch: list[int] = []
        real = 0
        for i in order:
            width = (lengths[batch[0]] if batch else lengths[i]) + extra
            padded = width * (len(batch) + 1)
            if batch and (
                len(batch) >= self.batch_size
                or padded > max_tokens
                or (max_padding is not None and padded > (real + lengths[i] + extra) * (1 + max_padding))
            ):
                yield batch
                batch, real = [], 0
            batch.append(i)
            real += lengths[i] + extra
        if batch:
            yield batch

    def _pad(self, rows: list[list[int]], left: bool) -> tuple[Any, Any]:
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, row in enumerate(rows):
            if left:
                ids[j, width - len(row) :] = torch.tensor(row)
                mask[j, width - len(row) :] = 1
            else:
                ids[j, : len(row)] = torch.tensor(row)
                mask[j, : len(row)] = 1
        return ids.to(self.device), mask.to(self.device)

    # ---------------------------------------------------------------------------------------------- classifying
    def label_logits(self, ids: Any, mask: Any, label_ids: Any) -> Any:
        """Label logits after each right-padded row's last real token: the base model, then the LM head on one
        position per row and only on the label rows of its weight (the full-vocabulary product is skipped; on
        Gemma-3 the head is 62% of the parameters)."""
        import torch

        hidden = self.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        last = hidden[torch.arange(hidden.shape[0], device=hidden.device), mask.sum(1) - 1]
        head = self.model.get_output_embeddings()
        bias = getattr(head, "bias", None)
        logits = torch.nn.functional.linear(last, head.weight[label_ids], None if bias is None else bias[label_ids])
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        if cap:  # Gemma-2 style soft-capping, as the model's own forward applies it
            logits = torch.tanh(logits / cap) * cap
        return logits

    def processed_label_logits(self, ids: Any, mask: Any, label_ids: Any) -> Any:
        """Label scores of left-padded rows as the official scorer reads them: ``generate(...).scores[0]``, after
        the generation config's logits processors (greedy, a budget of 2 new tokens as upstream, stopped after the
        first since only its scores are read)."""
        from transformers import StoppingCriteria, StoppingCriteriaList

        class FirstToken(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return input_ids.new_ones((input_ids.shape[0],), dtype=bool)

        out = self.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=2,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            pad_token_id=self.pad_id,
            stopping_criteria=StoppingCriteriaList([FirstToken()]),
        )
        return out.scores[0][:, label_ids]

    def classify(
        self,
        prompts: list[str],
        label_token_ids: list[int],
        on_batch: Callable[[list[int], list[int], list[list[float]]], None] | None = None,
    ) -> tuple[list[int], list[list[float]]]:
        """Argmax label index and the label logits of each prompt, from the next-token logits after the prompt.

        One forward pass per item: rows are length-sorted, right-padded (every real token keeps the position it
        has alone) and batched under the row and padded-token caps.
        """
        import torch

        encoded = self.encode(prompts)
        choice: list[int] = [0] * len(prompts)
        scores: list[list[float]] = [[] for _ in prompts]
        label_ids = torch.tensor(label_token_ids, device=self.device)
        # A CPU prefill is compute-bound: measured on Gemma-3-270M, 8 SST-2 rows took as long batched as one by one,
        # and 3 IMDb rows (~1.9k tokens) 20% longer batched. So on CPU only short rows share a batch.
        budget = min(self.max_batch_tokens, CPU_BATCH_TOKENS) if self.device.type == "cpu" else None
        for batch in self.batches([len(e) for e in encoded], max_padding=self.max_padding, max_tokens=budget):
            ids, mask = self._pad([encoded[i] for i in batch], left=self.processed_logits)
            with torch.inference_mode():
                score = self.processed_label_logits if self.processed_logits else self.label_logits
                picked = score(ids, mask, label_ids).float()
            best = picked.argmax(-1).tolist()
            rows = picked.tolist()
            for j, i in enumerate(batch):
                choice[i], scores[i] = best[j], rows[j]
            if on_batch:
                on_batch(batch, best, rows)
        return choice, scores

    # ---------------------------------------------------------------------------------------------- generating
    def generate(
        self,
        prompts: list[str],
        max_new_tokens: int,
        k_shot: int,
        on_batch: Callable[[list[int], list[str]], None] | None = None,
    ) -> list[str]:
        """Greedy continuations; returns each row's decoded prompt+continuation (special tokens skipped).

        Rows are length-sorted and left-padded; a row stops once its answer block is complete (see
        ``AnswerComplete``) and then leaves the batch (see ``greedy``).
        """
        encoded = self.encode(prompts)
        texts: list[str] = [""] * len(prompts)
        for batch in self.batches([len(e) for e in encoded], extra=max_new_tokens):
            rows = [encoded[i] for i in batch]
            ids, mask = self._pad(rows, left=True)
            generated = self.greedy(ids, mask, max_new_tokens, stop=AnswerComplete(self.tokenizer, rows, k_shot + 1))
            decoded = [
                self.tokenizer.decode(row + gen, skip_special_tokens=True)
                for row, gen in zip(rows, generated, strict=True)
            ]
            for j, i in enumerate(batch):
                texts[i] = decoded[j]
            if on_batch:
                on_batch(batch, decoded)
        return texts

    def greedy(
        self, ids: Any, mask: Any, max_new_tokens: int, stop: Callable[[int, list[int]], bool]
    ) -> list[list[int]]:
        """Greedy tokens of each left-padded row; a row ends at EOS, at ``max_new_tokens`` or when ``stop(row,
        tokens)`` holds, and then leaves the batch.

        The same steps as ``generate(do_sample=False)``: positions count real tokens only, the next token is the
        argmax of the last position's logits, and the KV cache carries over; only the finished rows are dropped.
        """
        import torch

        eos = self._eos_ids()
        # transformers 5 names the KV cache `cache` in newer releases and `past_key_values` before; use the model's.
        key = "cache" if "cache" in inspect.signature(type(self.model).forward).parameters else "past_key_values"
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
        out: list[list[int]] = [[] for _ in range(ids.shape[0])]
        alive = list(range(ids.shape[0]))
        with torch.inference_mode():
            result = self.model(
                input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1
            )
            last = positions[:, -1:]
            for step in range(max_new_tokens):
                chosen = result.logits[:, -1].argmax(-1)
                keep = []
                for j, (row, token) in enumerate(zip(alive, chosen.tolist(), strict=True)):
                    out[row].append(token)
                    if token not in eos and step + 1 < max_new_tokens and not stop(row, out[row]):
                        keep.append(j)
                if not keep:
                    break
                cache = getattr(result, key)
                if len(keep) < len(alive):
                    index = torch.tensor(keep, device=ids.device)
                    cache.batch_select_indices(index)
                    mask, last, chosen = mask[index], last[index], chosen[index]
                    alive = [alive[j] for j in keep]
                mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=-1)
                last = last + 1
                result = self.model(
                    input_ids=chosen[:, None], attention_mask=mask, position_ids=last, use_cache=True, **{key: cache}
                )
        return out

    def _eos_ids(self) -> set[int]:
        value = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if value is None:
            value = self.tokenizer.eos_token_id
        return set(value if isinstance(value, list) else [value]) - {None}


class AnswerComplete:
    """Per-row stop rule: the decoded row holds ``blocks`` complete ``Output: [...]`` blocks (k demos + answer).

    Once it does, the extracted answer can no longer change, so stopping there gives the prediction of the full
    budget. The check is cheap: only rows whose newest token contains ``]`` (the only way a block completes) are
    decoded and counted, and a row is decoded from its first real token, never with its padding.
    """

    def __init__(self, tokenizer: Any, prompts: list[list[int]], blocks: int):
        self.tokenizer = tokenizer
        self.prompts = prompts
        self.blocks = blocks

    def __call__(self, row: int, tokens: list[int]) -> bool:
        piece = self.tokenizer.convert_ids_to_tokens(tokens[-1])
        # "]" is its own byte in byte-level BPE and SentencePiece pieces; "<0x5D>" is its byte-fallback piece.
        if not piece or not ("]" in piece or piece == "<0x5D>"):
            return False
        text = self.tokenizer.decode(self.prompts[row] + tokens, skip_special_tokens=True)
        return count_answers(text) >= self.blocks


def has_logits_processors(model: Any) -> bool:
    """Whether greedy ``generate`` would change the next-token logits (repetition penalty, suppressed tokens...)."""
    config = getattr(model, "generation_config", None)
    if config is None:
        return False
    config = copy.deepcopy(config)
    config.do_sample = False  # the official call is greedy: no temperature/top-k warpers
    try:
        return len(model._get_logits_processor(config, input_ids_seq_length=1, device="cpu")) > 0
    except Exception:  # a transformers without this (private) helper: take the generate path, always right
        return True


def label_token_ids(tokenizer: Any, verbalizers: tuple[str, ...]) -> list[int]:
    """First token of each verbalizer (with its leading space), as the published scorer."""
    return [tokenizer(v, add_special_tokens=False)["input_ids"][0] for v in verbalizers]
