"""Prompt templates of the construct stage, written for this toolkit (Jinja2, one file per request kind).

Two styles: ``chat`` (``<name>.jinja``, an instruction sent as a user message through the Messages API, for
instruction-tuned generators) and ``completion`` (``completion/<name>.jinja``, a few-shot document that a *base*
model continues, sent as a raw prompt through TGI's generate API). A base model given a chat-formatted instruction
mostly echoes it; given two worked examples and an open slot it writes a third.

They are package data so that a run records exactly which wording produced its dataset: `templates()` returns
every template's text for the dataset card and the stage summary.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

NAMES = ("attributes", "analysis", "ideation", "task_spec", "demos")
STYLES = ("chat", "completion")


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


def request(name: str, style: str, **variables: Any) -> list[dict] | str:
    """What to send for one request: chat messages (``chat``) or a raw prompt string (``completion``)."""
    if style == "chat":
        return [{"role": "user", "content": render(name, **variables)}]
    if style == "completion":
        return render(f"completion/{name}", **variables)
    raise ValueError(f"prompt style must be one of {STYLES}, got {style!r}")


def primer(prompt: str) -> str:
    """The open slot a completion prompt ends with (its last paragraph, e.g. ``Task Name: X\nTask Type:``).

    A base model's continuation only makes sense after it, so parsers read ``primer(prompt) + generation``.
    """
    return prompt[prompt.rfind("\n\n") + 2 :] if "\n\n" in prompt else prompt


def templates(style: str | None = None) -> dict[str, str]:
    """The raw text of the templates, keyed by name (recorded in the summary and the dataset card).

    ``style=None`` returns both styles (completion ones keyed ``completion/<name>``).
    """
    root = resources.files("compeff_hf.construct").joinpath("prompts")
    out = {}
    for st in STYLES if style is None else (style,):
        prefix = "" if st == "chat" else "completion/"
        out.update({prefix + n: root.joinpath(f"{prefix}{n}.jinja").read_text(encoding="utf-8") for n in NAMES})
    return out
