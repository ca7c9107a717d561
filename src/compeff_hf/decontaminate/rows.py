"""Check rows against an index: which rows hold an evaluation text, in which field, and the per-set counts.

:func:`decontaminate_rows` is the plain function a pipeline step wraps (rows in, rows out plus a report);
:func:`scan` is the core both it and the dataset path of the filter and `decontaminate` commands use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import RecipeError
from .index import Index, Match

DEFAULT_FIELDS = ("text", "instruction", "messages", "output", "input")
ACTIONS = ("drop", "flag")
FLAG_COLUMN = "contamination"  # flag mode: the names of the matched sets, comma-separated ("" when clean)
EXAMPLES_PER_SET = 3
EXCERPT_CHARS = 240


@dataclass
class Hit:
    field: str
    match: Match


@dataclass
class Decontamination:
    """What :func:`decontaminate_rows` returns: the rows to keep, the matched rows, and the report."""

    kept: list[dict[str, Any]]
    matched: list[dict[str, Any]]
    report: dict[str, Any]


def field_texts(value: Any) -> list[str]:
    """The texts a field holds: a string, the contents of chat turns, or the strings of a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return field_texts(value.get("content"))
    if isinstance(value, (list, tuple)):
        return [text for v in value for text in field_texts(v)]
    return []


def scan(columns: Mapping[str, Sequence[Any]], n_rows: int, index: Index) -> list[list[Hit]]:
    """For each row, the evaluation texts found in any of ``columns`` (field name -> one value per row)."""
    texts: list[str] = []
    owners: list[tuple[int, str]] = []
    for name, values in columns.items():
        for i, value in enumerate(values):
            for text in field_texts(value):
                texts.append(text)
                owners.append((i, name))
    hits: list[list[Hit]] = [[] for _ in range(n_rows)]
    for (i, name), matches in zip(owners, index.match(texts), strict=True):
        hits[i] += [Hit(name, m) for m in matches]
    return hits


def label(hits: Sequence[Hit], index: Index) -> str:
    """The matched set names of one row, in index order, comma-separated."""
    names = {h.match.set_name for h in hits}
    return ",".join(n for n in index.set_names if n in names)


def report(
    hits: Sequence[Sequence[Hit]],
    row_ids: Sequence[Any],
    index: Index,
    *,
    fields: Iterable[str],
    action: str,
    examples_per_set: int = EXAMPLES_PER_SET,
) -> dict[str, Any]:
    """Counts (rows checked, matched, dropped; rows per evaluation set and per kind of match) and examples."""
    per_set = dict.fromkeys(index.set_names, 0)
    by_kind = {"ngram": 0, "contained": 0, "exact": 0}
    examples: list[dict[str, Any]] = []
    shown = dict.fromkeys(index.set_names, 0)
    sets = {s.name: s for s in index.sets}
    for row_hits, rid in zip(hits, row_ids, strict=True):
        for name in {h.match.set_name for h in row_hits}:
            per_set[name] += 1
        for kind in {h.match.kind for h in row_hits}:
            by_kind[kind] += 1
        for h in row_hits:
            m = h.match
            if shown[m.set_name] >= examples_per_set:
                continue
            shown[m.set_name] += 1
            examples.append(
                {
                    "row_id": str(rid),
                    "field": h.field,
                    "test_set": m.set_name,
                    "test_index": m.test_index,
                    "kind": m.kind,
                    "overlap": _cut(m.overlap),
                    "test_text": _cut(sets[m.set_name].texts[m.test_index]),
                }
            )
    matched = sum(1 for row_hits in hits if row_hits)
    return {
        "rows_checked": len(hits),
        "rows_matched": matched,
        "rows_dropped": matched if action == "drop" else 0,
        "fields": list(fields),
        "per_test_set": per_set,
        "by_kind": by_kind,
        "examples": examples,
    }


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


def decontaminate_rows(
    rows: Sequence[dict[str, Any]],
    index: Index,
    fields: Sequence[str] = DEFAULT_FIELDS,
    *,
    action: str = "drop",
    id_field: str = "id",
) -> Decontamination:
    """Check ``fields`` of every row against ``index``.

    ``action='drop'``: ``kept`` holds the clean rows, unchanged. ``action='flag'``: ``kept`` holds every row with a
    ``contamination`` field naming the matched sets ("" when clean). Either way ``matched`` holds the matched rows
    (with ``contamination``) and ``report`` the counts and examples (see :func:`report`). Fields a row lacks are
    skipped; row ids come from ``id_field`` (the position when absent).
    """
    if action not in ACTIONS:
        raise RecipeError(f"decontaminate_action must be one of {ACTIONS}, got {action!r}")
    present = [f for f in fields if any(f in r for r in rows)]
    hits = scan({f: [r.get(f) for r in rows] for f in present}, len(rows), index)
    kept, matched = [], []
    for row, row_hits in zip(rows, hits, strict=True):
        flagged = {**row, FLAG_COLUMN: label(row_hits, index)}
        if row_hits:
            matched.append(flagged)
        if action == "flag":
            kept.append(flagged)
        elif not row_hits:
            kept.append(row)
    ids = [r.get(id_field, i) for i, r in enumerate(rows)]
    return Decontamination(kept, matched, report(hits, ids, index, fields=present, action=action))
