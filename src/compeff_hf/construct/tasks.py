"""Sub-stage 5: task ideation per perspective, then normalisation of each idea into an explicit task spec.

Ideation answers a JSON list of ``{"task_name", "task_description"}``; weak generators wrap it in code fences, cut
it off, or write a markdown list instead, and all of those are recovered. A spec answer has labelled sections
(``Task Name:``, ``Task Description:``, ``Labels:``, ``Output Format:``, ``Task Examples:`` with ``Input:`` /
``Output:`` pairs). Tasks that read two texts are dropped, as upstream does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ..data import row_id
from ..errors import ParseError
from . import prompts

TASK_TYPES = ("classification", "rating", "extraction", "structured", "open")

# ------------------------------------------------------------------------------------------------- ideation


def ideation_input(n_tasks: int, style: str = "chat"):
    """A ``format_input(row)`` for a perspective row."""

    def fmt(row: dict) -> list[dict] | str:
        return prompts.request(
            "ideation",
            style,
            attribute=row["top_attribute"],
            description=row["top_description"] or "no description",
            related=row["members"][1:8] or ["none"],
            n=n_tasks,
        )

    return fmt


def _strip_fences(text: str) -> str:
    return re.sub(r"```[a-zA-Z]*", "", text)


def close_brackets(text: str) -> str:
    """Close the brackets and the string a truncated JSON value left open (outside strings only)."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}" and stack and stack[-1] == ch:
            stack.pop()
    tail = '"' if in_string else ""
    return text + tail + "".join(reversed(stack))


def _loads_lenient(blob: str):
    for candidate in (blob, re.sub(r",\s*([\]}])", r"\1", blob), close_brackets(blob)):
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    repaired = re.sub(r",\s*([\]}])", r"\1", close_brackets(re.sub(r",\s*$", "", blob.rstrip())))
    return json.loads(repaired)  # may raise; callers fall back


def _idea(item) -> dict | None:
    if not isinstance(item, dict):
        return None
    lowered = {str(k).lower().replace(" ", "_"): v for k, v in item.items()}
    name = lowered.get("task_name") or lowered.get("name") or lowered.get("task")
    desc = lowered.get("task_description") or lowered.get("description") or lowered.get("definition")
    if not isinstance(name, str) or not isinstance(desc, str):
        return None
    name, desc = " ".join(name.split()), " ".join(desc.split())
    if not name or len(desc.split()) < 3:
        return None
    return {"task_name": name[:120], "task_description": desc[:1000]}


def parse_ideas(text: str | None, max_tasks: int = 10) -> list[dict]:
    """Task ideas from an ideation answer: a JSON list (possibly fenced, truncated, with trailing commas), else
    JSON objects found one by one, else a markdown list ``1. **Name**: description``."""
    if text is None or not str(text).strip():
        raise ParseError("empty generation")
    body = _strip_fences(str(text))
    items: list = []
    start = body.find("[")
    if start >= 0:
        end = body.rfind("]")
        blob = body[start : end + 1] if end > start else body[start:]
        try:
            parsed = _loads_lenient(blob)
            items = parsed if isinstance(parsed, list) else [parsed]
        except json.JSONDecodeError:
            items = []
    if not any(_idea(i) for i in items):
        items = []
        for match in re.finditer(r"\{[^{}]*\}", body):
            try:
                items.append(json.loads(re.sub(r",\s*}", "}", match.group(0))))
            except json.JSONDecodeError:
                continue
    ideas = [i for i in (_idea(x) for x in items) if i]
    if not ideas:
        for line in body.splitlines():
            # "Name: description", "Name - description" or "Name | description" (the completion prompt's form); a
            # hyphen inside a word ("closed-set") is not a separator.
            m = re.match(r"^\s*(?:\d{1,3}[.)]|[-*•])\s*\**([^:*|]{3,80}?)\**(?:\s*[:|]|\s+[-–])\s+(.+)$", line)
            if m:
                idea = _idea({"task_name": m.group(1), "task_description": m.group(2)})
                if idea:
                    ideas.append(idea)
    unique, seen = [], set()
    for idea in ideas:
        # Two names for one description is one task (small models repeat a description under new names).
        keys = {idea["task_name"].lower(), " ".join(idea["task_description"].lower().split())}
        if not keys & seen:
            seen |= keys
            unique.append(idea)
    if not unique:
        raise ParseError("no task with a name and a description found (expected a JSON list)")
    return unique[:max_tasks]


def ideation_output(max_tasks: int):
    def parse(generation: str, row: dict) -> dict:
        return {"ideas": parse_ideas(generation, max_tasks=max_tasks)}

    return parse


# ---------------------------------------------------------------------------------------------- spec parsing

_IO = re.compile(r"(?:\*\*)?\b(?:task\s+)?(input|output)\b\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?", re.IGNORECASE)
_SECTION = re.compile(
    r"^\s*(?:\d{1,2}\s*[.)]\s*)?[#*\s]*"
    r"(task name|task type|task description|description|labels?|label set|allowed labels|output format|"
    r"task examples|examples)\s*(?:\*\*)?\s*[:：]?\s*(?:\*\*)?\s*(.*)$",
    re.IGNORECASE,
)
_SECTION_KEYS = {
    "task name": "name",
    "task type": "type",
    "task description": "description",
    "description": "description",
    "label": "labels",
    "labels": "labels",
    "label set": "labels",
    "allowed labels": "labels",
    "output format": "output_format",
    "task examples": "examples",
    "examples": "examples",
}


# An enumerator on its own line ("2." / "Example 3:") that belongs to the next instance.
_ENUMERATOR = re.compile(r"\n\s*(?:[-*#]+\s*)?(?:example\s*)?\d{0,2}\s*[.):]?\s*(?:\*\*)?\s*$", re.IGNORECASE)


def _clean_field(value: str) -> str:
    value = value.strip()
    value = re.sub(r"^```[a-zA-Z]*\s*|\s*```$", "", value)
    value = re.sub(r"^\s*[-*•]\s+", "", value)
    value = value.strip().strip("*").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'“":
        value = value[1:-1].strip()
    if value[:1] in "[{":
        value = close_brackets(value)
    return value


def parse_io_pairs(text: str) -> list[dict]:
    """``Input: ... Output: ...`` pairs (inline or on separate lines, optionally bold or ``Task Input``).

    An input without an output (or the reverse) is not paired; code fences, bullets and quotes are removed and a
    JSON output cut off mid-way gets its brackets closed.
    """
    marks = list(_IO.finditer(text))
    pairs = []
    for i, mark in enumerate(marks):
        if mark.group(1).lower() != "input" or i + 1 >= len(marks) or marks[i + 1].group(1).lower() != "output":
            continue
        out_end = marks[i + 2].start() if i + 2 < len(marks) else len(text)
        inp = _clean_field(text[mark.end() : marks[i + 1].start()])
        out = _clean_field(text[marks[i + 1].end() : out_end])
        # Drop trailing enumerators ("2." / "Example 3:") that belong to the next instance.
        inp, out = _ENUMERATOR.sub("", inp).strip(), _ENUMERATOR.sub("", out).strip()
        out = out.split("\n\n")[0].strip()
        if inp and out:
            pairs.append({"input": inp, "output": out})
    return pairs


def _labels(value: str) -> list[str]:
    value = value.strip().strip(".").strip("[]")
    if not value or value.lower() in ("none", "n/a", "na", "open", "open-set", "free text", "-"):
        return []
    parts = re.split(r"\s*(?:,|\||;|\bor\b)\s*", value)
    labels = [p.strip().strip("\"'`*").strip() for p in parts]
    return [lb for lb in dict.fromkeys(labels) if lb and len(lb.split()) <= 5]


def infer_type(description: str, labels: Sequence[str]) -> str:
    text = description.lower()
    if "json" in text or "schema" in text:
        return "structured"
    if re.search(r"\b(rate|rating|score|scale)\b", text):
        return "rating"
    if re.search(r"\bextract", text):
        return "extraction"
    if labels or re.search(r"\bclassif", text):
        return "classification"
    return "open"


def parse_spec(text: str | None, max_examples: int = 7) -> dict:
    """A normalised task spec: ``name, type, description, labels, output_format, examples``.

    Needs a description of 5+ words and at least one example or an output format; otherwise ParseError.
    """
    if text is None or not str(text).strip():
        raise ParseError("empty generation")
    sections: dict[str, list[str]] = {}
    current = None
    for line in str(text).splitlines():
        m = _SECTION.match(line)
        if m and (m.group(2).strip() or m.group(1).lower() in ("task examples", "examples", "task description")):
            current = _SECTION_KEYS[m.group(1).lower()]
            if current not in sections:  # a second "Task Name:" is the model starting over: ignore it
                sections[current] = [m.group(2)]
                continue
            current = "_ignored"
            sections.setdefault(current, [])
            continue
        if current:
            sections.setdefault(current, []).append(line)
    get = {k: "\n".join(v).strip() for k, v in sections.items()}
    description = " ".join(get.get("description", "").split())
    examples_text = get.get("examples") or ""
    examples = parse_io_pairs(examples_text)[:max_examples]
    labels = _labels(get.get("labels", "").splitlines()[0] if get.get("labels") else "")
    output_format = " ".join(get.get("output_format", "").split())
    if len(description.split()) < 5:
        raise ParseError("no task description of 5 or more words")
    if not examples and not output_format:
        raise ParseError("neither examples nor an output format")
    declared = get.get("type", "").split("\n")[0].strip().lower()
    declared = next((t for t in TASK_TYPES if t in declared), None)
    return {
        "name": " ".join(get.get("name", "").split()).strip("*")[:120],
        "type": declared or infer_type(description + " " + output_format, labels),
        "description": description[:1500],
        "labels": labels,
        "output_format": output_format[:500],
        "examples": examples,
    }


def spec_input(n_examples: int, style: str = "chat"):
    """A ``format_input(row)`` for a task-idea row (``task_name``, ``task_description``)."""

    def fmt(row: dict) -> list[dict] | str:
        return prompts.request(
            "task_spec",
            style,
            task_name=row["task_name"],
            task_description=row["task_description"],
            n_examples=n_examples,
        )

    return fmt


def spec_output(max_examples: int, two_text_markers: Sequence[str]):
    def parse(generation: str, row: dict) -> dict:
        spec = parse_spec(generation, max_examples=max_examples)
        marker = two_text_marker({**spec, "name": spec["name"] or row["task_name"]}, two_text_markers)
        if marker:
            raise ParseError(f"two-text task (mentions {marker!r})")
        return {"spec": spec}

    return parse


def two_text_marker(task: dict, markers: Sequence[str]) -> str | None:
    """The first two-text marker whose members all appear in a task's examples, or None.

    A marker is a pair such as ``"review 1|review 2"`` (both members must appear, case-insensitive, as whole words)
    or a single phrase. Like the official filter (6_extract_task_prompts.py) only the examples are read: "Give the
    review a rating" in a description is a single-text task.
    """
    blob = " ".join(f"{e.get('input', '')} {e.get('output', '')}" for e in task.get("examples", [])).lower()
    for marker in markers:
        members = [m.strip().lower() for m in marker.split("|") if m.strip()]
        if members and all(re.search(r"(?<![a-z0-9])" + re.escape(m) + r"(?![a-z0-9])", blob) for m in members):
            return marker
    return None


def instruction_text(task: dict) -> str:
    """The instruction a user sees for a task: description, label set and output format."""
    parts = [task["description"]]
    if task.get("labels") and not any(lb.lower() in task["description"].lower() for lb in task["labels"][:1]):
        parts.append("Labels: " + ", ".join(task["labels"]) + ".")
    if task.get("output_format") and task["output_format"].lower() not in task["description"].lower():
        parts.append("Output format: " + task["output_format"])
    return "\n".join(parts)


def task_row(perspective_id: str, spec: dict, source: str, idea: dict | None = None) -> dict:
    """A row of the `tasks` dataset (``id`` hashes perspective, name and description)."""
    name = spec.get("name") or (idea or {}).get("task_name") or "task"
    return {
        "id": row_id("task", perspective_id, name, spec["description"]),
        "perspective_id": perspective_id,
        "task_name": name,
        "task_type": spec["type"],
        "description": spec["description"],
        "labels": list(spec.get("labels", [])),
        "output_format": spec.get("output_format", ""),
        "examples": list(spec.get("examples", [])),
        "source": source,
        "idea_name": (idea or {}).get("task_name"),
        "idea_description": (idea or {}).get("task_description"),
    }


# ------------------------------------------------------------------------------------------- fallback seeds


def seed_specs(attribute: str, values: Sequence[str]) -> list[dict]:
    """Task specs written for this toolkit, used when the generator yields too few tasks for a perspective."""
    labels = [v for v in dict.fromkeys(v.strip().lower() for v in values) if v and len(v.split()) <= 3][:6]
    if len(labels) < 2:
        labels = ["positive", "negative", "neutral"]
    key = re.sub(r"\W+", "_", attribute.lower()).strip("_") or "attribute"
    return [
        {
            "name": f"{attribute.title()} Classification",
            "type": "classification",
            "description": f"Classify the {attribute} of the text. Answer with exactly one label.",
            "labels": labels,
            "output_format": "one label from the list, lower case",
            "examples": [],
        },
        {
            "name": f"{attribute.title()} Rating",
            "type": "rating",
            "description": f"Rate the {attribute} of the text on a scale from 1 (very low) to 5 (very high).",
            "labels": [],
            "output_format": "a single integer from 1 to 5",
            "examples": [],
        },
        {
            "name": f"{attribute.title()} Evidence Extraction",
            "type": "extraction",
            "description": f"Extract the words or phrases of the text that express its {attribute}, verbatim.",
            "labels": [],
            "output_format": 'a JSON list of strings copied from the text, e.g. ["phrase one", "phrase two"]',
            "examples": [],
        },
        {
            "name": f"{attribute.title()} Profile",
            "type": "structured",
            "description": f"Describe the {attribute} of the text as a JSON object with a value, evidence "
            "quoted from the text, and your confidence.",
            "labels": [],
            "output_format": f'{{"{key}": "<short value>", "evidence": "<quote>", "confidence": "low|medium|high"}}',
            "examples": [],
        },
    ]
