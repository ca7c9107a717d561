"""The DAG of a stage's distilabel Pipeline, read from its ``pipeline.yaml`` (no distilabel import needed).

Used by dataset cards: the stage card and the card ``publish`` writes show each stage's steps and connections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_dag(pipeline_yaml: str | Path) -> dict[str, Any]:
    """``{"name", "steps": [(name, class)], "edges": [(from, to)]}`` from a serialised distilabel pipeline."""
    text = Path(pipeline_yaml).read_text(encoding="utf-8") if isinstance(pipeline_yaml, Path) else pipeline_yaml
    dump = (yaml.safe_load(text) or {}).get("pipeline") or {}
    steps = [
        (s["name"], ((s.get("step") or {}).get("type_info") or {}).get("name", "?")) for s in dump.get("steps", [])
    ]
    edges = [(c["from"], to) for c in dump.get("connections", []) for to in c.get("to", [])]
    return {"name": dump.get("name"), "steps": steps, "edges": edges}


def dag_markdown(pipeline_yaml: str | Path, title: str | None = None) -> str:
    """A Markdown section: a Mermaid flowchart of the DAG plus the step classes (the Hub renders Mermaid)."""
    dag = read_dag(pipeline_yaml)
    lines = ["```mermaid", "flowchart LR"]
    lines += [f"  {a} --> {b}" for a, b in dag["edges"]] or [f"  {n}" for n, _ in dag["steps"]]
    lines.append("```")
    classes = ", ".join(f"`{n}` ({cls})" for n, cls in dag["steps"])
    head = f"### {title}\n\n" if title else ""
    return f"{head}distilabel pipeline `{dag['name']}`; steps: {classes}.\n\n" + "\n".join(lines) + "\n"
