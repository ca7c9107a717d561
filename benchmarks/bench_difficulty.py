"""Rank-based difficulty: our batched scorer vs a faithful one-sample-at-a-time re-implementation of the official one.

    python benchmarks/bench_difficulty.py --model gemma-3-270m --n 256 [--baseline_n 32] [--device cuda]

Both score the same samples with the same model and dtype. The baseline follows method.md 3.1 literally: for each
sample, tokenise ``I' + Y``, find the response at the last occurrence of Y, run one forward pass producing logits
for every position, then softmax and *full sort* the vocabulary at every response position, and take the target's
position in the sort. It is vectorised over the positions of one sample (kinder to the baseline than a per-token
Python loop). ``--baseline_n`` < n runs the baseline on an evenly spaced subset of the length-sorted samples and
extrapolates its time to n (the JSON says so).

Samples are built from real SentiBench user texts (../shared/sentibench): half analysis instructions with
paragraph-long responses, half task instructions with 3 demos and short label or JSON responses.

Prints a final JSON line: {"speedup": ..., "max_abs_diff": ..., ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ANALYSIS_PROMPTS = [
    "Please analyze the emotional tone of this text and explain which words carry it.",
    "What aspects of the experience does the author praise or criticise, and how strongly?",
    "Identify the overall sentiment of this text and the main reasons behind it.",
    "How would you describe the author's attitude, and does it change over the course of the text?",
]
TASKS = [
    ("Classify the sentiment polarity of the text as positive, negative or neutral. Return the label only.", "label"),
    ("Rate the emotional intensity of the text on a scale from 1 (very weak) to 5 (very strong).", "rating"),
    (
        'Extract the aspects mentioned in the text with their sentiment as a JSON list of {"aspect", "sentiment"}.',
        "json",
    ),
]


def _texts(root: Path) -> list[tuple[str, str]]:
    out = []
    for name in ("sc/yelp2/train.json", "sc/sst2/train.json", "sc/twitter/train.json", "sc/imdb/train.json"):
        rows = json.loads((root / name).read_text(encoding="utf-8-sig"))
        out += [(r["sentence"].replace("\\n", "\n"), str(r["label"])) for r in rows[:400]]
    return out


def build_samples(n: int, root: Path, seed: int = 0) -> list[tuple[str, str]]:
    """(instruction, response) pairs of realistic shape and length."""
    rng = random.Random(seed)
    texts = _texts(root)
    samples = []
    for i in range(n):
        text, label = rng.choice(texts)
        text = " ".join(text.split()[:220])  # long reviews are cut, as a construct stage would
        if i % 2 == 0:
            prompt = rng.choice(ANALYSIS_PROMPTS)
            quotes = [s.strip() for s in text.replace("!", ".").split(".") if len(s.split()) > 3][:3]
            parts = [f"The text expresses a mostly {label} sentiment."]
            parts += [f'The phrase "{q}" shows how the author feels about the experience.' for q in quotes]
            parts += rng.sample(
                [
                    "The wording is informal and the intensity is moderate, with some exaggeration for effect.",
                    "There is no sarcasm; the author states the opinion directly and gives concrete reasons.",
                    "The author seems to address other customers and wants to influence their decision.",
                    "Overall, the attitude is consistent from the beginning to the end of the text.",
                    "Some mixed feelings appear, but the dominant evaluation is clear from the conclusion.",
                ],
                k=rng.randint(1, 4),
            )
            samples.append((f"{prompt}\n\nInput: {text}", " ".join(parts)))
        else:
            description, kind = rng.choice(TASKS)
            demos = [rng.choice(texts) for _ in range(3)]
            lines = [description, ""]
            for demo_text, demo_label in demos:
                lines += [f"Input: {' '.join(demo_text.split()[:60])}", f"Output: {demo_label}", ""]
            lines += [f"Input: {text}", "Output: "]
            if kind == "label":
                response = label
            elif kind == "rating":
                response = str(rng.randint(1, 5))
            else:
                words = [w.strip(".,!?\"'") for w in text.split() if len(w) > 5][:3] or ["service"]
                response = json.dumps([{"aspect": w.lower(), "sentiment": label} for w in words])
            samples.append(("\n".join(lines), response))
    return samples


def official_scores(model, tokenizer, samples, top_p: float = 0.95, max_length: int = 2048) -> list[float]:
    """The official procedure, one sample at a time (our re-implementation from method.md 3.1)."""
    import torch

    device = next(model.parameters()).device
    out = []
    for instruction, response in samples:
        prefix = instruction.strip().replace("Input: ", "Input:").replace("Output: ", "Output:")
        text = prefix + response
        enc = tokenizer(text, truncation=True, max_length=max_length)
        start = max(1, len(tokenizer(text[: text.rfind(response)])["input_ids"]))  # len(encode(prompt))
        if start >= len(enc["input_ids"]):  # nothing left to score: 0.0
            out.append(0.0)
            continue
        ids = torch.tensor([enc["input_ids"]], device=device)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].float()
        probs = torch.softmax(logits[start - 1 : -1], dim=-1)
        targets = ids[0, start:]
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        sizes = (torch.cumsum(sorted_probs, dim=-1) < top_p).sum(-1) + 1
        ranks = (order == targets[:, None]).nonzero()[:, 1]
        token_scores = torch.where(ranks < sizes, ranks / sizes, torch.ones_like(sizes, dtype=torch.float32))
        kept = token_scores[token_scores > 1e-6]
        out.append(float(kept.mean()) if kept.numel() else 0.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma-3-270m")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--baseline_n", type=int, default=None, help="baseline subset size (default: all n)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_batch_tokens", type=int, default=8192)
    parser.add_argument("--sentibench", default=str(Path(__file__).resolve().parents[1].parent / "shared/sentibench"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

    import torch

    from compeff_hf.filter.scores import TokenScorer, encode_row
    from compeff_hf.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(args.model)
    model = load_causal_lm(args.model, dtype=args.dtype, device=args.device).eval()
    samples = build_samples(args.n, Path(args.sentibench))
    encoded = [encode_row(tokenizer, i, r, formatting="raw") for i, r in samples]
    prompt_tokens = [e.response_start for e in encoded]
    response_tokens = [e.n_response for e in encoded]

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    scorer = TokenScorer(
        model,
        batch_size=args.batch_size,
        max_batch_tokens=args.max_batch_tokens,
        pad_token_id=tokenizer.pad_token_id,
    )
    scorer.score(encoded[:2])  # warm-up (kernels, allocator) for both sides
    official_scores(model, tokenizer, samples[:2])
    sync()
    start = time.perf_counter()
    ours = [s["rank_score"] for s in scorer.score(encoded)]
    sync()
    ours_s = time.perf_counter() - start

    k = args.baseline_n or args.n
    by_length = sorted(range(args.n), key=lambda i: len(encoded[i].input_ids))
    subset = sorted(by_length[round(j * (args.n - 1) / max(1, k - 1))] for j in range(k)) if k < args.n else by_length
    subset = sorted(set(subset))
    start = time.perf_counter()
    theirs = official_scores(model, tokenizer, [samples[i] for i in subset])
    sync()
    base_s = time.perf_counter() - start
    base_full_s = base_s * args.n / len(subset)
    diffs = [abs(ours[i] - t) for i, t in zip(subset, theirs, strict=True)]
    result = {
        "model": args.model,
        "device": args.device,
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "n": args.n,
        "mean_prompt_tokens": round(sum(prompt_tokens) / args.n, 1),
        "mean_response_tokens": round(sum(response_tokens) / args.n, 1),
        "ours_s": round(ours_s, 2),
        "ours_rows_per_s": round(args.n / ours_s, 3),
        "baseline_samples": len(subset),
        "baseline_s": round(base_s, 2),
        "baseline_extrapolated": len(subset) < args.n,
        "baseline_s_for_n": round(base_full_s, 2),
        "speedup": round(base_full_s / ours_s, 2),
        "max_abs_diff": float(f"{max(diffs):.3g}"),
    }
    print(json.dumps(result), file=sys.stdout, flush=True)


if __name__ == "__main__":
    main()
