"""Progress bars with counts and rates (tqdm), quiet when COMPEFF_HF_NO_PROGRESS is set."""

from __future__ import annotations

import os
from typing import Any

from tqdm.auto import tqdm


def progress(total: int | None = None, desc: str = "", unit: str = "row", initial: int = 0, **kwargs: Any) -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        initial=initial,
        dynamic_ncols=True,
        mininterval=0.5 if os.isatty(2) else 10.0,  # CI logs: a line every 10 s, not a flood
        disable=bool(os.environ.get("COMPEFF_HF_NO_PROGRESS")),
        **kwargs,
    )
