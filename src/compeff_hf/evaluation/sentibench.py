"""Entry point of `compeff-hf eval`."""

from __future__ import annotations

from ..errors import StageNotBuiltError


def main(config) -> int:
    raise StageNotBuiltError("the eval stage is not built yet (issue #7)")
