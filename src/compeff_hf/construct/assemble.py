"""Sub-stage 7: pair instructions with user texts into chat ``messages``.

Formats (inferred from the official training and scoring code, which strips ``Input: `` / ``Output: `` and
splits analysis prompts at ``\\n\\nInput:``)::

    analysis:  <analysis prompt>\\n\\nInput: <user text>
    task:      <task description, labels, output format>\\n\\n
               Input: <demo>\\nOutput: <answer>   (k demos, blank line between)\\n\\n
               Input: <user text>\\nOutput:

How texts meet instructions is undocumented upstream. Ours: each text gets ``instructions_per_text``
instructions; each is an analysis prompt with probability ``analysis_fraction`` (else a task); the perspective is
drawn among the clusters of the text's own attributes (``routing='attributes'``; uniform when it has none) and k
demos are drawn from the task's synthetic demos plus its spec examples. Every choice is seeded per text, so a
rerun produces the same rows.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..data import row_id
from .tasks import instruction_text


def analysis_message(prompt: str, text: str) -> str:
    return f"{prompt}\n\nInput: {text}"


def task_message(task: dict, demos: Sequence[dict], text: str) -> str:
    shots = "".join(f"Input: {d['input']}\nOutput: {d['output']}\n\n" for d in demos)
    return f"{instruction_text(task)}\n\n{shots}Input: {text}\nOutput:"


def assemble(
    texts: Sequence[dict],
    perspectives: Sequence[dict],
    analysis_prompts: Sequence[dict],
    tasks: Sequence[dict],
    demos: Sequence[dict],
    *,
    instructions_per_text: int,
    analysis_fraction: float,
    k_demos: int,
    routing: str = "attributes",
    text_attributes: dict[str, set[str]] | None = None,
    seed: int = 42,
) -> list[dict]:
    """Instruction rows: ``id, text_id, text, domain, perspective_id, task_id, instruction_type, task_name,
    instruction_id, demo_ids, messages`` (see the module docstring for the formats)."""
    prompts_by_p: dict[str, list[dict]] = {}
    for p in analysis_prompts:
        prompts_by_p.setdefault(p["perspective_id"], []).append(p)
    tasks_by_p: dict[str, list[dict]] = {}
    for t in tasks:
        tasks_by_p.setdefault(t["perspective_id"], []).append(t)
    pool: dict[str, list[dict]] = {}
    for d in demos:
        pool.setdefault(d["task_id"], []).append(d)
    for t in tasks:  # spec examples are demos too (upstream: <=32 synthetic + <=7 spec examples)
        for j, ex in enumerate(t["examples"]):
            pool.setdefault(t["id"], []).append({"id": row_id("spec-example", t["id"], j), **ex})
    usable = [p["id"] for p in perspectives if p["id"] in prompts_by_p or p["id"] in tasks_by_p]
    if not usable:
        return []
    member_of = {name: p["id"] for p in perspectives for name in p["members"]}
    rows: list[dict] = []
    for text in texts:
        rng = random.Random(f"{seed}:{text['id']}")
        candidates = usable
        if routing == "attributes" and text_attributes:
            own = sorted({member_of[a] for a in text_attributes.get(text["id"], ()) if a in member_of} & set(usable))
            candidates = own or usable
        seen: set[str] = set()
        for _ in range(instructions_per_text * 4):  # a few extra draws to avoid repeating an instruction
            if len(seen) >= instructions_per_text:
                break
            pid = rng.choice(candidates)
            want_analysis = rng.random() < analysis_fraction
            if (want_analysis and prompts_by_p.get(pid)) or not tasks_by_p.get(pid):
                prompt = rng.choice(prompts_by_p[pid])
                key = prompt["id"]
                if key in seen:
                    continue
                seen.add(key)
                content = analysis_message(prompt["prompt"], text["text"])
                task, shots = None, []
            else:
                task = rng.choice(tasks_by_p[pid])
                key = task["id"]
                if key in seen:
                    continue
                seen.add(key)
                available = pool.get(task["id"], [])
                shots = rng.sample(available, k=min(k_demos, len(available)))
                content = task_message(task, shots, text["text"])
            rows.append(
                {
                    "id": row_id("instruction", text["id"], key, [d["id"] for d in shots]),
                    "text_id": text["id"],
                    "text": text["text"],
                    "domain": text.get("domain"),
                    "perspective_id": pid,
                    "task_id": task["id"] if task else None,
                    "instruction_type": "task" if task else "analysis",
                    "task_name": task["task_name"] if task else "analysis",
                    "instruction_id": key,
                    "demo_ids": [d["id"] for d in shots],
                    "messages": [{"role": "user", "content": content}],
                }
            )
    return rows
