"""Entry point of `compeff-hf eval`: SentiBench with the published protocol, resumable, with a results bundle.

Output folder (``--output_dir``, default ``runs/eval``)::

    config.yaml            the resolved config
    _ledger/predictions.jsonl  one row per (dataset, seed, test item) as it completes: a killed run resumes here
    predictions/           the same rows as parquet (dataset, seed, index, gold, prediction, raw output, scores)
    results.json           protocol, model (and revision), data source, versions, scores per seed/dataset/group
    results.md             the markdown table
    model_index.json       `model-index` entries for the model card (see `report.model_index_results`)
    summary.json           written last
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import time
from pathlib import Path
from typing import Any

from ..data import row_id
from ..log import get_logger
from ..progress import progress
from ..stage import StageDir
from .config import EvalConfig
from .data import Source, load_split, resolve_source
from .prompts import apply_chat_template, build_prompt, draw_demos, gold_answer
from .report import markdown_table, model_index_results
from .scoring import aggregate, parse_prediction, score_task
from .tasks import Task, select_tasks

logger = get_logger(__name__)
CHUNK = 64  # rows handed to the runner at a time, so the ledger is written often


def build_rows(task: Task, test: list[dict], train: list[dict], config: EvalConfig, seed: int) -> list[dict]:
    """Prompt and bookkeeping of every (test item, seed) of a task, with its demo indices."""
    draws = draw_demos(train, len(test), config.k_shot, seed)
    return [
        {
            "id": row_id(task.name, seed, index, config.k_shot),
            "dataset": task.name,
            "seed": seed,
            "index": index,
            "demos": draw,
            "prompt": build_prompt(task, item, [train[d] for d in draw]),
        }
        for index, (item, draw) in enumerate(zip(test, draws, strict=False))
    ]


def run_task(task: Task, rows: list[dict], test: list[dict], runner: Any, config: EvalConfig, ledger: Any, bar: Any):
    """Predict the rows not in the ledger yet; each finished chunk is appended to the ledger."""
    from .runner import label_token_ids

    todo = [r for r in rows if r["id"] not in ledger]
    bar.update(len(rows) - len(todo))
    if not todo:
        return
    prompts = [r["prompt"] for r in todo]
    if config.chat_template:
        prompts = [apply_chat_template(runner.tokenizer, p) for p in prompts]
    if task.is_classification:
        ids = label_token_ids(runner.tokenizer, task.verbalizers)
        if len(set(ids)) < len(ids):
            logger.warning("%s: two labels share their first token; ties go to the first label", task.name)
    for start in range(0, len(todo), CHUNK):
        chunk, chunk_prompts = todo[start : start + CHUNK], prompts[start : start + CHUNK]
        done = []
        if task.is_classification:
            best, scores = runner.classify(chunk_prompts, ids)
            for row, b, s in zip(chunk, best, scores, strict=False):
                done.append(_record(row, task, test, prediction=task.labels[b], label_scores=s))
        else:
            budget = config.max_new_tokens or task.max_new_tokens
            texts = runner.generate(chunk_prompts, budget, config.k_shot)
            for row, text in zip(chunk, texts, strict=False):
                item = test[row["index"]]
                parsed = parse_prediction(task, item, text, config.k_shot)
                output = text[len(row["prompt"]) :] if text.startswith(row["prompt"]) else text
                done.append(
                    _record(row, task, test, prediction=parsed["answer"], tuples=parsed["tuples"], output=output)
                )
        ledger.extend(done)
        bar.update(len(chunk))


def _record(row: dict, task: Task, test: list[dict], **values: Any) -> dict:
    item = test[row["index"]]
    return {
        "id": row["id"],
        "dataset": row["dataset"],
        "seed": row["seed"],
        "index": row["index"],
        "demos": row["demos"],
        "gold": gold_answer(task, item),
        "prediction": values["prediction"],
        "tuples": values.get("tuples"),
        "label_scores": values.get("label_scores"),
        "output": values.get("output"),
    }


def model_revision(path: str) -> dict[str, Any]:
    """What identifies the weights evaluated: the Hub commit, or a SHA-256 of a local folder's weight files."""
    folder = Path(path)
    if not folder.is_dir():
        return {"ref": path}
    digest = hashlib.sha256()
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        with weights.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 22), b""):
                digest.update(block)
    info: dict[str, Any] = {"path": str(folder), "weights_sha256": digest.hexdigest()}
    marker = folder / "compeff_hf_model.json"
    if marker.exists():
        info["builtin"] = json.loads(marker.read_text())
    return info


def versions() -> dict[str, str]:
    import datasets
    import evaluate
    import huggingface_hub
    import torch
    import transformers

    from .. import __version__

    return {
        "compeff_hf": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "evaluate": evaluate.__version__,
        "huggingface_hub": huggingface_hub.__version__,
        "python": platform.python_version(),
    }


def evaluate_model(config: EvalConfig, stage: StageDir | None = None) -> dict[str, Any]:
    """Run (or resume) the evaluation and return the results dict; writes the bundle when ``stage`` is given."""
    from ..models import default_device, load_causal_lm, load_tokenizer, resolve_model
    from .runner import InferenceRunner

    tasks = select_tasks(config.datasets)
    source: Source = resolve_source(config.data_dir, tasks)
    start = time.time()
    data = {}
    for task in tasks:
        test, train = load_split(source, task, "test"), load_split(source, task, "train")
        data[task.name] = (test[: config.limit] if config.limit else test, train)
    path = resolve_model(config.model)
    device = config.device or default_device()
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    tokenizer = load_tokenizer(config.model)
    kwargs = {"attn_implementation": config.attn_implementation} if config.attn_implementation else {}
    model = load_causal_lm(config.model, dtype=config.dtype, device=device, **kwargs)
    runner = InferenceRunner(model, tokenizer, config.batch_size, config.max_batch_tokens)
    ledger = stage.ledger("predictions") if stage else _MemoryLedger()
    total = sum(len(test) for test, _ in data.values()) * len(config.seeds)
    per_seed: dict[str, dict[int, dict[str, float]]] = {}
    timings: dict[str, float] = {}
    with progress(total=total, desc="sentibench", unit="item") as bar:
        for task in tasks:
            test, train = data[task.name]
            t0 = time.time()
            for seed in config.seeds:
                bar.set_postfix_str(f"{task.name} seed {seed}")
                rows = build_rows(task, test, train, config, seed)
                run_task(task, rows, test, runner, config, ledger, bar)
                preds = [ledger.get(r["id"]) for r in rows]
                values = [p["prediction"] if task.is_classification else p["tuples"] for p in preds]
                per_seed.setdefault(task.name, {})[seed] = score_task(task, test, values)
            timings[task.name] = round(time.time() - t0, 2)
            logger.info(
                "%s: %.1f (%s)",
                task.name,
                100 * sum(s["score"] for s in per_seed[task.name].values()) / len(config.seeds),
                ", ".join(f"seed {k}: {100 * v['score']:.1f}" for k, v in per_seed[task.name].items()),
            )
    results = {
        "model": config.model,
        "model_revision": model_revision(path),
        "protocol": {
            "benchmark": "SentiBench",
            "k_shot": config.k_shot,
            "seeds": list(config.seeds),
            "limit": config.limit,
            "chat_template": config.chat_template,
            "classification": "argmax of next-token logits over the first token of each ' label'",
            "fine_grained": "greedy JSON generation (COMPEFFDIST), max_new_tokens 150 (OpeNER 300)",
            "max_new_tokens": config.max_new_tokens,
            "dtype": str(model.dtype),
            "device": device,
        },
        "data": source.describe(),
        "n_items": {name: len(test) for name, (test, _) in data.items()},
        "scores": aggregate(per_seed, tasks),
        "wall_time_s": round(time.time() - start, 1),
        "task_time_s": timings,
        "versions": versions(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if stage is not None:
        write_bundle(stage, results, ledger)
    return results


class _MemoryLedger(dict):
    """A ledger that keeps rows in memory (for library use without an output folder)."""

    def extend(self, rows: list[dict]) -> None:
        for row in rows:
            self[row["id"]] = row

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key)

    def rows(self) -> list[dict]:
        return list(self.values())


def write_bundle(stage: StageDir, results: dict[str, Any], ledger: Any) -> None:
    import datasets

    root = stage.root
    (root / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    (root / "results.md").write_text(markdown_table(results))
    entries = [dataclasses.asdict(r) for r in model_index_results(results)]
    (root / "model_index.json").write_text(json.dumps(entries, indent=2, default=str))
    rows = [
        {k: json.dumps(v) if k in ("tuples", "label_scores", "demos") else v for k, v in r.items()}
        for r in ledger.rows()
    ]
    if rows:
        stage.save_dataset(datasets.Dataset.from_list(rows), "predictions")


def main(config: EvalConfig) -> int:
    """`compeff-hf eval`: evaluate, print the table, write the bundle (see the module docstring)."""
    from ..models import check_tokenizer, load_tokenizer

    check_tokenizer(
        config.model, load_tokenizer(config.model), need_chat_template=config.chat_template, what="--model"
    )
    stage = StageDir(config.resolved_output_dir(), config, stage="eval")
    if stage.prepare(config.overwrite):
        print((stage.root / "results.md").read_text())
        return 0
    try:
        results = evaluate_model(config, stage)
        stage.finish(
            average=round(results["scores"]["average"], 2),
            datasets=results["scores"]["n_datasets"],
            eval_wall_time_s=results["wall_time_s"],
        )
    finally:
        stage.release()
    print(markdown_table(results))
    logger.info("results in %s (results.json, results.md, predictions/, model_index.json)", stage.root)
    return 0
