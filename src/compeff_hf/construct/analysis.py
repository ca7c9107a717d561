"""Sub-stage 4: open-ended analysis prompts for each perspective.

One request per perspective lists its attribute names and explains the top ones; the answer is a numbered list,
one prompt per line. As upstream, a short "Header:" before the prompt is dropped (``Emotional depth: What ...``).
"""

from __future__ import annotations

import re

from ..errors import ParseError
from . import prompts

_NUMBERED = re.compile(r"^\s*(?:\d{1,3}\s*[.)]|[-*•])\s*(.*)$")
_MIN_WORDS, _MAX_CHARS = 4, 400
# A "Header:" never starts like a prompt does; these first words mark the colon as part of the prompt.
_LEADS = {"what", "how", "which", "why", "who", "whom", "whose", "when", "where", "does", "do", "is", "are", "can",
          "please", "analyze", "analyse", "identify", "explain", "describe", "assess", "evaluate", "list"}  # fmt: skip

SEED_ANALYSIS_PROMPTS = (
    "Analyze the {attribute} expressed in this text and point to the words that reveal it.",
    "What does this text reveal about its {attribute}? Explain your reasoning.",
    "Identify every expression of {attribute} in this text and describe how strong each one is.",
    "How does the {attribute} of this text shape the overall sentiment it conveys?",
)


def format_input(top_n: int, n_prompts: int, style: str = "chat"):
    """A ``format_input(row)`` for a perspective row (``members``, ``member_descriptions``)."""

    def fmt(row: dict) -> list[dict] | str:
        described = [(m, d) for m, d in zip(row["members"], row["member_descriptions"], strict=False) if d][:top_n]
        return prompts.request("analysis", style, attributes=row["members"], described=described, n=n_prompts)

    return fmt


def _strip_header(line: str) -> str:
    head, sep, tail = line.partition(":")
    words = head.split()
    is_header = 0 < len(words) <= 6 and not any(c in head for c in "?\"'“”") and words[0].lower() not in _LEADS
    if sep and tail.strip() and is_header:
        return tail.strip()
    return line


def parse_prompts(text: str | None, max_prompts: int = 10) -> list[str]:
    """Numbered/bulleted lines -> prompts (deduplicated, 4+ words, at most 400 characters)."""
    if text is None or not str(text).strip():
        raise ParseError("empty generation")
    # The template ends with "1." so a continuation may start mid-item: treat a first unnumbered line as item 1.
    lines = [ln for ln in str(text).splitlines() if ln.strip()]
    out: list[str] = []
    seen: set[str] = set()
    for i, line in enumerate(lines):
        match = _NUMBERED.match(line)
        if match:
            body = match.group(1)
        elif i == 0:
            body = line
        else:
            continue
        body = re.sub(r"[*_`]+", "", body).strip().strip("\"'“”")
        body = _strip_header(body)
        key = body.lower()
        if len(body.split()) < _MIN_WORDS or len(body) > _MAX_CHARS or key in seen:
            continue
        seen.add(key)
        out.append(body)
        if len(out) >= max_prompts:
            break
    if not out:
        raise ParseError("no numbered prompt of 4 or more words found")
    return out


def parse_output(max_prompts: int):
    """A ``parse_output(generation, row)`` for `run_task`: returns ``{"prompts": [...]}``."""

    def parse(generation: str, row: dict) -> dict:
        return {"prompts": parse_prompts(generation, max_prompts=max_prompts)}

    return parse


def seed_prompts(attribute: str, n: int) -> list[str]:
    """Fallback prompts around a perspective's top attribute (written for this toolkit)."""
    return [p.format(attribute=attribute) for p in SEED_ANALYSIS_PROMPTS[:n]]
