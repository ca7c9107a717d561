"""SentiBench metrics as `evaluate` modules shipped inside the package, loaded by path (they work offline).

Each sub-folder is a standalone `evaluate` module (``<name>/<name>.py``) that others can load the same way::

    import evaluate
    from compeff_hf.evaluation.metrics import metric_path

    evaluate.load(metric_path("macro_f1")).compute(predictions=["positive"], references=["positive"])
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

METRICS = ("macro_f1", "tuple_f1", "sentiment_graph_f1")


def metric_path(name: str) -> str:
    """The folder of a shipped metric, for ``evaluate.load``."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; shipped: {', '.join(METRICS)}")
    return str(Path(__file__).parent / name)


@cache
def load_metric(name: str) -> Any:
    """``evaluate.load`` of a shipped metric (cached per process)."""
    import evaluate

    return evaluate.load(metric_path(name))
