"""Sub-stage 6: synthesise demonstrations for each task in the style of real user texts.

Each request shows the task, two of its spec examples drawn at random for that request (one when the task has one;
official 7_task_specific_prompt_stage3.py) as the format, and randomly drawn real texts as style references (official: 16 requests per task, 2 references, 2 instances each, at most 32 demos per task).
An instance is kept only if it validates: both parts present, no talk about "reference text", not a copy of a
reference or of a spec example, and, for closed-set classification, an output that is one of the labels.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..data import row_id
from ..errors import ParseError
from . import prompts
from .tasks import parse_io_pairs

_MAX_INPUT_CHARS = 2000


def build_requests(
    tasks: Sequence[dict], references: Sequence[dict], *, per_task: int, n_refs: int, seed: int
) -> list[dict]:
    """One row per (task, request index) with its reference texts and spec examples drawn reproducibly.

    ``example_indices``: two of the task's spec examples drawn at random for this request (one if it has one), so
    the demos of one task follow varied formats rather than always its first example.
    """
    rows = []
    for task in tasks:
        for j in range(per_task):
            rng = random.Random(f"{seed}:{task['id']}:{j}")
            refs = rng.sample(list(references), k=min(n_refs, len(references)))
            n_examples = len(task.get("examples") or [])
            picked = rng.sample(range(n_examples), k=min(2, n_examples))
            rows.append(
                {
                    "id": row_id("demo-request", task["id"], j, seed),
                    "task_id": task["id"],
                    "request_index": j,
                    "reference_ids": [r["id"] for r in refs],
                    "reference_texts": [r["text"] for r in refs],
                    "example_indices": picked,
                }
            )
    return rows


def format_input(tasks_by_id: dict[str, dict], n_instances: int, style: str = "chat"):
    """A ``format_input(row)`` for a demo-request row; shows the request's drawn spec examples as the format."""

    def fmt(row: dict) -> list[dict] | str:
        task = tasks_by_id[row["task_id"]]
        examples = [task["examples"][i] for i in row["example_indices"]]
        variables = {
            "task_name": task["task_name"],
            "task_description": task["description"]
            + (f"\nOutput format: {task['output_format']}" if task["output_format"] else ""),
            "labels": task["labels"] if task["task_type"] == "classification" else [],
            "references": [" ".join(r.split())[:600] for r in row["reference_texts"]],
        }
        if style == "completion":  # a base model continues real examples only; it would copy a placeholder
            return prompts.request("demos", style, examples=examples, **variables)
        placeholder = [{"input": "<a text like the references>", "output": "<the answer>"}]
        return prompts.request("demos", style, n=n_instances, examples=examples or placeholder, **variables)

    return fmt


def validate(pair: dict, task: dict, references: Sequence[str]) -> str | None:
    """Why a synthesised instance is rejected, or None if it is kept."""
    inp, out = pair["input"].strip(), pair["output"].strip()
    lowered = f"{inp} {out}".lower()
    if "reference text" in lowered:
        return "mentions the reference texts"
    if inp.startswith("<") and inp.endswith(">"):
        return "placeholder copied from the template"
    if len(inp) > _MAX_INPUT_CHARS:
        return "input too long"
    if any(" ".join(inp.split()) == " ".join(r.split()) for r in references):
        return "input copies a reference text"
    if any(inp == e["input"] for e in task["examples"]):
        return "input copies a spec example"
    if task["task_type"] == "classification" and task["labels"]:
        allowed = {lb.lower().strip(" .") for lb in task["labels"]}
        if out.lower().strip(" .\"'") not in allowed:
            return f"output {out[:40]!r} is not one of the labels"
    return None


def parse_output(tasks_by_id: dict[str, dict], n_instances: int, exact: bool):
    """A ``parse_output(generation, row)`` returning ``{"demos": [...], "demo_rejects": [...]}``."""

    def parse(generation: str, row: dict) -> dict:
        if generation is None or not str(generation).strip():
            raise ParseError("empty generation")
        pairs = parse_io_pairs(str(generation))
        if not pairs:
            raise ParseError("no 'Input: ... Output: ...' pair found")
        if exact and len(pairs) != n_instances:
            raise ParseError(f"expected exactly {n_instances} instances, found {len(pairs)}")
        task = tasks_by_id[row["task_id"]]
        kept, rejects = [], []
        for pair in pairs[:n_instances]:
            reason = validate(pair, task, row["reference_texts"])
            (rejects if reason else kept).append({**pair, "reason": reason} if reason else pair)
        if not kept:
            raise ParseError("no instance passed validation: " + "; ".join(r["reason"] for r in rejects))
        return {"demos": kept, "demo_rejects": rejects}

    return parse
