"""SentiBench data: a local folder in the published layout, a Hub dataset repo, or a verified one-time download.

The published layout is ``<family>/<dataset>/{train,test}.json`` (UTF-8, most files with a byte-order mark), as in
``HITSZ-HLT/Sentiment-Distillation/datasets`` at the pinned commit. Sources, in the order ``resolve_source`` tries:

* a local folder (``--data_dir path``);
* a Hub dataset repo holding the same files (``--data_dir user/sentibench``), fetched with ``snapshot_download``;
* ``github`` (also the default when ``--data_dir`` and ``$SENTIBENCH_DIR`` are unset): the files are downloaded
  once from GitHub at the pinned commit, checked against the SHA-256 figures in ``manifest.tsv`` (shipped in the
  package) and cached in ``$COMPEFF_HF_HOME/sentibench/<commit>``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..log import get_logger
from ..models import cache_dir
from .tasks import Task

logger = get_logger(__name__)

GITHUB_REPO = "HITSZ-HLT/Sentiment-Distillation"
GITHUB_COMMIT = "2810fc2826e8f7c2ae6a0d6dd328ab7d8979744a"
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/datasets/{path}"
SPLITS = ("train", "test")


@cache
def manifest() -> dict[str, dict[str, Any]]:
    """The published files: path -> {bytes, records, git_blob_sha1, sha256}."""
    text = resources.files("compeff_hf.evaluation").joinpath("manifest.tsv").read_text()
    lines = text.strip().splitlines()
    header = lines[0].split("\t")
    out = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t"), strict=False))
        out[row.pop("path")] = {**row, "bytes": int(row["bytes"]), "records": int(row["records"])}
    return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Source:
    """Where the files were read from: ``kind`` is local | hub | github; ``root`` is the local folder."""

    kind: str
    ref: str
    root: Path
    verified: bool = False

    def describe(self) -> dict[str, Any]:
        info = {"kind": self.kind, "ref": self.ref, "verified_against_manifest": self.verified}
        if self.kind == "github":
            info["commit"] = GITHUB_COMMIT
        return info


def needed_files(tasks: list[Task]) -> list[str]:
    return [f"{t.path}/{split}.json" for t in tasks for split in SPLITS]


def resolve_source(ref: str | None, tasks: list[Task]) -> Source:
    """Find (and if needed fetch) the files the tasks need; see the module docstring."""
    ref = ref or os.environ.get("SENTIBENCH_DIR") or "github"
    if ref == "github":
        return Source("github", f"github.com/{GITHUB_REPO}@{GITHUB_COMMIT[:7]}", download(tasks), verified=True)
    path = Path(ref).expanduser()
    if path.is_dir():
        missing = [f for f in needed_files(tasks) if not (path / f).is_file()]
        if missing:
            raise DataError(
                f"SentiBench folder {path} lacks {missing[:3]}{' ...' if len(missing) > 3 else ''}; expected the "
                "published layout <family>/<dataset>/{train,test}.json (e.g. sc/imdb/test.json)"
            )
        return Source("local", str(path), path, verified=verify(path, needed_files(tasks), strict=False))
    if ref.startswith((".", "/", "~")) or ref.count("/") != 1:
        raise DataError(f"data_dir {ref}: no such folder, and not a Hub dataset id (owner/name) or 'github'")
    return Source("hub", ref, _from_hub(ref, tasks))


def _from_hub(repo_id: str, tasks: list[Task]) -> Path:
    from huggingface_hub import snapshot_download

    files = needed_files(tasks)
    patterns = files + [f"datasets/{f}" for f in files]  # a mirror of the whole upstream repo works too
    try:
        root = Path(snapshot_download(repo_id, repo_type="dataset", allow_patterns=patterns))
    except Exception as err:  # hub errors come in many types; say which repo and what layout is expected
        raise DataError(
            f"SentiBench Hub dataset {repo_id} could not be fetched ({type(err).__name__}: {err})"
        ) from err
    if (root / "datasets").is_dir() and not (root / files[0]).exists():
        root = root / "datasets"
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise DataError(f"Hub dataset {repo_id} lacks {missing[:3]} (expected the published SentiBench layout)")
    return root


def verify(root: Path, files: list[str], strict: bool = True) -> bool:
    """Compare files with the manifest's SHA-256; strict raises on a mismatch, otherwise it warns."""
    table = manifest()
    ok = True
    for rel in files:
        expected = table.get(rel, {}).get("sha256")
        if expected and sha256_file(root / rel) != expected:
            ok = False
            message = f"{root / rel}: SHA-256 differs from the published file (manifest.tsv)"
            if strict:
                raise DataError(message + "; delete it and run again to re-download")
            logger.warning("%s; scores may not be comparable with published numbers", message)
    return ok


def download(tasks: list[Task], root: Path | None = None) -> Path:
    """Download the files the tasks need from GitHub at the pinned commit, once; verify and cache them."""
    import httpx

    root = root or cache_dir() / "sentibench" / GITHUB_COMMIT
    table = manifest()
    for rel in needed_files(tasks):
        target = root / rel
        if target.is_file() and sha256_file(target) == table[rel]["sha256"]:
            continue
        url = RAW_URL.format(repo=GITHUB_REPO, commit=GITHUB_COMMIT, path=rel)
        logger.info("downloading %s", url)
        try:
            response = httpx.get(url, follow_redirects=True, timeout=60)
            response.raise_for_status()
        except httpx.HTTPError as err:
            raise DataError(
                f"could not download SentiBench file {rel} from {url} ({err}). Without network access, pass "
                "--data_dir with a local copy in the published layout."
            ) from err
        if hashlib.sha256(response.content).hexdigest() != table[rel]["sha256"]:
            raise DataError(f"{url}: downloaded bytes do not match the SHA-256 in manifest.tsv; not cached")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".json.tmp")
        tmp.write_bytes(response.content)
        tmp.replace(target)
    return root


def load_split(source: Source, task: Task, split: str) -> list[dict[str, Any]]:
    """One split as a list of dicts, in file order (the demo draw depends on it)."""
    path = source.root / task.path / f"{split}.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: could not be read as JSON ({err})") from err
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON array of records, got {type(rows).__name__}")
    required = ["sentence"] + (["label"] if task.is_classification else [])
    for i, row in enumerate(rows):
        missing = [k for k in required if k not in row]
        if missing:
            raise DataError(f"{path}: record {i} lacks field(s) {missing}")
    return rows
