"""Entry point of `compeff-hf publish`."""

from __future__ import annotations

from ..errors import StageNotBuiltError


def main(config) -> int:
    raise StageNotBuiltError("the publish stage is not built yet (issue #8)")
