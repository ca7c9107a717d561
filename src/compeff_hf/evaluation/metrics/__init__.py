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
    """A shipped metric (cached per process): the same ``evaluate.Metric`` that ``evaluate.load(metric_path(name))``
    gives, instantiated from the package itself (no copy into evaluate's module cache, so the code that runs is
    the code that is tested)."""
    import importlib

    import evaluate

    module = importlib.import_module(f"{__name__}.{name}.{name}")
    metric_path(name)  # the name check
    [cls] = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, evaluate.Metric) and v is not evaluate.Metric
    ]
    return cls()
