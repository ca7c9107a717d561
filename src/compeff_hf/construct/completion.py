"""Base-model prompting (``prompt_format: completion``): parse the open slot plus the continuation, drop copies.

A completion prompt is a few-shot document ending in an open slot (``Task Name: X\\nTask Type:``). Its parser
reads the slot followed by what the model wrote, so the usual parsers apply unchanged. Small base models like to
repeat the worked examples verbatim: such items are dropped here (and counted as rejects when nothing else is
left) rather than entering the dataset as if they were new.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ParseError
from . import prompts

# Where a continuation ends: the slot's paragraph, except demos, whose instances are separated by blank lines.
STOPS: dict[str, list[str]] = {"demos": ["\n\n\n", "\nTask:", "\nReal texts"]}
DEFAULT_STOP = ["\n\n"]


def stops(substage: str) -> list[str]:
    return STOPS.get(substage, DEFAULT_STOP)


def _squash(text: Any) -> str:
    return " ".join(str(text).lower().split())


def drop_copies(substage: str, parsed: dict, examples_text: str, slot: str = "") -> dict:
    """``parsed`` without the items that repeat the prompt's worked examples (``examples_text``).

    Analysis prompts are also dropped when they merely repeat the slot (the perspective's attribute list).
    """
    context = _squash(examples_text)

    def copied(text: Any) -> bool:
        squashed = _squash(text)
        return bool(squashed) and squashed in context

    if substage == "ideas":
        kept = [i for i in parsed["ideas"] if not copied(i["task_name"])]
        if not kept:
            raise ParseError("every task idea repeats one of the prompt's worked examples")
        return {**parsed, "ideas": kept}
    if substage == "analysis":
        kept = [p for p in parsed["prompts"] if not copied(p) and _squash(p) not in _squash(slot)]
        if not kept:
            raise ParseError("every analysis prompt repeats one of the prompt's worked examples")
        return {**parsed, "prompts": kept}
    if substage == "tasks":
        spec = parsed["spec"]
        if copied(spec["description"]):
            raise ParseError("the task description repeats the prompt's worked example")
        examples = [e for e in spec["examples"] if not copied(e["input"])]
        if not examples and not spec["output_format"]:
            raise ParseError("every task example repeats the prompt's worked examples")
        return {**parsed, "spec": {**spec, "examples": examples}}
    return parsed


def parser(
    substage: str, format_input: Callable[[dict], Any], parse_output: Callable[[str, dict], dict]
) -> Callable[[str, dict], dict]:
    """Wrap a sub-stage's ``parse_output`` for completion prompts (see the module docstring)."""

    def parse(generation: str, row: dict) -> dict:
        prompt = format_input(row)
        if not isinstance(prompt, str):
            raise TypeError(f"{substage}: completion parsing needs a raw prompt, got {type(prompt).__name__}")
        if not (generation or "").strip():
            raise ParseError("empty generation")
        slot = prompts.primer(prompt)
        parsed = parse_output(slot + generation, row)
        return drop_copies(substage, parsed, prompt[: len(prompt) - len(slot)], slot)

    return parse
