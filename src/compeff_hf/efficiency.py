"""Data-efficiency mode of `compeff-hf run`: train and evaluate at several keep ratios, difficulty vs random.

The scores are computed once by the filter stage (``<run>/filter/scored``); each (method, ratio) point only
re-selects rows, trains a student on them and evaluates it, so the curve costs no extra scoring or teacher calls.
Every point lives in ``<run>/efficiency/<method>-<ratio>/`` and is skipped when already finished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .data import load_rows
from .errors import CompEffError
from .log import get_logger
from .stage import StageDir

if TYPE_CHECKING:
    from .run import Run

logger = get_logger(__name__)


def select_subset(scored: Any, method: str, ratio: float, seed: int) -> Any:
    """Rows of the scored dataset kept by ``method`` at ``ratio`` (same grouping as the filter stage)."""
    from .filter.select import select

    groups = scored["select_group"] if "select_group" in scored.column_names else None
    strategy = scored["select_strategy"][0] if "select_strategy" in scored.column_names else "inprompt"
    keep = select(
        [float("nan") if s is None else float(s) for s in scored["score"]],
        scored["id"],
        groups if strategy == "inprompt" else None,
        method=method,
        keep_ratio=ratio,
        seed=seed,
    )
    return scored.select([i for i, k in enumerate(keep) if k])


def _average(results_path: Path) -> float | None:
    if not results_path.exists():
        return None
    data = json.loads(results_path.read_text())
    value = data.get("scores", data).get("average")
    return float(value) if isinstance(value, (int, float)) else None


def run_data_efficiency(run: Run) -> list[dict[str, Any]]:
    from .cli import COMMANDS, _load

    root = run.root / "efficiency"
    scored_dir = run.root / "filter"
    if not (scored_dir / "scored").is_dir():
        raise CompEffError(f"data-efficiency mode needs the filter stage's scores in {scored_dir / 'scored'}")
    scored = load_rows(scored_dir, config_name="scored")
    points = []
    for method in run.config.data_efficiency_methods:
        for ratio in run.config.data_efficiency_ratios:
            name = f"{method}-{ratio:g}"
            point = root / name
            subset_dir = StageDir(point / "data", stage="efficiency-select")
            if not subset_dir.prepare():
                subset = select_subset(scored, method, ratio, seed=42)
                subset_dir.save_dataset(subset, "data")
                subset_dir.finish(rows_in=len(scored), rows_kept=len(subset), method=method, keep_ratio=ratio)
            rows = json.loads((point / "data" / "summary.json").read_text())["rows_kept"]
            logger.info("[efficiency] %s: %d rows", name, rows)
            for step, flags in (
                ("train", ["--dataset_name", str(point / "data"), "--output_dir", str(point / "train")]),
                ("eval", ["--model", str(point / "train"), "--output_dir", str(point / "eval")]),
            ):
                if step == "eval" and _average(point / "eval" / "results.json") is not None:
                    continue
                from .configs import RecipeParser
                from .run import _overrides, _recipe_path

                args = ["--config", str(_recipe_path(run.config, step)), *flags, *_overrides(run.config, step)]
                from .cli import config_classes

                configs = RecipeParser(config_classes(COMMANDS[step])).parse(args)
                code = int(_load(COMMANDS[step].entry)(*configs) or 0)
                if code:
                    raise CompEffError(f"data-efficiency point {name}: {step} failed with exit code {code}")
            points.append(
                {
                    "method": method,
                    "keep_ratio": ratio,
                    "rows": rows,
                    "average": _average(point / "eval" / "results.json"),
                }
            )
    root.mkdir(parents=True, exist_ok=True)
    (root / "results.json").write_text(json.dumps(points, indent=2))
    return points
