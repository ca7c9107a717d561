"""Entry point of `compeff-hf construct`."""

from __future__ import annotations

from ..errors import StageNotBuiltError


def main(config) -> int:
    raise StageNotBuiltError("the construct stage is not built yet (issue #4)")
