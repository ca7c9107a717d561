"""Model and dataset cards rendered from the package's templates, with metadata built from huggingface_hub's
card data classes so the Hub (and ``ModelCard.load``) can parse it: ``base_model``, ``datasets``, ``license``,
``tags`` and SentiBench results as ``model-index``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, EvalResult, ModelCard, ModelCardData

from ..errors import CompEffError
from .redact import redact, redact_text

# The paper the method comes from: its arXiv id in the tags and a link in the body make the Hub list the model
# under "Paper for" (https://huggingface.co/papers/2510.24425).
PAPER_ARXIV_ID = "2510.24425"
DEFAULT_TAGS = ["compeff-hf", "sentiment-analysis", "distillation", "trl", "sft", f"arxiv:{PAPER_ARXIV_ID}"]
# The paper's entry in the ACL Anthology (2025.emnlp-main.1122), as the Anthology exports it.
BIBTEX = """@inproceedings{xie-etal-2025-comprehensive,
    title = "Comprehensive and Efficient Distillation for Lightweight Sentiment Analysis Models",
    author = "Xie, Guangyu  and
      Zhang, Yice  and
      Bao, Jianzhu  and
      Wang, Qianlong  and
      Sun, Yang  and
      Wang, Bingbing  and
      Xu, Ruifeng",
    booktitle = "Proceedings of the 2025 Conference on Empirical Methods in Natural Language Processing",
    month = nov,
    year = "2025",
    address = "Suzhou, China",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2025.emnlp-main.1122/",
    doi = "10.18653/v1/2025.emnlp-main.1122",
    pages = "22081--22102"
}"""
EXAMPLE_INSTRUCTION = (
    "What is the overall sentiment of the following review? Answer with positive, negative or neutral.\n\n"
    "Review: The battery lasts all day, but the screen scratches far too easily."
)
# Built-in aliases and the Hub model they were converted from.
ALIAS_HUB_IDS = {"gemma-3-270m": "google/gemma-3-270m"}
# License of well-known base families (Hub license identifiers), longest prefix wins. Used when the base model's
# own card cannot be read; the student inherits the base model's license terms.
KNOWN_LICENSES: dict[str, tuple[str, str | None]] = {
    "google/gemma": ("gemma", None),
    "google/codegemma": ("gemma", None),
    "Qwen/Qwen3": ("apache-2.0", None),
    "Qwen/Qwen2.5": ("apache-2.0", None),
    "Qwen/Qwen2.5-3B": ("other", "qwen-research"),
    "meta-llama/Llama-3.2": ("llama3.2", None),
    "meta-llama/Llama-3.1": ("llama3.1", None),
    "meta-llama/Meta-Llama-3.1": ("llama3.1", None),
    "meta-llama/Llama-3.3": ("llama3.3", None),
    "meta-llama/Meta-Llama-3": ("llama3", None),
    "mistralai/Mistral": ("apache-2.0", None),
    "microsoft/Phi-3": ("mit", None),
    "HuggingFaceTB/SmolLM": ("apache-2.0", None),
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_NOT_METRIC = re.compile(r"^(n|num_.*|.*_count|count|support|.*_s|.*time.*|.*fail.*|.*errors?|.*parsed.*)$", re.I)
# Result keys -> (model-index metric type, metric config), so the Hub shows `f1 (macro)` rather than a free name.
_METRIC_TYPES = {
    "macro_f1": ("f1", "macro"),
    "f1_macro": ("f1", "macro"),
    "micro_f1": ("f1", "micro"),
    "weighted_f1": ("f1", "weighted"),
    "acc": ("accuracy", None),
}
SENTIBENCH_TASKS = {  # SentiBench dataset -> Hub task type for model-index
    "default": ("text-classification", "Sentiment Analysis"),
}


def template(name: str) -> str:
    """The text of a card template shipped in ``compeff_hf/hub/templates``."""
    return resources.files("compeff_hf.hub").joinpath("templates", name).read_text(encoding="utf-8")


def is_hub_id(ref: str | None) -> bool:
    """Whether ``ref`` looks like ``owner/name`` and is not an existing local path."""
    return bool(ref) and bool(_HUB_ID.match(str(ref))) and not Path(str(ref)).expanduser().exists()


def hub_base_model(ref: str | None) -> str | None:
    """The Hub id a model reference stands for: a Hub id itself, a built-in alias's source, or a local folder that
    records one (a converted built-in model, or a card with ``base_model``); None when it has none."""
    if not ref:
        return None
    if ref in ALIAS_HUB_IDS:
        return ALIAS_HUB_IDS[ref]
    if is_hub_id(ref):
        return ref
    path = Path(ref).expanduser()
    marker = path / "compeff_hf_model.json"
    if marker.is_file():
        name = json.loads(marker.read_text()).get("name")
        if name in ALIAS_HUB_IDS:
            return ALIAS_HUB_IDS[name]
    if (path / "README.md").is_file():
        try:
            data = ModelCard.load(path / "README.md").data
        except Exception:
            return None
        for key in ("base_model", "model_name"):
            value = getattr(data, key, None)
            value = value[0] if isinstance(value, list) and value else value
            if isinstance(value, str) and is_hub_id(value):
                return value
    return None


def inherit_license(base_model: str | None) -> tuple[str | None, str | None]:
    """(license, license_name) of a base model: from its local card when it is a folder, else the known families."""
    if not base_model:
        return None, None
    path = Path(base_model).expanduser()
    if (path / "README.md").is_file():
        try:
            data = ModelCard.load(path / "README.md").data
            if data.license:
                return data.license, getattr(data, "license_name", None)
        except Exception:
            pass
    hub_id = hub_base_model(base_model)
    if not hub_id:
        return None, None
    best = max((p for p in KNOWN_LICENSES if hub_id.lower().startswith(p.lower())), key=len, default=None)
    return KNOWN_LICENSES[best] if best else (None, None)


def eval_results_from(results: Any, dataset_type: str = "sentibench", split: str = "test") -> list[EvalResult]:
    """Normalise evaluation results into ``EvalResult`` objects.

    Accepts the results.json written by ``compeff-hf eval`` (one entry per dataset and the average, through
    :func:`compeff_hf.evaluation.report.model_index_results`); a list of ``EvalResult``; a list of dicts with
    ``EvalResult`` fields; or a mapping ``{dataset: {metric: value}}`` (or ``{dataset: value}``, read as accuracy),
    optionally wrapped in ``{"results": ...}``. Non-numeric entries are skipped.
    """
    if results is None:
        return []
    if isinstance(results, Mapping) and isinstance(results.get("scores"), Mapping) and "protocol" in results:
        from ..evaluation.report import model_index_results

        return model_index_results(dict(results))
    if isinstance(results, Mapping) and "results" in results and isinstance(results["results"], (Mapping, list)):
        results = results["results"]
    out: list[EvalResult] = []
    if isinstance(results, Sequence) and not isinstance(results, str):
        for item in results:
            if isinstance(item, EvalResult):
                out.append(item)
            elif isinstance(item, Mapping):
                out.append(EvalResult(**dict(item)))
            else:
                raise CompEffError(f"eval results: cannot read {type(item).__name__} entries; give EvalResult or dict")
        return out
    if not isinstance(results, Mapping):
        raise CompEffError(f"eval results: expected a list or a mapping, got {type(results).__name__}")
    for dataset, metrics in results.items():
        if not isinstance(metrics, Mapping):
            metrics = {"accuracy": metrics}
        for metric, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or _NOT_METRIC.match(str(metric)):
                continue  # counts of parse failures, timings and the like are not model-index metrics
            metric_type, metric_config = _METRIC_TYPES.get(str(metric).lower(), (str(metric).lower(), None))
            task_type, task_name = SENTIBENCH_TASKS.get(str(dataset), SENTIBENCH_TASKS["default"])
            out.append(
                EvalResult(
                    task_type=task_type,
                    task_name=task_name,
                    dataset_type=dataset_type,
                    dataset_name=f"SentiBench {dataset}",
                    dataset_config=str(dataset),
                    dataset_split=split,
                    metric_type=metric_type,
                    metric_config=metric_config,
                    metric_name=str(metric),
                    metric_value=round(float(value), 4),
                )
            )
    return out


def eval_comparison_rows(comparison: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Table rows of a before/after comparison (``evaluation.stats.compare``): a change is marked significant
    only when the paired bootstrap's interval excludes 0, and every row says how many test items it rests on."""
    if not comparison:
        return []
    named = [*comparison.get("datasets", {}).items(), ("average", comparison.get("average"))]
    return [
        {
            "dataset": name,
            "before": f"{d['before']:.1f}",
            "after": f"{d['after']:.1f}",
            "change": f"{d['delta']:+.1f}",
            "ci": f"{d['low']:+.1f} to {d['high']:+.1f}",
            "significant": "yes" if d["significant"] else "no (noise)",
            "n_items": str(d["n_items"]),
        }
        for name, d in named
        if d
    ]


def _prompt_format(model_dir: Path, instruction: str) -> str | None:
    """The exact prompt the chat template produces for one user message (None without a usable tokenizer)."""
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": instruction}], tokenize=False, add_generation_prompt=True
        )
    except Exception:
        return None


def _model_facts(model_dir: Path) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    config = model_dir / "config.json"
    if config.is_file():
        cfg = json.loads(config.read_text())
        facts["dtype"] = cfg.get("dtype") or cfg.get("torch_dtype")
        facts["architecture"] = (cfg.get("architectures") or [None])[0]
    try:
        from safetensors import safe_open

        total = 0
        for shard in model_dir.glob("*.safetensors"):
            with safe_open(str(shard), framework="pt") as fh:
                total += sum(_numel(fh.get_slice(key).get_shape()) for key in fh.keys())  # noqa: SIM118
        facts["num_parameters"] = _human(total) if total else None
    except Exception:
        facts["num_parameters"] = None
    return facts


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _human(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def versions(packages: Sequence[str] = ("compeff-hf", "transformers", "trl", "torch", "datasets", "tokenizers")):
    """Installed versions of the packages a card reports."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value).replace("|", "\\|").replace("\n", " ")


def is_adapter(model_dir: str | Path) -> bool:
    """Whether a saved student is a PEFT adapter (LoRA) rather than full weights."""
    return (Path(model_dir) / "adapter_config.json").is_file()


def _result_key(result: EvalResult) -> tuple[str, str]:
    return (str(result.dataset_config or result.dataset_name), str(result.metric_name or result.metric_type))


def build_model_card(
    model_dir: str | Path,
    *,
    base_model: str,
    datasets: str | Sequence[str] | None,
    teacher: str | None = None,
    hyperparameters: Mapping[str, Any] | None,
    training: Mapping[str, Any] | None,
    reproduce: str,
    eval_results: Sequence[EvalResult] | Mapping[str, Any] | None = None,
    compare_results: Mapping[str, Any] | None = None,
    eval_dataset_id: str | None = None,
    eval_comparison: Mapping[str, Any] | None = None,
    license: str | None = None,
    tags: Sequence[str] | None = None,
    model_id: str | None = None,
    adapter: bool | None = None,
    example_instruction: str = EXAMPLE_INSTRUCTION,
) -> ModelCard:
    """Render the model card of a trained student.

    Args:
        model_dir: the saved student (config, safetensors, tokenizer); its chat template gives the exact prompt.
        base_model: what the student was fine-tuned from (Hub id, local folder or built-in alias).
        datasets: Hub dataset id(s) the student was trained on; local paths are named in the text, not metadata.
        teacher: the teacher model (named in the card and tags).
        hyperparameters: training settings to list (secrets are masked).
        training: training results (steps, loss, runtime, tokens).
        reproduce: the command that reproduces the student.
        eval_results: the student's SentiBench results, as ``EvalResult`` objects or a mapping (see
            :func:`eval_results_from`).
        compare_results: other models' results on the same datasets, shown as extra columns of the results table
            (e.g. ``{"base": ..., "teacher": ...}``), never in the metadata.
        eval_dataset_id: the Hub dataset the results can be checked against (e.g. the run's dataset repo holding
            the SentiBench predictions). ``model-index`` needs a Hub dataset id, so without one the results are
            shown in the table only.
        eval_comparison: before vs after training, as ``evaluation.stats.compare`` returns it (paired bootstrap).
        license: overrides the license inherited from the base model.
        tags: extra tags.
        model_id: the Hub repo id used in the snippet (defaults to the folder name).
        adapter: whether the folder holds a PEFT adapter (default: detected from ``adapter_config.json``); an
            adapter's card says ``library_name: peft`` so the Hub loads it on top of ``base_model``.

    Returns:
        A ``huggingface_hub.ModelCard`` whose metadata round-trips through ``ModelCard.load``.
    """
    import dataclasses

    model_dir = Path(model_dir)
    model_id = model_id or model_dir.name
    model_name = model_id.split("/")[-1]
    adapter = is_adapter(model_dir) if adapter is None else adapter
    hub_base = hub_base_model(base_model)
    license_name = None
    if license is None:
        license, license_name = inherit_license(base_model)
    dataset_list = [datasets] if isinstance(datasets, str) else list(datasets or [])
    hub_datasets = [d for d in dataset_list if is_hub_id(d)]
    results = eval_results_from(eval_results)
    if eval_dataset_id and not _HUB_ID.match(eval_dataset_id):
        raise CompEffError(f"eval_dataset_id must be a Hub dataset id (owner/name), got {eval_dataset_id!r}")
    index_results = [dataclasses.replace(r, dataset_type=eval_dataset_id) for r in results] if eval_dataset_id else []
    all_tags = list(dict.fromkeys([*DEFAULT_TAGS, *(["lora", "peft"] if adapter else []), *(tags or [])]))
    card_data = ModelCardData(
        model_name=model_name,
        base_model=hub_base,
        datasets=hub_datasets or None,
        license=license,
        license_name=license_name,
        library_name="peft" if adapter else "transformers",
        pipeline_tag="text-generation",
        language=["en"],
        tags=all_tags,
        eval_results=index_results or None,
    )
    facts = _model_facts(model_dir)
    compare = {
        label: {_result_key(r): r for r in eval_results_from(res)} for label, res in (compare_results or {}).items()
    }
    eval_rows = [
        {
            "dataset": r.dataset_config or r.dataset_name,
            "split": r.dataset_split or "",
            "metric": r.metric_name or r.metric_type,
            "value": _fmt(r.metric_value),
            "compare": [
                _fmt(other[_result_key(r)].metric_value) if _result_key(r) in other else ""
                for other in compare.values()
            ],
            "details": _fmt(r.metric_config or ""),
        }
        for r in results
    ]
    card = ModelCard.from_template(
        card_data,
        template_str=template("model_card.md.jinja"),
        model_id=model_id,
        model_name=model_name,
        base_model_text=hub_base or (f"{base_model} (local)" if base_model else "unknown"),
        teacher_text=redact_text(teacher) if teacher else "not recorded",
        license_text=(license_name or license) if license else "not known: check the base model's license",
        datasets=hub_datasets,
        eval_rows=eval_rows,
        compare_labels=list(compare),
        in_model_index=bool(index_results),
        eval_dataset_id=eval_dataset_id,
        adapter=adapter,
        base_hub_id=hub_base,
        arxiv_id=PAPER_ARXIV_ID,
        bibtex=BIBTEX,
        eval_comparison=eval_comparison_rows(eval_comparison),
        eval_comparison_boot=(eval_comparison or {}).get("n_boot"),
        example_instruction=example_instruction,
        prompt_format=_prompt_format(model_dir, example_instruction),
        max_new_tokens=128,
        hyperparameters={k: _fmt(v) for k, v in redact(dict(hyperparameters or {})).items() if v is not None},
        training={k: _fmt(v) for k, v in redact(dict(training or {})).items() if v is not None},
        reproduce=redact_text(reproduce),
        versions=versions(("compeff-hf", "transformers", "trl", "peft", "torch", "datasets", "tokenizers")),
        num_parameters=facts.get("num_parameters"),
        dtype=facts.get("dtype"),
    )
    validate_card_metadata(card)
    return card


def validate_card_metadata(card: ModelCard | DatasetCard | str) -> dict[str, Any]:
    """Parse a card's YAML metadata back and check it offline the way the Hub reads it; returns the metadata.

    For model cards, ``model-index`` must parse back into the same ``EvalResult`` objects, and ``base_model`` and
    ``datasets`` must be Hub ids. Raises :class:`CompEffError` naming the field.
    """
    text = str(card) if not isinstance(card, str) else card
    kind = DatasetCard if isinstance(card, DatasetCard) else ModelCard
    try:
        parsed = kind(text)
    except Exception as err:
        raise CompEffError(f"card metadata does not parse: {err}") from err
    data = parsed.data.to_dict()
    if kind is ModelCard:
        for key in ("base_model", "datasets"):
            values = data.get(key)
            values = [values] if isinstance(values, str) else values or []
            bad = [v for v in values if not _HUB_ID.match(v)]
            if bad:
                raise CompEffError(f"model card field '{key}' must hold Hub ids, got {bad}")
        if data.get("model-index"):
            from huggingface_hub.repocard_data import model_index_to_eval_results

            try:
                _, results = model_index_to_eval_results(data["model-index"])
            except Exception as err:
                raise CompEffError(f"model card field 'model-index' is invalid: {err}") from err
            if not results:
                raise CompEffError("model card field 'model-index' holds no results")
    return data


# ---------------------------------------------------------------------------------------------------- datasets

CONFIG_DESCRIPTIONS = {
    "texts": "the user texts the run started from",
    "attributes": "sentiment-related attributes (name, description, value) enumerated for each user text",
    "perspectives": "analytical perspectives: clusters of normalised attributes (Affinity Propagation)",
    "analysis": "open-ended analysis prompts written for each perspective",
    "tasks": "task definitions per perspective (classification, rating, extraction, structured output)",
    "demos": "synthetic demonstrations for each task, in the style of real user texts",
    "instructions": "chat `messages`: a task or analysis instruction applied to a user text",
    "teacher_responses": "the instructions with the teacher's response in `output` and request metadata",
    "scored": "teacher responses with the student's difficulty score for each row",
    "filtered": "the training set: the hardest rows kept per instruction at the keep ratio",
    "predictions": "SentiBench predictions of the student",
    "rejected": "rows set aside with the reason (unparsable outputs, duplicates, too short)",
    "truncated": "teacher answers cut at the token budget (finish_reason=length), kept out of training",
}
_MODEL_KEY = re.compile(r"(^|_)(model|model_name_or_path|teacher|generator|scorer)(_|$)", re.I)
_ENDPOINT_KEY = re.compile(r"(endpoint|url|base_url|host)", re.I)
_SELECTION_KEY = re.compile(r"(method|ratio|strategy|selection|granularity|stratif|top_p|keep)", re.I)
_COST_KEY = re.compile(r"(request|token|wall_time|cost|fail|retr|truncat)", re.I)


def _flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _pick(flat: Mapping[str, Any], pattern: re.Pattern, numeric: bool = False) -> dict[str, Any]:
    out = {}
    for key, value in flat.items():
        if not pattern.search(key.rsplit(".", 1)[-1]) or value in (None, "", [], {}):
            continue
        if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
            continue
        if not numeric and not isinstance(value, (str, int, float, bool)):
            continue
        out[key] = value
    return out


def _sum_matching(flat: Mapping[str, Any], word: str) -> int | float | None:
    values = [
        v
        for k, v in flat.items()
        if word in k.rsplit(".", 1)[-1].lower()
        and "max" not in k.lower()
        and isinstance(v, (int, float))
        and not isinstance(v, bool)
    ]
    return sum(values) if values else None


def _stage_facts(name: str, config: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, Any]:
    """What a card says about one stage, read from its resolved config and summary (secrets already masked)."""
    import yaml

    flat_cfg, flat_sum = _flatten(config), _flatten({k: v for k, v in summary.items() if k != "prompts"})
    models = {k: v for k, v in _pick(flat_cfg, _MODEL_KEY).items() if isinstance(v, str)}
    endpoints = {k: redact_text(str(v)) for k, v in _pick(flat_cfg, _ENDPOINT_KEY).items() if isinstance(v, str)}
    prompts = {k: v for k, v in flat_cfg.items() if "prompt" in k.lower() and isinstance(v, str) and v}
    raw_prompts = summary.get("prompts")
    if isinstance(raw_prompts, Mapping):
        prompts.update({str(k): str(v) for k, v in raw_prompts.items()})
    selection = _pick(flat_cfg, _SELECTION_KEY) if name == "filter" else {}
    selection.update(_pick(flat_sum, _SELECTION_KEY) if name == "filter" else {})
    cost = _pick(flat_sum, _COST_KEY, numeric=True)
    wall = summary.get("wall_time_s")
    return {
        "name": name,
        "models": models,
        "endpoints": endpoints,
        "prompts": prompts,
        "selection": selection,
        "cost": cost,
        "requests": _sum_matching(flat_sum, "request"),
        "tokens": _sum_matching(flat_sum, "token"),
        "wall_time": round(wall, 1) if isinstance(wall, (int, float)) else None,
        "config_yaml": yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True).strip(),
    }


def _size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return label
    return "1M<n<10M"


def build_dataset_card(
    repo_id: str,
    manifest: Mapping[str, Any],
    stage_configs: Mapping[str, Mapping[str, Any]],
    *,
    reproduce: str | None = None,
    pretty_name: str | None = None,
) -> DatasetCard:
    """Render the dataset card of a repo holding several stages' outputs, one config each.

    ``manifest`` is ``pipeline/manifest.json`` (``configs``: name -> stage, rows, columns; ``stages``: name ->
    summary); ``stage_configs`` maps each stage to its resolved config. Secrets are masked before rendering.
    """
    from huggingface_hub import DatasetCardData

    from .push import STAGE_ORDER

    rank = {s: i for i, s in enumerate(STAGE_ORDER)}
    configs = sorted(manifest["configs"].values(), key=lambda c: (rank.get(c["stage"], 99), c["name"]))
    names = [c["name"] for c in configs]
    default = next((n for n in ("filtered", "teacher_responses", "instructions") if n in names), names[-1])
    rows = []
    for c in configs:
        rows.append(
            {
                **c,
                "default": c["name"] == default,
                "description": CONFIG_DESCRIPTIONS.get(
                    c["name"], f"dataset `{c['folder']}` of the {c['stage']} stage"
                ),
            }
        )
    ordered = sorted(manifest["stages"].items(), key=lambda kv: (rank.get(kv[1].get("stage", kv[0]), 99), kv[0]))
    stages = [
        _stage_facts(name, redact(dict(stage_configs.get(name) or {})), redact(dict(record.get("summary") or {})))
        | {"command": record.get("stage", name)}
        for name, record in ordered
    ]
    if reproduce is None:
        lines = [
            f"hf download {repo_id} --repo-type dataset --include 'pipeline/*' --local-dir {repo_id.split('/')[-1]}"
        ]
        lines += [
            f"compeff-hf {s['command']} --config {repo_id.split('/')[-1]}/pipeline/{s['name']}/config.yaml"
            for s in stages
        ]
        reproduce = "\n".join(lines)
    card_data = DatasetCardData(
        pretty_name=pretty_name or repo_id.split("/")[-1],
        language=["en"],
        task_categories=["text-generation", "text-classification"],
        tags=["compeff-hf", "sentiment-analysis", "distillation", "synthetic", f"arxiv:{PAPER_ARXIV_ID}"],
        size_categories=_size_category(sum(c["rows"] for c in configs)),
        configs=[
            {
                "config_name": c["name"],
                "data_files": [{"split": "train", "path": f"{c['name']}/*.parquet"}],
                **({"default": True} if c["name"] == default else {}),
            }
            for c in configs
        ],
    )
    from ..decontaminate.render import markdown as decontamination_markdown

    checks = {n: (r.get("summary") or {}).get("decontamination") for n, r in manifest["stages"].items()}
    card = DatasetCard.from_template(
        card_data,
        template_str=template("dataset_card.md.jinja"),
        decontamination=decontamination_markdown({n: d for n, d in checks.items() if d}),
        repo_id=repo_id,
        pretty_name=pretty_name or repo_id.split("/")[-1],
        configs=rows,
        default_config=default,
        stages=stages,
        reproduce=redact_text(reproduce),
        version=versions(("compeff-hf",)).get("compeff-hf", "?"),
        arxiv_id=PAPER_ARXIV_ID,
        bibtex=BIBTEX,
    )
    return DatasetCard(redact_text(str(card)))


def model_card_from_training_info(
    model_dir: str | Path,
    info: Mapping[str, Any] | None = None,
    *,
    model_id: str | None = None,
    datasets: Sequence[str] | None = None,
    eval_results: Any = None,
    compare_results: Mapping[str, Any] | None = None,
    eval_dataset_id: str | None = None,
    eval_comparison: Mapping[str, Any] | None = None,
) -> ModelCard:
    """:func:`build_model_card` fed from the train stage's ``training_info.json`` (read from ``model_dir``).

    This is the one model-card path: the train stage writes its README.md with it, ``publish`` re-renders it with
    the Hub ids and SentiBench results known at that point.
    """
    model_dir = Path(model_dir)
    if info is None:
        path = model_dir / "training_info.json"
        info = json.loads(path.read_text()) if path.is_file() else {}
    listed = [d.get("name") if isinstance(d, Mapping) else d for d in info.get("datasets") or []]
    training_keys = (
        "train_runtime_s", "train_tokens", "loss_tokens", "tokens_per_second", "first_loss", "final_loss",
        "global_steps", "global_batch_size", "epochs", "train_samples", "device", "world_size", "distillation",
    )  # fmt: skip
    return build_model_card(
        model_dir,
        base_model=info.get("base_model") or "",
        datasets=list(datasets or []) + [d for d in listed if d],
        teacher=info.get("teacher"),
        hyperparameters=info.get("hyperparameters") or {},
        training={k: info[k] for k in training_keys if info.get(k) is not None},
        reproduce=info.get("reproduce_command") or "compeff-hf train --config <recipe.yaml>",
        eval_results=eval_results if eval_results is not None else info.get("eval_results"),
        compare_results=compare_results,
        eval_dataset_id=eval_dataset_id,
        eval_comparison=eval_comparison,
        model_id=model_id,
    )
