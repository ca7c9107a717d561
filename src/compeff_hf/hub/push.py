"""Pushing stage outputs and students to the Hub.

A run's datasets go to ONE dataset repo, one config per dataset (``attributes``, ``perspectives``, ...,
``teacher_responses``, ``scored``, ``filtered``), laid out as ``<config>/train-*.parquet``. Beside the data, each
stage's resolved ``config.yaml`` and ``summary.json`` (secrets masked) go to ``pipeline/<stage>/`` and a
``pipeline/manifest.json`` records what each config holds, so that stages pushed one by one (each stage's
``push_to_hub`` option) accumulate into the same repo and the card is always re-rendered from the whole.

Rules: the token comes from the environment (``HF_TOKEN``) or the standard login and is never written or printed;
pushing into a repo that holds anything else, or a different version of the same config, is refused unless
``overwrite_repo``; an identical config is skipped (re-running a finished run pushes nothing twice); models go up
as safetensors only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..data import row_id
from ..errors import CompEffError
from ..llm.pipeline_dag import dag_markdown
from ..log import get_logger
from .redact import install_log_redaction, redact, redact_text, scrub_parquet

logger = get_logger(__name__)

MANIFEST = "pipeline/manifest.json"
# A stage's main dataset is saved as ``data``; on the Hub it is named after what it holds.
MAIN_CONFIG = {
    "construct": "instructions",
    "teacher": "teacher_responses",
    "filter": "filtered",
    "eval": "predictions",
}
STAGE_ORDER = ["construct", "teacher", "filter", "train", "eval"]
# Files a model repo may receive. Pickles (``*.bin``, ``*.pt``, ``training_args.bin``) are never uploaded.
MODEL_FILES = ("*.safetensors", "*.safetensors.index.json", "*.json", "*.jinja", "*.txt", "*.model", "README.md")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class HubPushError(CompEffError):
    """A push was refused or failed; the message says why and what to do (never the token)."""


@dataclass
class ConfigInfo:
    """One dataset config of the repo: where it came from and what it holds."""

    name: str
    stage: str
    folder: str  # the dataset's folder name inside the stage output
    rows: int
    columns: list[str]
    bytes: int
    fingerprint: str
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "files"}


# ------------------------------------------------------------------------------------------------ stage reading


def read_stage(stage_dir: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(stage name, summary, config) of a finished stage folder; refuses unfinished ones."""
    stage_dir = Path(stage_dir)
    summary_path = stage_dir / "summary.json"
    if not summary_path.is_file():
        raise HubPushError(
            f"{stage_dir}: no summary.json, so the stage has not finished; run it to the end before pushing"
        )
    summary = json.loads(summary_path.read_text())
    if summary.get("status") not in (None, "done"):
        raise HubPushError(f"{stage_dir}: stage status is {summary.get('status')!r}, not 'done'")
    config_path = stage_dir / "config.yaml"
    config = (yaml.safe_load(config_path.read_text()) or {}) if config_path.is_file() else {}
    return str(summary.get("stage") or stage_dir.name), summary, config


def stage_configs(stage_dir: Path, config_name: str | None = None) -> list[ConfigInfo]:
    """The datasets of a finished stage folder, each as a Hub config (``data`` takes ``config_name``)."""
    import pyarrow.parquet as pq

    stage_dir = Path(stage_dir)
    stage, summary, _ = read_stage(stage_dir)
    out = []
    for folder in sorted(p for p in stage_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        shards = sorted(folder.glob("*.parquet"))
        if not shards:
            continue
        if folder.name == "data":
            name = config_name or MAIN_CONFIG.get(stage, stage)
        else:
            name = folder.name
        if stage_dir.name != stage and not config_name:
            # A second folder of the same stage (e.g. eval_base beside eval): keep its configs apart.
            name = f"{stage_dir.name}-{name}"
        rows, size, columns = 0, 0, []
        for shard in shards:
            meta = pq.read_metadata(shard)
            rows += meta.num_rows
            size += shard.stat().st_size
            columns = columns or list(meta.schema.to_arrow_schema().names)
        fingerprint = row_id(
            summary.get("config_hash"), summary.get("finished_at"), [(s.name, s.stat().st_size) for s in shards]
        )
        out.append(ConfigInfo(name, stage, folder.name, rows, columns, size, fingerprint, [str(s) for s in shards]))
    if not out:
        raise HubPushError(f"{stage_dir}: stage '{stage}' holds no parquet datasets to push")
    return out


def stage_key(stage_dir: Path, stage: str) -> str:
    """Where a stage folder's config and summary go in a repo (``pipeline/<key>/``): the stage's name, or the
    folder's name for a second folder of one stage (``eval_base`` beside ``eval``), so neither hides the other."""
    return stage if Path(stage_dir).name == stage else Path(stage_dir).name


def find_stage_dirs(run_dir: Path) -> list[Path]:
    """Finished stage folders of a run, in pipeline order (a stage folder holds summary.json)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HubPushError(f"run folder {run_dir} does not exist")
    found = [p for p in run_dir.iterdir() if p.is_dir() and (p / "summary.json").is_file()]
    rank = {name: i for i, name in enumerate(STAGE_ORDER)}
    return sorted(found, key=lambda p: (rank.get(read_stage(p)[0], len(rank)), p.name))


# ------------------------------------------------------------------------------------------------------ the hub


def hub_api(token: str | None = None) -> Any:
    """An ``HfApi``; the token is resolved by huggingface_hub (argument, ``HF_TOKEN`` or the stored login)."""
    from huggingface_hub import HfApi

    install_log_redaction()
    return HfApi(token=token)


def resolve_repo_id(api: Any, repo_id: str) -> str:
    """``name`` becomes ``<user>/name`` using the token's account; ``owner/name`` is kept."""
    if "/" in repo_id:
        return repo_id
    return f"{_call(api.whoami, what='whoami')['name']}/{repo_id}"


def _call(fn: Any, *args: Any, what: str, **kwargs: Any) -> Any:
    """Call the Hub and turn its errors into a :class:`HubPushError` with the token scrubbed from the message."""
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    try:
        return fn(*args, **kwargs)
    except LocalTokenNotFoundError:
        raise HubPushError(
            f"{what}: no Hugging Face token found; set HF_TOKEN or run `hf auth login` (a write token is needed)"
        ) from None
    except HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        hint = {
            401: "the token is missing or invalid: set HF_TOKEN or run `hf auth login`",
            403: "the token cannot write there: use a write token for that namespace",
        }.get(status, "see the message above")
        raise HubPushError(f"{what} failed ({status}): {redact_text(str(err).splitlines()[0])}; {hint}") from None


def _repo_state(api: Any, repo_id: str, repo_type: str) -> tuple[list[str] | None, str | None]:
    """(files, head sha) of a repo, or (None, None) when it does not exist."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = api.repo_info(repo_id, repo_type=repo_type)
    except RepositoryNotFoundError:
        return None, None
    except Exception as err:  # network errors: say where, never the token
        raise HubPushError(f"could not reach the Hub for {repo_id}: {redact_text(str(err).splitlines()[0])}") from None
    return [s.rfilename for s in info.siblings or []], info.sha


def _read_json(api: Any, repo_id: str, repo_type: str, path: str, revision: str | None) -> dict[str, Any] | None:
    from huggingface_hub.errors import EntryNotFoundError

    try:
        local = api.hf_hub_download(repo_id, path, repo_type=repo_type, revision=revision)
    except EntryNotFoundError:
        return None
    return json.loads(Path(local).read_text())


def _ensure_repo(api: Any, repo_id: str, repo_type: str, private: bool) -> None:
    _call(api.create_repo, repo_id, repo_type=repo_type, private=private, exist_ok=True, what=f"create {repo_id}")


def _empty(files: Iterable[str]) -> bool:
    return all(f in (".gitattributes",) for f in files)


# ---------------------------------------------------------------------------------------------------- datasets


def push_stage_output(
    stage_dir: str | Path,
    repo_id: str,
    config_name: str | None = None,
    private: bool = False,
    *,
    overwrite_repo: bool = False,
    token: str | None = None,
    run_dir: str | Path | None = None,
    reproduce: str | None = None,
) -> dict[str, Any]:
    """Push one finished stage's datasets as configs of ``repo_id`` and re-render the dataset card.

    Args:
        stage_dir: the stage's output folder (with summary.json).
        repo_id: the dataset repo (``owner/name``, or ``name`` under the token's account).
        config_name: Hub config name of the stage's main ``data`` dataset (default: per stage, e.g. ``filtered``).
        private: create the repo as private.
        overwrite_repo: replace configs that differ from what is pushed (and a repo that is not ours).
        token: a Hub token; default ``HF_TOKEN`` or the stored login.
        reproduce: the command that reproduces the run, shown in the card.

    Returns:
        ``{"repo_id", "url", "pushed": [...], "skipped": [...]}``.
    """
    stage_dirs = [Path(stage_dir)]
    return push_datasets(
        stage_dirs,
        repo_id,
        private=private,
        overwrite_repo=overwrite_repo,
        token=token,
        config_names={Path(stage_dir).resolve(): config_name} if config_name else None,
        reproduce=reproduce,
        replace_all=False,
    )


def push_datasets(
    stage_dirs: Sequence[Path],
    repo_id: str,
    *,
    private: bool = False,
    overwrite_repo: bool = False,
    token: str | None = None,
    config_names: dict[Path, str] | None = None,
    reproduce: str | None = None,
    replace_all: bool = False,
    pretty_name: str | None = None,
) -> dict[str, Any]:
    """Push several stage folders into one dataset repo in a single commit (see :func:`push_stage_output`).

    With ``replace_all`` (``compeff-hf publish --overwrite_repo true``) the repo ends up holding exactly this run.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    from .cards import build_dataset_card

    api = hub_api(token)
    repo_id = resolve_repo_id(api, repo_id)
    files, head = _repo_state(api, repo_id, "dataset")
    manifest = _read_json(api, repo_id, "dataset", MANIFEST, head) if files and MANIFEST in files else None
    if files is not None and not _empty(files) and manifest is None and not overwrite_repo:
        raise HubPushError(
            f"dataset repo {repo_id} is not empty and was not written by compeff-hf; refusing to overwrite it. "
            "Pass --overwrite_repo true to replace its content, or choose another repo id"
        )
    manifest = {"configs": {}, "stages": {}} if manifest is None or replace_all else manifest

    local: list[ConfigInfo] = []
    stages: dict[str, dict[str, Any]] = {}
    names = {Path(k).resolve(): v for k, v in (config_names or {}).items()}
    for stage_dir in stage_dirs:
        stage_dir = Path(stage_dir)
        stage, summary, config = read_stage(stage_dir)
        infos = stage_configs(stage_dir, names.get(stage_dir.resolve()))
        local += infos
        key = stage_key(stage_dir, stage)
        if key in stages:
            raise HubPushError(f"two stage folders push as '{key}' ({stage_dir}); give them different folder names")
        stages[key] = {
            "stage": stage,
            "summary": redact(summary),
            "config": redact(config),
            "configs": [i.name for i in infos],
        }
        if (stage_dir / "pipeline.yaml").is_file():  # the stage's distilabel Pipeline, as a Distiset carries it
            stages[key]["pipeline_yaml"] = redact_text((stage_dir / "pipeline.yaml").read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    for info in local:
        if info.name in seen:
            raise HubPushError(
                f"config name '{info.name}' comes from two stages ({seen[info.name]}, {info.stage}); "
                "give the stages different config names"
            )
        seen[info.name] = info.stage

    to_push, skipped, replaced = [], [], []
    for info in local:
        remote = manifest["configs"].get(info.name)
        if remote is None:
            to_push.append(info)
        elif remote.get("fingerprint") == info.fingerprint:
            skipped.append(info.name)
        elif overwrite_repo:
            to_push.append(info)
            replaced.append(info.name)
        else:
            raise HubPushError(
                f"dataset repo {repo_id} already holds a different '{info.name}' config (from another run or "
                "config); refusing to overwrite it. Pass --overwrite_repo true to replace it"
            )
    if not to_push and files is not None and not replace_all:
        logger.info("hub: %s already holds these configs (%s); nothing to push", repo_id, ", ".join(skipped))
        return {"repo_id": repo_id, "url": _url(api, repo_id, "dataset"), "pushed": [], "skipped": skipped}

    ops: list[Any] = []
    if files is not None:
        old_data = {
            f
            for f in files
            if f not in (".gitattributes",) and (replace_all or any(f.startswith(f"{name}/") for name in replaced))
        }
        ops += [CommitOperationDelete(path_in_repo=f) for f in sorted(old_data)]
        if replace_all:
            skipped, to_push = [], local
    for info in to_push:
        for shard in info.files:
            ops.append(
                CommitOperationAdd(path_in_repo=f"{info.name}/{Path(shard).name}", path_or_fileobj=_clean_shard(shard))
            )
        manifest["configs"][info.name] = info.to_dict()
    for stage, record in stages.items():
        manifest["stages"][stage] = {k: record[k] for k in ("stage", "configs", "summary")}
        ops.append(_text_op(f"pipeline/{stage}/config.yaml", yaml.safe_dump(record["config"], sort_keys=False)))
        ops.append(_text_op(f"pipeline/{stage}/summary.json", json.dumps(record["summary"], indent=2, default=str)))
        if "pipeline_yaml" in record:
            ops.append(_text_op(f"pipeline/{stage}/pipeline.yaml", record["pipeline_yaml"]))
    remote_stage_configs = {}
    for stage in manifest["stages"]:
        if stage in stages:
            remote_stage_configs[stage] = stages[stage]["config"]
        elif files and f"pipeline/{stage}/config.yaml" in files:
            path = api.hf_hub_download(repo_id, f"pipeline/{stage}/config.yaml", repo_type="dataset", revision=head)
            remote_stage_configs[stage] = yaml.safe_load(Path(path).read_text()) or {}
    card = build_dataset_card(repo_id, manifest, remote_stage_configs, reproduce=reproduce, pretty_name=pretty_name)
    dags = [dag_markdown(r["pipeline_yaml"], f"Stage `{s}`") for s, r in stages.items() if "pipeline_yaml" in r]
    if dags:  # the DAG of each pushed stage's distilabel Pipeline (its pipeline.yaml is in pipeline/<stage>/)
        card = str(card).rstrip("\n") + "\n\n## Pipelines\n\n" + "\n".join(dags)
    ops.append(_text_op(MANIFEST, json.dumps(manifest, indent=2, default=str)))
    ops.append(_text_op("README.md", str(card)))
    _ensure_repo(api, repo_id, "dataset", private)
    _, head = _repo_state(api, repo_id, "dataset")
    pushed = [i.name for i in to_push]
    _call(
        api.create_commit,
        repo_id,
        operations=ops,
        repo_type="dataset",
        commit_message=f"compeff-hf: push {', '.join(pushed) or 'card'}",
        parent_commit=head,  # a concurrent push fails instead of being silently merged
        what=f"push to {repo_id}",
    )
    logger.info(
        "hub: pushed %s to dataset %s (%d rows)%s",
        ", ".join(pushed),
        repo_id,
        sum(i.rows for i in to_push),
        f"; unchanged: {', '.join(skipped)}" if skipped else "",
    )
    return {"repo_id": repo_id, "url": _url(api, repo_id, "dataset"), "pushed": pushed, "skipped": skipped}


def _clean_shard(shard: str) -> str | bytes:
    """A dataset shard as uploaded: the file itself, or a copy with secrets scrubbed from its text values."""
    clean = scrub_parquet(shard)
    if clean is None:
        return shard
    logger.info("hub: masked secrets in %s before upload", shard)
    return clean


def _text_op(path: str, text: str) -> Any:
    from huggingface_hub import CommitOperationAdd

    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=redact_text(text).encode("utf-8"))


def _url(api: Any, repo_id: str, repo_type: str) -> str:
    prefix = "datasets/" if repo_type == "dataset" else ""
    return f"{api.endpoint}/{prefix}{repo_id}"


# ------------------------------------------------------------------------------------------------------ models


def find_model_dir(path: Path) -> Path:
    """The folder holding the saved student: ``path`` itself or a child with config.json (not a checkpoint)."""
    path = Path(path)
    candidates = [path] + sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("checkpoint-"))
    for candidate in candidates:
        if (candidate / "config.json").is_file() or (candidate / "adapter_config.json").is_file():
            return candidate
    raise HubPushError(f"{path}: no saved model (config.json + *.safetensors) found to push")


def model_files(model_dir: Path) -> list[Path]:
    """The files of a model folder that may be uploaded; refuses pickle-only weights."""
    weights = list(model_dir.glob("*.safetensors"))
    pickles = [p.name for p in model_dir.iterdir() if p.is_file() and p.suffix in PICKLE_SUFFIXES]
    if not weights:
        found = f" (found only {', '.join(sorted(pickles))})" if pickles else ""
        raise HubPushError(
            f"{model_dir}: no *.safetensors weights{found}; compeff-hf pushes safetensors only. "
            "Re-save with model.save_pretrained(dir, safe_serialization=True)"
        )
    if pickles:
        logger.info("hub: not uploading pickle files %s (safetensors only)", ", ".join(sorted(pickles)))
    allowed = re.compile("|".join(re.escape(p).replace(r"\*", ".*") + "$" for p in MODEL_FILES))
    return sorted(p for p in model_dir.iterdir() if p.is_file() and allowed.match(p.name))


# Small metadata files written by training; their secret-named keys are masked too (tokenizer files are left alone).
_SCRUB_KEYS = {"training_info.json", "training_args.json", "trainer_state.json", "compeff_hf_model.json"}


def _scrubbed(path: Path) -> str | bytes:
    """What to upload for a file: the path itself, or its bytes with secrets masked when it is text holding any."""
    if path.suffix not in (".json", ".txt", ".jinja", ".md", ".yaml"):
        return str(path)
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    clean = redact_text(text, inline=False)
    if path.name in _SCRUB_KEYS:
        try:
            data = json.loads(clean)
        except json.JSONDecodeError:
            data = None
        if data is not None and redact(data) != data:
            clean = json.dumps(redact(data), indent=2, ensure_ascii=False)
    if clean == text:
        return str(path)
    logger.info("hub: masked secrets in %s before upload", path.name)
    return clean.encode("utf-8", errors="surrogateescape")


def push_model(
    model_dir: str | Path,
    repo_id: str,
    *,
    card: Any | None = None,
    private: bool = False,
    overwrite_repo: bool = False,
    token: str | None = None,
) -> dict[str, Any]:
    """Push a trained student (safetensors, config, tokenizer, chat template) with its model card.

    A non-empty repo is refused unless ``overwrite_repo`` (then files not in this push are deleted), except when
    it already holds exactly these files (the push is skipped).
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api = hub_api(token)
    repo_id = resolve_repo_id(api, repo_id)
    model_dir = Path(model_dir)
    files = model_files(model_dir)
    readme = str(card) if card is not None else None
    if readme is None and (model_dir / "README.md").is_file():
        readme = (model_dir / "README.md").read_text()
    fingerprint = row_id([(p.name, p.stat().st_size) for p in files if p.name != "README.md"], readme)
    remote, head = _repo_state(api, repo_id, "model")
    if remote is not None and not _empty(remote):
        marker = (
            _read_json(api, repo_id, "model", "compeff_hf_push.json", head)
            if "compeff_hf_push.json" in remote
            else None
        )
        if marker and marker.get("fingerprint") == fingerprint:
            logger.info("hub: %s already holds this model; nothing to push", repo_id)
            return {"repo_id": repo_id, "url": _url(api, repo_id, "model"), "pushed": False}
        if not overwrite_repo:
            raise HubPushError(
                f"model repo {repo_id} is not empty; refusing to overwrite it. Pass --overwrite_repo true to "
                "replace its content, or choose another repo id"
            )
    ops: list[Any] = [
        CommitOperationAdd(path_in_repo=p.name, path_or_fileobj=_scrubbed(p)) for p in files if p.name != "README.md"
    ]
    if readme is not None:
        ops.append(_text_op("README.md", readme))
    ops.append(_text_op("compeff_hf_push.json", json.dumps({"fingerprint": fingerprint}, indent=2)))
    new = {op.path_in_repo for op in ops}
    ops += [
        CommitOperationDelete(path_in_repo=f) for f in sorted(set(remote or [])) if f not in new | {".gitattributes"}
    ]
    _ensure_repo(api, repo_id, "model", private)
    _, head = _repo_state(api, repo_id, "model")
    _call(
        api.create_commit,
        repo_id,
        operations=ops,
        repo_type="model",
        commit_message="compeff-hf: push student",
        parent_commit=head,
        what=f"push to {repo_id}",
    )
    size = sum(p.stat().st_size for p in files)
    logger.info("hub: pushed model %s (%d files, %.1f MB)", repo_id, len(files), size / 1e6)
    return {"repo_id": repo_id, "url": _url(api, repo_id, "model"), "pushed": True}
