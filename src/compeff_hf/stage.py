"""A stage's output folder: resolved config, a row ledger for resuming, datasets, and a summary.

Layout of ``<output_dir>``::

    config.yaml          the resolved config (what produced this folder)
    _ledger/<name>.jsonl append-only rows written as they complete; a killed run resumes from them
    <name>/              finished datasets as Hub-style parquet shards (``data`` is the main one)
    summary.json         written last: counts, timings, config hash; its presence means "done"
    .stage_files.json    the manifest: every top-level entry this stage wrote; ``--overwrite`` removes only these

A folder belongs to its stage: ``--overwrite`` refuses a folder that holds anything the manifest does not list
(naming it) instead of deleting it, and a start that fails before any work (bad input, missing model) gives the
claim back, so the corrected command is not refused as "a different config".
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import distributed
from .configs import config_hash, save_config
from .data import write_parquet
from .errors import CompEffError
from .log import get_logger

logger = get_logger(__name__)


class Ledger:
    """Append-only JSONL of finished rows keyed by ``id``: rows survive SIGKILL and are never written twice.

    Only each id's status and the byte offset of its latest line stay in memory (a 100k-row ledger costs a few MB,
    not its outputs); ``get`` reads the row back from the file.
    """

    def __init__(self, path: Path, fsync_every: int = 64):
        self.path = path
        self.fsync_every = fsync_every
        self._index: dict[str, tuple[Any, int]] = {}  # id -> (status, offset of its latest line)
        self._pending = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._load_index()
        self._fh = path.open("a", encoding="utf-8")
        self._end = self._fh.tell()  # byte offset where the next line starts
        self._reader = path.open("rb")

    def _load_index(self) -> None:
        """Index the file line by line (streaming); a truncated last line (a kill mid-write) is cut off."""
        offset = 0
        with self.path.open("rb") as fh:
            for n, line in enumerate(fh, 1):
                if not line.endswith(b"\n"):
                    break
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise CompEffError(f"{self.path}:{n}: not valid JSON ({err})") from None
                    self._index[row["id"]] = (row.get("status"), offset)  # a later line (a retried failure) wins
                offset += len(line)
        if offset != self.path.stat().st_size:
            with self.path.open("r+b") as fh:
                fh.truncate(offset)

    def __contains__(self, row_id: str) -> bool:
        return row_id in self._index

    def __len__(self) -> int:
        return len(self._index)

    def status(self, row_id: str) -> Any:
        """The status of ``row_id``'s latest row, None when it has none (read from memory, not the file)."""
        entry = self._index.get(row_id)
        return None if entry is None else entry[0]

    def get(self, row_id: str) -> dict[str, Any] | None:
        entry = self._index.get(row_id)
        if entry is None:
            return None
        if not self._fh.closed:
            self._fh.flush()  # rows still in the write buffer must be readable
        if self._reader.closed:  # read after close(): rows stay readable, as they were when held in memory
            self._reader = self.path.open("rb")
        self._reader.seek(entry[1])
        return json.loads(self._reader.readline())

    def rows(self) -> list[dict[str, Any]]:
        return [self.get(k) for k in self._index]

    def done_ids(self, status: str | None = None) -> set[str]:
        return {k for k, (s, _) in self._index.items() if status is None or s == status}

    def append(self, row: dict[str, Any]) -> None:
        if "id" not in row:
            raise ValueError("ledger rows need an 'id'")
        line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
        self._fh.write(line)
        self._fh.flush()  # in the OS before the row counts as done: a SIGKILL loses only requests in flight
        self._index[row["id"]] = (row.get("status"), self._end)
        self._end += len(line.encode("utf-8"))
        self._pending += 1
        if self._pending >= self.fsync_every:
            self.flush()

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.append(row)
        self.flush()

    def flush(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._pending = 0

    def close(self) -> None:
        if not self._fh.closed:
            self.flush()
            self._fh.close()
        self._reader.close()


MANIFEST = ".stage_files.json"
# What a stage folder holds before its first row: claiming it writes these, and they alone do not count as work.
_CLAIM_FILES = (".lock", ".config_hash", "config.yaml", MANIFEST)
# Entries of a folder written before manifests existed that are surely a stage's own.
_LEGACY_OWNED = {*_CLAIM_FILES, "_ledger", "summary.json", "summary.json.tmp"}


def _entries(root: Path) -> set[str]:
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


def _scrubbed(record: Any) -> Any:
    from .hub.redact import redact

    return redact(record)


class StageDir:
    """Owns one stage's output folder; see the module docstring for the layout."""

    def __init__(self, root: str | Path, *configs: Any, stage: str = "stage"):
        self.root = Path(root)
        self.configs = configs
        self.stage = stage
        self.hash = config_hash(*configs) if configs else "none"
        self._ledgers: dict[str, Ledger] = {}
        self._lock: FileLock | None = None
        self._claimed = False  # this process wrote the claim files (and may take them back)
        self._before: set[str] = set()  # entries present before this process claimed the folder
        self._created_root = False
        self.started = time.time()

    # ---------------------------------------------------------------------------------------------- lifecycle
    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"

    def summary(self) -> dict[str, Any] | None:
        if not self.summary_path.exists():
            return None
        return json.loads(self.summary_path.read_text())

    def is_done(self) -> bool:
        s = self.summary()
        return bool(s and s.get("status") == "done" and s.get("config_hash") == self.hash)

    def prepare(self, overwrite: bool = False) -> bool:
        """Claim the folder. Returns True when finished output for the same config exists (skip the stage).

        Partial output of the same config is kept and resumed; output of a different config is an error unless
        ``overwrite``, because silently mixing rows from two configs would corrupt the dataset.
        Under a multi-process launch only the main process claims the folder; the others wait for its answer (or
        its error) and never touch the folder's files.
        """
        return distributed.on_main(self._claim, overwrite)

    def _claim(self, overwrite: bool) -> bool:
        self._created_root = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.root / ".lock"))
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise CompEffError(
                f"{self.root} is in use by another compeff-hf process (lock {self.root / '.lock'})"
            ) from None
        cfg_file = self.root / ".config_hash"
        if overwrite:
            try:
                self._clear()
            except CompEffError:
                self._lock.release()
                raise
        elif cfg_file.exists() and not self.has_work():
            self._drop_claim()  # an earlier start that failed before any work: nothing to keep or resume
        elif cfg_file.exists() and cfg_file.read_text().strip() != self.hash:
            self._lock.release()
            raise CompEffError(
                f"{self.root} holds output of a different {self.stage} config (hash {cfg_file.read_text().strip()} vs "
                f"{self.hash}); see {self.root / 'config.yaml'}. Pass --overwrite true to replace it or choose another "
                "--output_dir."
            )
        if self.is_done():
            logger.info("%s: finished output for this config exists in %s; skipping", self.stage, self.root)
            self._lock.release()
            self._push_if_asked()  # e.g. rerun with --push_to_hub true: push what is already there
            return True
        if cfg_file.exists():
            logger.info("%s: resuming partial output in %s", self.stage, self.root)
        self._before = _entries(self.root) - self.owned()
        self._claimed = True
        cfg_file.write_text(self.hash)
        save_config(self.root / "config.yaml", *self.configs)
        self._sync_manifest()
        return False

    # ----------------------------------------------------------------------------------------------- ownership
    def owned(self) -> set[str]:
        """Top-level entries this stage wrote, from the manifest (or the fixed layout of an older folder)."""
        path = self.root / MANIFEST
        if path.is_file():
            try:
                return set(json.loads(path.read_text())["files"]) | {MANIFEST, ".lock"}
            except (ValueError, KeyError, TypeError):
                pass
        return set(_LEGACY_OWNED)

    def _sync_manifest(self) -> None:
        """Record what this stage has written so far: everything new since the claim, plus what it owned."""
        if not self._claimed or not self.root.is_dir():
            return
        present = _entries(self.root)
        files = sorted(((self.owned() & present) | present) - self._before - {".lock", f"{MANIFEST}.tmp"})
        tmp = self.root / f"{MANIFEST}.tmp"
        tmp.write_text(json.dumps({"stage": self.stage, "files": files}, indent=1))
        tmp.replace(self.root / MANIFEST)

    def has_work(self) -> bool:
        """Whether the folder holds more than a claim: ledger rows, datasets or a summary of this stage."""
        present = _entries(self.root)
        mine = self.owned() | _LEGACY_OWNED | (present - self._before if self._claimed else set())
        owned = mine & present
        ledger = self.root / "_ledger"
        if "_ledger" in owned and any(p.stat().st_size > 0 for p in ledger.glob("*.jsonl")):
            return True
        return bool(owned - set(_CLAIM_FILES) - {"_ledger"})

    def _clear(self) -> None:
        """Remove what this stage wrote; refuse (deleting nothing) when the folder holds anything else."""
        owned = self.owned()
        foreign = sorted(_entries(self.root) - owned - {f"{MANIFEST}.tmp"})
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise CompEffError(
                f"{self.root} holds files this {self.stage} stage did not write ({shown}); refusing to delete them. "
                "Choose another --output_dir, or move those files away"
            )
        for child in self.root.iterdir():
            if child.name == ".lock":
                continue
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    def _unclaim(self) -> bool:
        """Give the folder back after a start that did no work, so a corrected command is not refused."""
        if not self._claimed or self.has_work():
            return False
        self._drop_claim()
        self._claimed = False
        return True

    def _drop_claim(self) -> None:
        for name in (".config_hash", "config.yaml", MANIFEST):
            with contextlib.suppress(FileNotFoundError):
                (self.root / name).unlink()
        ledger = self.root / "_ledger"
        if ledger.is_dir() and not any(p.stat().st_size for p in ledger.glob("*")):
            shutil.rmtree(ledger, ignore_errors=True)

    def ledger(self, name: str = "rows") -> Ledger:
        if name not in self._ledgers:
            self._ledgers[name] = Ledger(self.root / "_ledger" / f"{name}.jsonl")
            self._sync_manifest()
        return self._ledgers[name]

    def save_dataset(self, ds: Any, name: str = "data") -> Path:
        folder = self.root / name
        write_parquet(ds, folder)
        self._sync_manifest()
        return folder

    def remove_dataset(self, name: str) -> None:
        """Drop a dataset this stage wrote earlier that no longer holds (e.g. ``failed`` after a clean rerun)."""
        if name in self.owned() and (self.root / name).is_dir():
            shutil.rmtree(self.root / name)
            self._sync_manifest()

    def dataset_path(self, name: str = "data") -> Path:
        return self.root / name

    def finish(self, **summary: Any) -> dict[str, Any]:
        """Write ``summary.json`` (the "done" mark) and push if asked; on the main process only, for all ranks."""
        return distributed.on_main(self._finish, **summary)

    def _finish(self, **summary: Any) -> dict[str, Any]:
        for ledger in self._ledgers.values():
            ledger.close()
        record = {
            "stage": self.stage,
            "status": "done",
            "config_hash": self.hash,
            "wall_time_s": round(time.time() - self.started, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **summary,
        }
        tmp = self.summary_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(_scrubbed(record), indent=2, ensure_ascii=False, default=str))
        tmp.replace(self.summary_path)
        self._sync_manifest()
        self.release()
        self._push_if_asked()
        return record

    def _push_if_asked(self) -> None:
        """Honour a stage config's ``push_to_hub`` once its output is complete (the push is idempotent)."""
        for config in self.configs:
            if not getattr(config, "push_to_hub", False):
                continue
            if not getattr(config, "hub_repo_id", None):
                raise CompEffError(f"{self.stage}: push_to_hub is set but hub_repo_id is empty; name the Hub repo")
            from .hub.push import push_stage_output

            logger.info("%s: pushing %s to the Hub repo %s", self.stage, self.root, config.hub_repo_id)
            push_stage_output(self.root, config.hub_repo_id, None, bool(getattr(config, "hub_private", False)))
            return

    def release(self) -> None:
        for ledger in self._ledgers.values():
            ledger.close()
        if self._lock is not None and self._lock.is_locked:
            self._sync_manifest()
            gave_back = self._unclaim()
            self._lock.release()
            if gave_back and self._created_root and _entries(self.root) <= {".lock"}:
                shutil.rmtree(self.root, ignore_errors=True)  # the folder we made for a start that did nothing

    def __enter__(self) -> StageDir:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def iter_batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
