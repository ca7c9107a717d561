"""Decontamination summaries as text: one line per stage (CLI, run report) and a markdown section (report, card)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EXAMPLES_SHOWN = 5


def headline(summary: Mapping[str, Any] | None) -> str:
    """One sentence: what was checked against what, and what matched, per evaluation set."""
    if not summary:
        return "not recorded"
    if not summary.get("enabled"):
        return "off (decontaminate: false)"
    phases = summary.get("phases") or {}
    checked = ", ".join(f"{p['rows_checked']} {name}" for name, p in phases.items()) or "no rows"
    sets = summary.get("eval_sets") or {}
    counts = ", ".join(f"{k} {v}" for k, v in (summary.get("per_test_set") or {}).items() if v)
    verb = "dropped" if summary.get("action") == "drop" else "flagged"
    return (
        f"checked {checked} against {len(sets)} evaluation sets ({summary.get('ngram')}-word overlap; test texts "
        f"under {summary.get('ngram')} words matched whole): {_rows(summary.get('rows_matched', 0))} matched and "
        f"{verb}" + (f" ({counts})" if counts else "")
    )


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def markdown(by_stage: Mapping[str, Mapping[str, Any] | None]) -> str:
    """A markdown block: one line per stage, then a few matched examples."""
    lines = [f"- **{stage}**: {headline(summary)}." for stage, summary in by_stage.items()]
    examples = [
        (stage, phase, ex)
        for stage, summary in by_stage.items()
        for phase, p in ((summary or {}).get("phases") or {}).items()
        for ex in p.get("examples") or []
    ]
    if examples:
        lines += ["", "| stage | rows | row id | field | test set (item) | match | shared words |", "| --- " * 7 + "|"]
        for stage, phase, ex in examples[:EXAMPLES_SHOWN]:
            overlap = str(ex["overlap"]).replace("|", "\\|")
            lines.append(
                f"| {stage} | {phase} | `{ex['row_id']}` | {ex['field']} | {ex['test_set']} ({ex['test_index']}) | "
                f"{ex['kind']} | {overlap} |"
            )
    return "\n".join(lines)
