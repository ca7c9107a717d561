"""Entry point of `compeff-hf eval`: SentiBench with the published protocol, resumable, with a results bundle.

Output folder (``--output_dir``, default ``runs/eval``)::

    config.yaml            the resolved config
    _ledger/predictions.jsonl  one row per (dataset, seed, test item) as it completes: a killed run resumes here
    predictions/           the same rows as parquet (dataset, seed, index, gold, prediction, raw output, scores)
    results.json           protocol, model (and revision), data source, versions, scores per seed/dataset/group,
                           per dataset a bootstrap interval over items (ci_low/ci_high) and the spread over seeds
    per_item.json          per-item records of every dataset and seed (see ``stats``): what later tools bootstrap
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

from .. import distributed
from ..data import row_id
from ..log import get_logger
from ..progress import progress
from ..stage import StageDir
from . import parallel
from .config import EvalConfig
from .data import Source, load_split, resolve_source
from .prompts import apply_chat_template, build_prompt, draw_demos, gold_answer
from .report import markdown_table, model_index_results
from .scoring import aggregate, item_records, parse_prediction, score_task
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
    """Predict the rows not in the ledger yet; each finished chunk is appended to the ledger.

    Launched as several processes, the main process's ledger decides what is left, each process predicts every
    N-th row of each chunk, and the chunk is gathered back in its original order on every process (only the main
    process's ledger is a file).
    """
    from .runner import label_token_ids

    rank, size = distributed.world().rank, distributed.world().size
    left = distributed.broadcast_object([r["id"] for r in rows if r["id"] not in ledger])
    wanted = set(left)
    todo = [r for r in rows if r["id"] in wanted]
    bar.update(len(rows) - len(todo))
    if not todo:
        return
    if task.is_classification:
        ids = label_token_ids(runner.tokenizer, task.verbalizers)
        if len(set(ids)) < len(ids) and rank == 0:
            logger.warning("%s: two labels share their first token; ties go to the first label", task.name)
    for start in range(0, len(todo), CHUNK * size):
        chunk = todo[start : start + CHUNK * size]
        mine = parallel.shard(chunk, rank, size)
        done = predict(task, mine, test, runner, config, ids if task.is_classification else None) if mine else []
        runner.predicted = getattr(runner, "predicted", 0) + len(done)
        ledger.extend(parallel.unshard(distributed.gather_object(done)))
        bar.update(len(chunk))


def predict(task: Task, rows: list[dict], test: list[dict], runner: Any, config: EvalConfig, ids: Any) -> list[dict]:
    """Prediction records of some rows of one task."""
    prompts = [r["prompt"] for r in rows]
    if config.chat_template:
        prompts = [apply_chat_template(runner.tokenizer, p) for p in prompts]
    done = []
    if task.is_classification:
        best, scores = runner.classify(prompts, ids)
        for row, b, s in zip(rows, best, scores, strict=True):
            done.append(_record(row, task, test, prediction=task.labels[b], label_scores=s))
        return done
    budget = config.max_new_tokens or task.max_new_tokens
    texts = runner.generate(prompts, budget, config.k_shot)
    for row, text in zip(rows, texts, strict=True):
        item = test[row["index"]]
        parsed = parse_prediction(task, item, text, config.k_shot)
        output = text[len(row["prompt"]) :] if text.startswith(row["prompt"]) else text
        done.append(_record(row, task, test, prediction=parsed["answer"], tuples=parsed["tuples"], output=output))
    return done


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


def protocol(config: EvalConfig, *, dtype: str, device: str, processes: int = 1) -> dict[str, Any]:
    """How the scores were obtained; the nightly gate (scripts/compare_eval.py) refuses to compare across a change."""
    return {
        "benchmark": "SentiBench",
        "k_shot": config.k_shot,
        "seeds": list(config.seeds),
        "limit": config.limit,
        "chat_template": config.chat_template,
        "classification": "argmax of next-token logits over the first token of each ' label'",
        "fine_grained": f"greedy JSON generation (COMPEFFDIST), max_new_tokens {config.max_new_tokens or 150}",
        "max_new_tokens": config.max_new_tokens,
        "dtype": dtype,
        "device": device,
        "processes": processes,
    }


def evaluate_model(config: EvalConfig, stage: StageDir | None = None) -> dict[str, Any] | None:
    """Run (or resume) the evaluation and return the results dict; writes the bundle when ``stage`` is given.

    Launched as several processes (torchrun, accelerate launch, ``--num_processes``), every process predicts its
    share of the rows; only the main one scores, returns the results and writes (the others return None).
    """
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
    rank, size = distributed.world().rank, distributed.world().size
    device = config.device or default_device()
    if size > 1 and device == "cuda":
        import torch

        device = (
            f"cuda:{distributed.world().local_rank % torch.cuda.device_count()}"  # one GPU per process (or shared)
        )
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
    per_item: dict[str, Any] = {"version": 1, "datasets": {}}
    timings: dict[str, float] = {}
    with progress(total=total, desc="sentibench", unit="item") if rank == 0 else _NoBar() as bar:
        for task in tasks:
            test, train = data[task.name]
            t0 = time.time()
            for seed in config.seeds:
                bar.set_postfix_str(f"{task.name} seed {seed}")
                rows = build_rows(task, test, train, config, seed)
                run_task(task, rows, test, runner, config, ledger, bar)
                if rank != 0:
                    continue  # the main process scores and writes
                preds = [ledger.get(r["id"]) for r in rows]
                values = [p["prediction"] if task.is_classification else p["tuples"] for p in preds]
                per_seed.setdefault(task.name, {})[seed] = score_task(task, test, values)
                entry = per_item["datasets"].setdefault(task.name, {"metric": task.metric, "seeds": {}})
                entry["seeds"][str(seed)] = item_records(task, test, values)
            timings[task.name] = round(time.time() - t0, 2)
            if rank != 0:
                continue
            logger.info(
                "%s: %.1f (%s)",
                task.name,
                100 * sum(s["score"] for s in per_seed[task.name].values()) / len(config.seeds),
                ", ".join(f"seed {k}: {100 * v['score']:.1f}" for k, v in per_seed[task.name].items()),
            )
    predicted = distributed.gather_object(getattr(runner, "predicted", 0))
    if rank != 0:
        return None
    results = {
        "model": config.model,
        "model_revision": model_revision(path),
        "protocol": protocol(config, dtype=str(model.dtype), device=device, processes=size),
        "data": source.describe(),
        "n_items": {name: len(test) for name, (test, _) in data.items()},
        "rows_per_process": predicted,  # rows each process predicted in this call (resumed rows not counted)
        "scores": add_intervals(aggregate(per_seed, tasks), per_item, config),
        "wall_time_s": round(time.time() - start, 1),
        "task_time_s": timings,
        "versions": versions(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if stage is not None:
        write_bundle(stage, results, ledger, per_item)
    return results


def add_intervals(scores: dict[str, Any], per_item: dict[str, Any], config: EvalConfig) -> dict[str, Any]:
    """Per dataset: the 95% bootstrap interval over items of the mean over seeds, the items it rests on and the
    spread over seeds; the same interval for the average (see ``stats``)."""
    from . import stats

    if not config.bootstrap_samples or not per_item["datasets"]:
        return scores
    found = stats.intervals(per_item, n_boot=config.bootstrap_samples, seed=0)
    for name, ci in found["datasets"].items():
        scores["datasets"][name].update(
            ci_low=ci["low"],
            ci_high=ci["high"],
            n_items=ci["n_items"],
            seed_min=ci["seed_min"],
            seed_max=ci["seed_max"],
        )
    average = found["average"]
    scores.update(average_ci=[average["low"], average["high"]], n_items=average["n_items"])
    scores["bootstrap"] = {"samples": config.bootstrap_samples, "level": 0.95, "seed": 0, "resampled": "test items"}
    return scores


class _NoBar:
    """The progress bar of a non-main process: nothing to show."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass


class _MemoryLedger(dict):
    """A ledger that keeps rows in memory (for library use without an output folder)."""

    def extend(self, rows: list[dict]) -> None:
        for row in rows:
            self[row["id"]] = row

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key)

    def rows(self) -> list[dict]:
        return list(self.values())


def write_bundle(stage: StageDir, results: dict[str, Any], ledger: Any, per_item: dict[str, Any]) -> None:
    import datasets

    root = stage.root
    (root / "per_item.json").write_text(json.dumps(per_item, ensure_ascii=False))
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
    """`compeff-hf eval`: evaluate, print the table, write the bundle (see the module docstring).

    With ``--num_processes N`` (and not already launched as several), N processes are started here; under
    torchrun / accelerate launch, the launcher's processes share the rows. Only the main process claims the output
    folder, writes and prints; the others only predict.
    """
    from ..models import check_tokenizer, load_tokenizer

    # Before anything is claimed: a model folder without a usable tokenizer would give invented scores.
    check_tokenizer(
        config.model, load_tokenizer(config.model), need_chat_template=config.chat_template, what="--model"
    )
    rank, size = distributed.world().rank, distributed.world().size
    if config.num_processes > 1 and size == 1:
        distributed.spawn(config.num_processes, _spawned, dataclasses.replace(config, num_processes=1))
        return 0
    distributed.init()
    stage = StageDir(config.resolved_output_dir(), config, stage="eval")
    # The main process claims the folder; every process gets its answer (or its error) through StageDir.
    if stage.prepare(config.overwrite):
        if rank == 0:
            print((stage.root / "results.md").read_text())
        return 0
    results = None
    try:
        results = evaluate_model(config, stage if rank == 0 else None)
        summary = {}
        if results is not None:
            summary = {
                "average": round(results["scores"]["average"], 2),
                "datasets": results["scores"]["n_datasets"],
                "eval_wall_time_s": results["wall_time_s"],
                "processes": size,
            }
        stage.finish(**summary)  # written by the main process (with its results); the others wait for it
    finally:
        stage.release()
    if results is None:
        return 0
    print(markdown_table(results))
    logger.info("results in %s (results.json, results.md, predictions/, model_index.json)", stage.root)
    return 0


def _spawned(config: EvalConfig) -> None:
    code = main(config)
    if code:
        raise SystemExit(code)
