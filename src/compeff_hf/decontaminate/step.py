"""Decontamination inside a stage (construct, filter, `compeff-hf decontaminate`): the index is built on first use
and cached for the process; each phase's report goes to the stage's ``decontamination`` ledger, so a resumed stage
still reports phases it does not redo; :meth:`StageCheck.summary` is what ``summary.json`` holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import DataError
from ..log import get_logger
from .config import DecontaminationArgs
from .index import Index, build_index
from .rows import FLAG_COLUMN, decontaminate_rows, label, report, scan
from .sources import fingerprint, load_sets

logger = get_logger(__name__)
_CACHE: dict[tuple, Index] = {}


def index_for(config: DecontaminationArgs) -> Index:
    """The index of the configured evaluation sets; built once per process for the same sets and settings."""
    key = (
        fingerprint(config.decontaminate_sentibench, config.decontaminate_eval_sets or []),
        config.decontaminate_ngram,
        config.decontaminate_min_words,
    )
    if key not in _CACHE:
        sets = load_sets(config.decontaminate_sentibench, config.decontaminate_eval_sets or [])
        _CACHE.clear()  # one index at a time: they are tens of MB
        _CACHE[key] = build_index(sets, config.decontaminate_ngram, config.decontaminate_min_words)
        info = _CACHE[key].describe()
        logger.info(
            "decontamination: indexed %d texts of %d evaluation sets (%d windows)",
            sum(info["eval_sets"].values()),
            len(info["eval_sets"]),
            info["windows_indexed"],
        )
    return _CACHE[key]


class StageCheck:
    """The decontamination step of one stage run (see the module docstring)."""

    def __init__(self, config: DecontaminationArgs, stage: Any | None = None):
        self.config = config
        self.enabled = bool(getattr(config, "decontaminate", True))
        self.action = config.decontaminate_action
        self.ledger = stage.ledger("decontamination") if stage is not None and self.enabled else None
        self.phases: dict[str, dict[str, Any]] = {}
        if self.ledger is not None:
            self.phases = {r["id"]: {k: v for k, v in r.items() if k != "id"} for r in self.ledger.rows()}

    def reload(self) -> None:
        """Take in the checks other processes recorded since (a distilabel pipeline's workers)."""
        if self.ledger is None:
            return
        from ..stage import Ledger

        fresh = Ledger(self.ledger.path)
        self.phases = {r["id"]: {k: v for k, v in r.items() if k != "id"} for r in fresh.rows()}
        fresh.close()

    def rows(self, phase: str, rows: list[dict], fields: Sequence[str]) -> tuple[list[dict], list[dict]]:
        """(rows to keep, rows dropped) of a list of dict rows (flag mode drops none); see decontaminate_rows."""
        if not self.enabled:
            return rows, []
        index = index_for(self.config)
        result = decontaminate_rows(rows, index, fields, action=self.action)
        self._record(phase, result.report, index)
        self._refuse_empty(phase, len(rows), len(result.kept), result.report)
        return result.kept, result.matched if self.action == "drop" else []

    def dataset(self, phase: str, ds: Any, fields: Sequence[str]) -> Any:
        """A ``datasets.Dataset`` without its matched rows (drop) or with a ``contamination`` column (flag)."""
        if not self.enabled:
            return ds
        index = index_for(self.config)
        present = [f for f in fields if f in ds.column_names]
        hits = scan({f: ds[f] for f in present}, len(ds), index)
        ids = ds["id"] if "id" in ds.column_names else list(range(len(ds)))
        rep = report(hits, ids, index, fields=present, action=self.action)
        self._record(phase, rep, index)
        if self.action == "flag":
            if FLAG_COLUMN in ds.column_names:
                ds = ds.remove_columns(FLAG_COLUMN)
            return ds.add_column(FLAG_COLUMN, [label(h, index) for h in hits])
        self._refuse_empty(phase, len(ds), len(ds) - rep["rows_matched"], rep)
        return ds.select([i for i, h in enumerate(hits) if not h]) if rep["rows_matched"] else ds

    def _record(self, phase: str, rep: dict[str, Any], index: Index) -> None:
        rep = {**rep, "index": index.describe()}
        self.phases[phase] = rep
        if self.ledger is not None:
            self.ledger.extend([{"id": phase, **rep}])
        if rep["rows_matched"]:
            counts = ", ".join(f"{k} {v}" for k, v in rep["per_test_set"].items() if v)
            logger.warning(
                "decontamination/%s: %d of %d rows match evaluation sets (%s): %s",
                phase,
                rep["rows_matched"],
                rep["rows_checked"],
                counts,
                "dropped" if self.action == "drop" else "flagged",
            )

    def _refuse_empty(self, phase: str, n_in: int, n_kept: int, rep: dict[str, Any]) -> None:
        if n_in and not n_kept:
            raise DataError(
                f"decontamination/{phase}: all {n_in} rows match evaluation sets "
                f"({', '.join(f'{k} {v}' for k, v in rep['per_test_set'].items() if v)}); nothing would be left. "
                "Check the input, or pass --decontaminate_action flag to keep them marked."
            )

    def summary(self) -> dict[str, Any]:
        """What summary.json holds: settings, indexed sets, totals, rows per evaluation set, and each phase."""
        if not self.enabled:
            return {"enabled": False}
        index = next((p["index"] for p in self.phases.values()), None)
        per_set: dict[str, int] = {}
        for p in self.phases.values():
            for name, n in p["per_test_set"].items():
                per_set[name] = per_set.get(name, 0) + n
        return {
            "enabled": True,
            "action": self.action,
            **(index or {}),
            "rows_matched": sum(p["rows_matched"] for p in self.phases.values()),
            "rows_dropped": sum(p["rows_dropped"] for p in self.phases.values()),
            "per_test_set": per_set,
            "phases": {k: {kk: vv for kk, vv in v.items() if kk != "index"} for k, v in self.phases.items()},
        }
