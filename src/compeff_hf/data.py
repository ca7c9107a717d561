"""Dataset I/O shared by every stage: a Hub id or a local path in, `datasets.Dataset` out; stable row ids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import DataError
from .validate import check_text_file, check_unique_ids

LOCAL_SUFFIXES = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}


def row_id(*parts: Any) -> str:
    """A stable 16-hex id from what defines a row (JSON-canonical, so dict order does not matter)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def is_local(ref: str | Path) -> bool:
    ref = str(ref)
    return Path(ref).exists() or ref.startswith((".", "/", "~")) or Path(ref).suffix in LOCAL_SUFFIXES


def load_rows(
    ref: str | Path,
    *,
    split: str = "train",
    config_name: str | None = None,
    columns: Sequence[str] | None = None,
    what: str = "input",
) -> Any:
    """Load a dataset from a local file/folder or a Hub dataset id.

    Local files: .jsonl/.json, .csv, .parquet, .txt (one text per line, column ``text``). Local folders: a
    ``save_to_disk`` folder, a stage output folder (its ``data`` dataset), or a folder of data files laid out like a
    Hub repo. Anything else is treated as a Hub dataset id (with ``config_name`` and ``split``).
    """
    import datasets

    path = Path(str(ref)).expanduser()
    try:
        if path.is_file():
            kind = LOCAL_SUFFIXES.get(path.suffix.lower())
            if kind is None:
                raise DataError(
                    f"{what} {path}: unsupported file type '{path.suffix}' (use .jsonl, .json, .csv, .parquet or .txt)"
                )
            if path.stat().st_size == 0:
                raise DataError(f"{what} {path}: the file is empty")
            if kind != "parquet":
                check_text_file(path, what)
            ds = datasets.load_dataset(kind, data_files=str(path), split="train")
        elif path.is_dir():
            ds = _load_folder(path, split=split, config_name=config_name)
        elif is_local(ref):
            raise DataError(f"{what} {ref}: no such file or folder")
        else:
            ds = datasets.load_dataset(str(ref), config_name, split=split)
    except DataError:
        raise
    except Exception as err:  # datasets raises many types; keep the cause, add where it came from
        raise DataError(f"{what} {ref}: could not be loaded ({type(err).__name__}: {err})") from err
    if columns:
        require_columns(ds, columns, source=str(ref))
    check_unique_ids(ds, f"{what} {ref}")
    return ds


def _load_folder(path: Path, *, split: str, config_name: str | None) -> Any:
    import datasets

    if (path / "dataset_info.json").exists() or (path / "state.json").exists():
        return datasets.load_from_disk(str(path))
    if (path / "dataset_dict.json").exists():
        return datasets.load_from_disk(str(path))[split]
    if not (path / "summary.json").exists() and ((path / ".config_hash").exists() or (path / "_ledger").is_dir()):
        raise DataError(
            f"{path}: an unfinished stage folder (no summary.json); run its stage again to finish it, then use it"
        )
    if (path / "summary.json").exists():  # a stage output folder: read its main dataset
        sub = path / (config_name or "data")
        if not sub.is_dir():
            raise DataError(
                f"{path}: stage output has no dataset '{sub.name}' (have: {sorted(p.name for p in path.iterdir() if p.is_dir())})"
            )
        return _load_folder(sub, split=split, config_name=None)
    files = sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix in LOCAL_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise DataError(f"{path}: folder holds no data files (.jsonl, .json, .csv, .parquet, .txt)")
    for p in files:
        if LOCAL_SUFFIXES[p.suffix] != "parquet":
            check_text_file(p)
    kinds = {LOCAL_SUFFIXES[p.suffix] for p in files}
    if len(kinds) == 1 and config_name is None:
        return datasets.load_dataset(kinds.pop(), data_files=[str(p) for p in files], split="train")
    return datasets.load_dataset(str(path), config_name, split=split)


def require_columns(ds: Any, columns: Iterable[str], source: str) -> None:
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; columns found: {ds.column_names}")


def write_parquet(ds: Any, folder: Path, max_rows_per_shard: int = 200_000) -> list[Path]:
    """Write a dataset as Hub-style parquet shards ``train-0000X-of-0000N.parquet`` (atomically per shard)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    n = max(1, -(-len(ds) // max_rows_per_shard))
    out = []
    for i in range(n):
        shard = ds.shard(num_shards=n, index=i, contiguous=True) if n > 1 else ds
        target = folder / f"train-{i:05d}-of-{n:05d}.parquet"
        tmp = target.with_suffix(".parquet.tmp")
        shard.to_parquet(str(tmp))
        tmp.replace(target)
        out.append(target)
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read JSON lines; a truncated last line (a write killed mid-way) is ignored, other bad lines fail by number."""
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if n == len(lines):
                break
            raise DataError(f"{path}:{n}: not valid JSON ({err})") from None
    return rows
