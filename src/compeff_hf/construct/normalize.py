"""Sub-stage 2b: normalise attribute names (the official rules) and keep the frequent ones.

Official rules (``clustering/collect_attr.py``), in this order, after lower-casing and stripping a leading
``attribute:``:

1. a name with ``:`` keeps the part before it (``tone: sarcastic`` -> ``tone``);
2. else a name with ``/`` splits into several names (``anger/frustration`` -> ``anger``, ``frustration``);
3. else a name containing ``use of `` keeps what follows (``use of sarcasm`` -> ``sarcasm``).

We add whitespace/markdown clean-up and reject names that are sentences rather than names (too many words) or
carry no letters; each rejection has a reason, so nothing disappears silently.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field


def _tidy(name: str) -> str:
    name = re.sub(r"[*_`#\"“”]+", "", name.lower())
    name = re.sub(r"\s+", " ", name)
    return name.strip(" \t.,;-–—'()[]")


def normalize_name(raw: str) -> list[str]:
    """Apply the official normalisation rules to one raw attribute name; may return 0, 1 or several names."""
    name = _tidy(raw)
    name = re.sub(r"^attribute\s*:\s*", "", name)
    if ":" in name:
        names = [name.split(":", 1)[0]]
    elif "/" in name:
        names = name.split("/")
    elif "use of " in name:
        names = [name.split("use of ", 1)[1]]
    else:
        names = [name]
    return [n for n in (_tidy(n) for n in names) if n]


def reject_reason(name: str, max_words: int) -> str | None:
    """Why a normalised name is not an attribute name, or None if it is acceptable."""
    if not re.search(r"[^\W\d_]", name):
        return "no letters in attribute name"
    if len(name.split()) > max_words:
        return f"attribute name longer than {max_words} words"
    return None


@dataclass
class AttributeStats:
    """Everything seen about one normalised attribute name."""

    name: str
    count: int = 0
    surface_forms: Counter = field(default_factory=Counter)
    descriptions: Counter = field(default_factory=Counter)
    values: Counter = field(default_factory=Counter)
    text_ids: set = field(default_factory=set)

    def top_description(self) -> str:
        # Upstream breaks ties at random; we take the alphabetically first so reruns agree.
        if not self.descriptions:
            return ""
        best = max(self.descriptions.values())
        return min(d for d, c in self.descriptions.items() if c == best)

    def to_row(self, min_count: int) -> dict:
        ranked = sorted(self.descriptions.items(), key=lambda kv: (-kv[1], kv[0]))
        return {
            "name": self.name,
            "count": self.count,
            "kept": self.count > min_count,
            "n_texts": len(self.text_ids),
            "surface_forms": [s for s, _ in sorted(self.surface_forms.items(), key=lambda kv: (-kv[1], kv[0]))],
            "top_description": self.top_description(),
            "top_descriptions": [d for d, _ in ranked[:3]],
            "top_values": [v for v, _ in sorted(self.values.items(), key=lambda kv: (-kv[1], kv[0]))[:5]],
        }


def build_vocabulary(
    items: Iterable[tuple[str, dict]], min_count: int, max_words: int = 6
) -> tuple[list[dict], list[dict]]:
    """Count normalised names over ``(text_id, triplet)`` pairs.

    Returns ``(vocabulary, rejected)``: one row per normalised name (sorted by count, then name) with
    ``kept = count > min_count``, and one row per rejected raw name with its reason.
    """
    stats: dict[str, AttributeStats] = {}
    rejected: list[dict] = []
    for text_id, triplet in items:
        raw = triplet.get("name") or ""
        names = normalize_name(raw)
        if not names:
            rejected.append({"text_id": text_id, "raw_name": raw, "reason": "empty attribute name"})
        for name in names:
            reason = reject_reason(name, max_words)
            if reason:
                rejected.append({"text_id": text_id, "raw_name": raw, "reason": reason})
                continue
            entry = stats.setdefault(name, AttributeStats(name))
            entry.count += 1
            entry.surface_forms[raw.strip()] += 1
            entry.text_ids.add(text_id)
            if triplet.get("description"):
                entry.descriptions[triplet["description"]] += 1
            if triplet.get("value"):
                entry.values[triplet["value"].lower()] += 1
    vocabulary = [s.to_row(min_count) for s in sorted(stats.values(), key=lambda s: (-s.count, s.name))]
    return vocabulary, rejected


def text_attribute_index(items: Iterable[tuple[str, dict]]) -> dict[str, set[str]]:
    """text_id -> the normalised attribute names found in that text (used to route texts to perspectives)."""
    index: dict[str, set[str]] = defaultdict(set)
    for text_id, triplet in items:
        index[text_id].update(normalize_name(triplet.get("name") or ""))
    return index


# The most frequent attributes of the official run (method.md, stage 3), with descriptions written for this toolkit.
SEED_ATTRIBUTES: list[tuple[str, str, list[str]]] = [
    ("tone", "The overall attitude the writer takes, e.g. formal, sarcastic, enthusiastic.", ["sarcastic", "warm"]),
    ("emotional intensity", "How strongly the writer's feelings come through.", ["high", "moderate", "low"]),
    (
        "overall sentiment",
        "Whether the text is positive, negative, mixed or neutral overall.",
        ["positive", "negative"],
    ),
    ("frustration level", "How annoyed or let down the writer seems.", ["high", "none"]),
    ("recommendation", "Whether the writer recommends the subject to others.", ["recommends", "advises against"]),
    ("sentiment polarity", "The direction of the opinion expressed.", ["positive", "negative", "neutral"]),
    ("sarcasm", "Whether the writer says the opposite of what they mean.", ["present", "absent"]),
    ("satisfaction", "How satisfied the writer is with what they describe.", ["satisfied", "dissatisfied"]),
]


def seed_vocabulary(existing: list[dict], target: int, min_count: int) -> list[dict]:
    """Seed attribute rows (``seed=True``) to bring the kept vocabulary up to ``target`` names."""
    have = {v["name"] for v in existing if v["kept"]}
    rows = []
    for name, description, values in SEED_ATTRIBUTES:
        if len(have) + len(rows) >= target:
            break
        if name in have:
            continue
        rows.append(
            {
                "name": name, "count": min_count + 1, "kept": True, "n_texts": 0, "surface_forms": [name],
                "top_description": description, "top_descriptions": [description], "top_values": values,
                "seed": True,
            }
        )  # fmt: skip
    return rows
