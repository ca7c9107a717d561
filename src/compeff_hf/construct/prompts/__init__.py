"""Prompt templates of the construct stage, written for this toolkit (Jinja2, one file per request kind).

They are package data so that a run records exactly which wording produced its dataset: `templates()` returns
every template's text for the dataset card and the stage summary.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

NAMES = ("attributes", "analysis", "ideation", "task_spec", "demos")


@cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("compeff_hf.construct", "prompts"),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string in a prompt
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **variables: Any) -> str:
    """Render the template ``<name>.jinja`` with ``variables``."""
    return _environment().get_template(f"{name}.jinja").render(**variables).strip()


def templates() -> dict[str, str]:
    """The raw text of every template, keyed by name (recorded in the summary and the dataset card)."""
    root = resources.files("compeff_hf.construct").joinpath("prompts")
    return {name: root.joinpath(f"{name}.jinja").read_text(encoding="utf-8") for name in NAMES}
