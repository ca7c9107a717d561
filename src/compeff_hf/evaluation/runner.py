"""Batched SentiBench inference: first-token label logits for classification, greedy generation for the rest.

Classification needs one forward pass per item: the prompts are right-padded, so every real token keeps the
position it has alone, and the logits are taken at each row's last real token only (``logits_to_keep``), never
over the whole vocabulary at every position. Fine-grained tasks use batched greedy ``generate`` with left padding
and stop a row as soon as its answer block (``Output: [...]``) is complete: the extracted answer is then fixed,
so stopping early gives the same prediction as generating the whole budget. Rows are sorted by length before
batching so padding stays small, and batches are capped in rows and in padded tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .parsers import count_answers


class InferenceRunner:
    """Wraps a causal LM and its tokenizer for batched scoring and generation."""

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 16, max_batch_tokens: int = 16384):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = max(1, batch_size)
        self.max_batch_tokens = max_batch_tokens
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.device = next(model.parameters()).device

    # -------------------------------------------------------------------------------------------------- helpers
    def encode(self, prompts: list[str]) -> list[list[int]]:
        return self.tokenizer(prompts, add_special_tokens=True)["input_ids"]

    def batches(self, lengths: list[int], extra: int = 0) -> Iterator[list[int]]:
        """Row indices grouped longest-first under the row and padded-token caps."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batch: list[int] = []
        for i in order:
            width = lengths[batch[0]] + extra if batch else lengths[i] + extra
            if batch and (len(batch) >= self.batch_size or width * (len(batch) + 1) > self.max_batch_tokens):
                yield batch
                batch = []
            batch.append(i)
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
    def classify(
        self,
        prompts: list[str],
        label_token_ids: list[int],
        on_batch: Callable[[list[int], list[int], list[list[float]]], None] | None = None,
    ) -> tuple[list[int], list[list[float]]]:
        """Argmax label index and the label logits of each prompt, from the next-token logits after the prompt."""
        import torch

        encoded = self.encode(prompts)
        choice: list[int] = [0] * len(prompts)
        scores: list[list[float]] = [[] for _ in prompts]
        label_ids = torch.tensor(label_token_ids, device=self.device)
        for batch in self.batches([len(e) for e in encoded]):
            ids, mask = self._pad([encoded[i] for i in batch], left=False)
            last = mask.sum(1) - 1
            keep = torch.unique(last)  # the positions whose logits we need (few: rows are length-sorted)
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
            column = torch.searchsorted(keep, last)
            picked = logits[torch.arange(len(batch), device=self.device), column][:, label_ids].float()
            best = picked.argmax(-1).tolist()
            rows = picked.tolist()
            for j, i in enumerate(batch):
                choice[i], scores[i] = best[j], rows[j]
            if on_batch:
                on_batch(batch, [best[j] for j in range(len(batch))], rows)
        return choice, scores

    # ---------------------------------------------------------------------------------------------- generating
    def generate(
        self,
        prompts: list[str],
        max_new_tokens: int,
        k_shot: int,
        on_batch: Callable[[list[int], list[str]], None] | None = None,
    ) -> list[str]:
        """Greedy continuations; returns each row's decoded prompt+continuation (special tokens skipped)."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tokenizer = self.tokenizer

        class AnswerComplete(StoppingCriteria):
            """Stop a row once its decoded text holds k+1 complete answer blocks (the answer cannot change)."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                texts = tokenizer.batch_decode(input_ids, skip_special_tokens=True)
                done = [count_answers(t) >= k_shot + 1 for t in texts]
                return torch.tensor(done, device=input_ids.device)

        encoded = self.encode(prompts)
        texts: list[str] = [""] * len(prompts)
        for batch in self.batches([len(e) for e in encoded], extra=max_new_tokens):
            ids, mask = self._pad([encoded[i] for i in batch], left=True)
            with torch.inference_mode():
                out = self.model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=self.pad_id,
                    stopping_criteria=StoppingCriteriaList([AnswerComplete()]),
                    top_p=None,
                    top_k=None,
                    temperature=None,
                )
            decoded = tokenizer.batch_decode(out, skip_special_tokens=True)
            for j, i in enumerate(batch):
                texts[i] = decoded[j]
            if on_batch:
                on_batch(batch, decoded)
        return texts


def label_token_ids(tokenizer: Any, verbalizers: tuple[str, ...]) -> list[int]:
    """First token of each verbalizer (with its leading space), as the published scorer."""
    return [tokenizer(v, add_special_tokens=False)["input_ids"][0] for v in verbalizers]
