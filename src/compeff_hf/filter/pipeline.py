"""Entry point of `compeff-hf filter`."""

from __future__ import annotations

from ..errors import StageNotBuiltError


def main(config) -> int:
    raise StageNotBuiltError("the filter stage is not built yet (issue #5)")
