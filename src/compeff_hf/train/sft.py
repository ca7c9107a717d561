"""Entry point of `compeff-hf train` (and of recipes/sft.py)."""

from __future__ import annotations

from ..errors import StageNotBuiltError


def main(*configs) -> int:
    raise StageNotBuiltError("the train stage is not built yet (issue #6)")
