"""Sub-stages 1-2: ask the generator for a text's sentiment-related attributes and parse them into triplets.

The expected answer is a numbered list ``N. **Name**: Attribute Description - ... Attribute Value - ...`` (the
official format). Generators drift from it, so the parser also accepts ``**Name**`` followed by indented
``- Attribute Description: ...`` lines, ``Attribute: Name`` blocks and plain ``- Name: value`` bullets. Anything
else is not guessed at: an answer without a single list item raises :class:`ParseError` and is kept aside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ParseError
from . import prompts

# A list item starts with "1." / "1)" / "-" / "*" / "•", or with an "Attribute:" header.
_ITEM = re.compile(r"^\s*(?:\d{1,3}\s*[.)]|[-*•]|attribute\s*\d*\s*:)\s*", re.IGNORECASE)
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_DESC = re.compile(
    r"(?:attribute\s+)?description\s*[:\-–—]\s*(.+?)(?=(?:[.;,]?\s*[-*]?\s*(?:attribute\s+)?value\s*[:\-–—])|$)",
    re.IGNORECASE | re.DOTALL,
)
_VALUE = re.compile(r"(?:attribute\s+)?value\s*[:\-–—]\s*(.+)$", re.IGNORECASE | re.DOTALL)
_SUBLINE = re.compile(r"^\s*[-*•]?\s*(?:attribute\s+)?(?:description|value)\s*[:\-–—]", re.IGNORECASE)
_MAX_FIELD_CHARS = 300


@dataclass
class Triplet:
    name: str
    description: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "description": self.description, "value": self.value}


def format_input(style: str = "chat"):
    """A ``format_input(row)`` for a text row (``text``): chat messages, or a raw prompt for ``completion``."""

    def fmt(row: dict) -> list[dict] | str:
        request = prompts.request("attributes", style, text=row["text"])
        if style == "chat":  # the official prompt ends in "Attribute: " (render() strips the trailing space)
            request[0]["content"] += " "
        return request

    return fmt


def _clean(value: str) -> str:
    value = re.sub(r"[*_`]+", "", value)
    value = re.sub(r"\s+", " ", value).strip(" \t.;,-–—:\"'")
    return value[:_MAX_FIELD_CHARS]


def _blocks(text: str) -> list[list[str]]:
    """Split an answer into list items: an item line plus its continuation lines (indented sub-bullets)."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if _ITEM.match(line) and not (blocks and _SUBLINE.match(line)):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    return blocks


def _parse_block(lines: list[str]) -> Triplet | None:
    head = _ITEM.sub("", lines[0], count=1)
    body = " ".join([head, *(line.strip() for line in lines[1:])])
    bold = _BOLD.search(head)
    if re.match(r"^\s*attribute\s*\d*\s*:", lines[0], re.IGNORECASE) and not bold and ":" not in head:
        name, rest = head, body[len(head) :]  # an "Attribute: Name" header line holds the name alone
    elif bold:
        name = bold.group(1) or bold.group(2)
        rest = body[body.find(bold.group(0)) + len(bold.group(0)) :]
    elif ":" in head:
        name, _, _ = head.partition(":")
        rest = body[len(name) + 1 :]
    elif " - " in head:
        name, _, _ = head.partition(" - ")
        rest = body[len(name) + 3 :]
    else:
        return None  # a bare sentence: no way to tell name from value
    name = _clean(name)
    if len(name) > 80:
        return None  # a sentence before a colon, not a name
    if not name or re.fullmatch(r"(?:attribute\s+)?(?:description|value)", name, re.IGNORECASE):
        return None
    rest = rest.strip().lstrip(":").strip()
    desc_match, value_match = _DESC.search(rest), _VALUE.search(rest)
    if desc_match or value_match:
        description = _clean(desc_match.group(1)) if desc_match else ""
        value = _clean(value_match.group(1)) if value_match else ""
    else:  # "- Tone: sarcastic" carries a value but no description
        description, value = "", _clean(rest)
    return Triplet(name=name, description=description, value=value)


def parse_triplets(text: str | None, max_items: int = 40) -> list[Triplet]:
    """Parse an enumeration answer into (name, description, value) triplets; raise ParseError if none."""
    if text is None or not str(text).strip():
        raise ParseError("empty generation")
    triplets = []
    for block in _blocks(str(text)):
        triplet = _parse_block(block)
        if triplet is not None:
            triplets.append(triplet)
        if len(triplets) >= max_items:
            break
    if not triplets:
        raise ParseError("no attribute list item found (expected lines like '1. **Name**: Attribute Description ...')")
    return triplets


def parse_output(max_items: int = 40):
    """A ``parse_output(generation, row)`` for `run_task`: returns ``{"triplets": [...]}``."""

    def parse(generation: str, row: dict) -> dict:
        return {"triplets": [t.to_dict() for t in parse_triplets(generation, max_items=max_items)]}

    return parse
