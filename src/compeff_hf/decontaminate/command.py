"""Entry point of `compeff-hf decontaminate`: any dataset in, the rows that match no evaluation set out.

Output folder (``--output_dir``, default ``runs/decontaminate``): ``config.yaml``, ``data/`` (the kept rows; with
``--decontaminate_action flag`` every row plus a ``contamination`` column) and ``summary.json`` (counts per
evaluation set, examples).
"""

from __future__ import annotations

from ..data import load_rows
from ..errors import DataError, RecipeError
from ..stage import StageDir
from .config import DecontaminateConfig
from .render import headline
from .step import StageCheck, index_for


def main(config: DecontaminateConfig) -> int:
    if not config.input:
        raise RecipeError("decontaminate needs --input (a stage folder, a dataset file/folder, or a Hub id)")
    stage = StageDir(config.resolved_output_dir(), config, stage="decontaminate")
    # Read and check the input, and build the index, before the stage folder is claimed or written.
    ds = load_rows(config.input, split=config.split, config_name=config.input_config)
    present = [f for f in config.fields if f in ds.column_names]
    if not present:
        raise DataError(f"{config.input}: none of the fields {config.fields} is a column; columns: {ds.column_names}")
    index_for(config)
    try:
        if stage.prepare(config.overwrite):
            summary = stage.summary() or {}
        else:
            check = StageCheck(config, stage)
            kept = check.dataset("rows", ds, present)
            stage.save_dataset(kept, "data")
            summary = stage.finish(rows_in=len(ds), rows_out=len(kept), decontamination=check.summary())
    finally:
        stage.release()
    print(f"decontaminate: {summary.get('rows_out')} of {summary.get('rows_in')} rows in {stage.root / 'data'}")
    print(f"  {headline(summary.get('decontamination'))}")
    return 0
