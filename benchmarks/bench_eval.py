"""Batched SentiBench evaluator vs a faithful one-prompt-at-a-time run of the published procedure.

The baseline does what the published scripts do per prompt: ``generate(max_new_tokens=2, output_scores=True)``
and the argmax of the first-step label logits for classification; ``generate(max_new_tokens=150|300)`` with no
stop rule, then the published extraction, for fine-grained tasks. Both see the same model, items, prompts and
demos. Prints a final JSON line: {"speedup": ..., "identical_predictions": true|false, ...}.

    python benchmarks/bench_eval.py --model gemma-3-270m --data_dir ../shared/sentibench --limit 8 --threads 1

Both sides run in the same process, dtype and thread count, one after the other per dataset, so the ratio holds
on a busy machine too (on an oversubscribed CPU pass ``--threads 1``: torch's OpenMP threads then stall each other).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from compeff_hf.evaluation.config import EvalConfig
from compeff_hf.evaluation.data import load_split, resolve_source
from compeff_hf.evaluation.parsers import extract_answer
from compeff_hf.evaluation.runner import InferenceRunner, label_token_ids
from compeff_hf.evaluation.sentibench import build_rows
from compeff_hf.evaluation.tasks import select_tasks
from compeff_hf.models import default_device, load_causal_lm, load_tokenizer


def baseline(model, tokenizer, task, prompts, k_shot):
    out = []
    ids = label_token_ids(tokenizer, task.verbalizers) if task.is_classification else None
    for prompt in prompts:
        enc = tokenizer(prompt, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            if task.is_classification:
                gen = model.generate(**enc, max_new_tokens=2, do_sample=False, output_scores=True, return_dict_in_generate=True)  # fmt: skip
                out.append(int(gen.scores[0][0, ids].argmax()))
            else:
                gen = model.generate(**enc, max_new_tokens=task.max_new_tokens, do_sample=False)
                out.append(extract_answer(tokenizer.decode(gen[0], skip_special_tokens=True), k_shot))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma-3-270m")
    parser.add_argument("--data_dir", default="../shared/sentibench")
    parser.add_argument("--datasets", nargs="+", default=None, help="Datasets or groups (default: all 12).")
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--dtype", default="auto", help="auto = the checkpoint's dtype (bfloat16 for gemma-3-270m).")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's).")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available).")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = EvalConfig(model=args.model, limit=args.limit, batch_size=args.batch_size)
    tasks = select_tasks(args.datasets)
    source = resolve_source(args.data_dir, tasks)
    device = args.device or default_device()
    tokenizer = load_tokenizer(args.model)
    model = load_causal_lm(args.model, dtype=args.dtype, device=device).eval()
    runner = InferenceRunner(model, tokenizer, args.batch_size)
    fast_s = slow_s = 0.0
    identical, per_task = True, {}
    for task in tasks:
        test, train = load_split(source, task, "test")[: args.limit], load_split(source, task, "train")
        prompts = [r["prompt"] for r in build_rows(task, test, train, config, args.seed)]
        t0 = time.perf_counter()
        if task.is_classification:
            ours = runner.classify(prompts, label_token_ids(tokenizer, task.verbalizers))[0]
        else:
            ours = [
                extract_answer(t, config.k_shot) for t in runner.generate(prompts, task.max_new_tokens, config.k_shot)
            ]
        t1 = time.perf_counter()
        theirs = baseline(model, tokenizer, task, prompts, config.k_shot)
        t2 = time.perf_counter()
        same = ours == theirs
        identical &= same
        fast_s, slow_s = fast_s + t1 - t0, slow_s + t2 - t1
        per_task[task.name] = {"batched_s": round(t1 - t0, 2), "baseline_s": round(t2 - t1, 2), "identical": same}
        print(json.dumps({task.name: per_task[task.name]}), flush=True)
    print(
        json.dumps(
            {
                "speedup": round(slow_s / fast_s, 2),
                "identical_predictions": identical,
                "batched_s": round(fast_s, 1),
                "baseline_s": round(slow_s, 1),
                "items_per_dataset": args.limit,
                "seed": args.seed,
                "dtype": str(model.dtype),
                "device": device,
                "threads": torch.get_num_threads(),
                "batch_size": args.batch_size,
                "tasks": per_task,
            }
        )
    )


if __name__ == "__main__":
    main()
