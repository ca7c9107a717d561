"""The evaluation sets to decontaminate against: the 12 SentiBench test sets and any set the user names.

A named set is ``REF`` or ``REF::COLUMN``: a local file (.jsonl, .json (also a JSON array, as SentiBench ships),
.csv, .parquet, .txt), a local folder, or a Hub dataset id (its ``test`` split). Without ``::COLUMN`` the text
column is the first of :data:`TEXT_COLUMNS` the set has.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import DataError
from .index import EvalSet

TEXT_COLUMNS = ("text", "sentence", "review", "content", "tweet", "question", "prompt", "input", "instruction")
NO_SENTIBENCH = "none"


def sentibench_sets(ref: str | None) -> list[EvalSet]:
    """The test split of every SentiBench dataset, from a folder, a Hub id or 'github' (as `compeff-hf eval`)."""
    from ..evaluation.data import load_split, resolve_source
    from ..evaluation.tasks import TASKS

    tasks = list(TASKS.values())
    try:
        source = resolve_source(ref, tasks)
    except DataError as err:
        raise DataError(
            f"decontamination needs the SentiBench test sets: {err}. Pass --decontaminate_sentibench with a local "
            f"copy (e.g. ../shared/sentibench), '{NO_SENTIBENCH}' to check only --decontaminate_eval_sets, or "
            "--decontaminate false to skip the check."
        ) from err
    where = f"SentiBench ({source.kind}: {source.ref})"
    return [EvalSet(t.name, [r["sentence"] for r in load_split(source, t, "test")], where) for t in tasks]


def named_set(spec: str) -> EvalSet:
    """One user-named evaluation set (see the module docstring)."""
    from ..data import load_rows

    ref, _, column = spec.partition("::")
    path = Path(ref).expanduser()
    if path.is_file() and path.suffix.lower() == ".json":
        records = _json_records(path)
        columns = list(records[0]) if records else []
        values = None
    else:
        ds = load_rows(ref, split="test", what="decontaminate_eval_sets entry")
        columns, records, values = ds.column_names, None, ds
    name = column or next((c for c in TEXT_COLUMNS if c in columns), None)
    if name is None or name not in columns:
        raise DataError(
            f"evaluation set {ref}: no text column {'(' + column + ') ' if column else ''}among {columns}; "
            f"name it as {ref}::COLUMN"
        )
    texts = [r.get(name) for r in records] if records is not None else values[name]
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise DataError(f"evaluation set {ref}: row {bad}: field '{name}' is not text ({texts[bad]!r})")
    label = path.stem if path.exists() else ref
    return EvalSet(label, list(texts), f"{ref} ({name})")


def _json_records(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as err:
            raise DataError(f"evaluation set {path}: neither a JSON array nor JSON lines ({err})") from err
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"evaluation set {path}: expected a list of records")
    return data


def load_sets(sentibench: str | None, named: Sequence[str]) -> list[EvalSet]:
    """SentiBench (unless ``sentibench`` is 'none') plus every named set."""
    sets = [] if sentibench == NO_SENTIBENCH else sentibench_sets(sentibench)
    sets += [named_set(spec) for spec in named]
    if not sets:
        raise DataError("decontamination has no evaluation set: SentiBench is 'none' and no other set is named")
    return sets


def fingerprint(sentibench: str | None, named: Sequence[str]) -> tuple:
    """What identifies the sets for the in-process index cache: refs plus size and mtime of local files."""
    refs = [sentibench or os.environ.get("SENTIBENCH_DIR") or "github", *named]
    out = []
    for ref in refs:
        path = Path(ref.partition("::")[0]).expanduser()
        files = (
            sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.is_file() else []
        )
        out.append((ref, tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)))
    return tuple(out)
