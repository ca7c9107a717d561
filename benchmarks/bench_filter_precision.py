"""Scorer precision: rank scores with a bfloat16 model body vs the float32 default (the official precision).

    python benchmarks/bench_filter_precision.py --model gemma-3-270m --n 64 [--device cuda]

Same samples as bench_difficulty.py (real SentiBench texts, analysis and task instructions). Logits are float32 in
both runs; only the body's dtype changes. Reports the deviation of bf16 from float32 (max and mean absolute rank
score difference), how many of the hardest 10% change, and the time ratio. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_difficulty import build_samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma-3-270m")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--sentibench", default=str(Path(__file__).resolve().parents[1].parent / "shared/sentibench"))
    args = parser.parse_args()

    import torch

    from compeff_hf.filter.scores import TokenScorer, encode_row
    from compeff_hf.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(args.model)
    encoded = [encode_row(tokenizer, i, r) for i, r in build_samples(args.n, Path(args.sentibench))]
    scores, seconds = {}, {}
    for dtype in ("float32", "bfloat16"):
        model = load_causal_lm(args.model, dtype=dtype, device=args.device).eval()
        scorer = TokenScorer(model, batch_size=args.batch_size, pad_token_id=tokenizer.pad_token_id)
        scorer.score(encoded[:2])  # warm-up
        start = time.perf_counter()
        scores[dtype] = [s["rank_score"] for s in scorer.score(encoded)]
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds[dtype] = time.perf_counter() - start
        del model, scorer
    diffs = [abs(a - b) for a, b in zip(scores["float32"], scores["bfloat16"], strict=True)]
    k = max(1, args.n // 10)

    def top(values: list[float]) -> set[int]:
        return set(sorted(range(args.n), key=lambda i: values[i])[-k:])

    result = {
        "model": args.model,
        "device": args.device,
        "n": args.n,
        "max_abs_diff_bf16": float(f"{max(diffs):.3g}"),
        "mean_abs_diff_bf16": float(f"{sum(diffs) / len(diffs):.3g}"),
        "top10pct_changed": len(top(scores["float32"]) ^ top(scores["bfloat16"])) // 2,
        "top10pct_size": k,
        "float32_s": round(seconds["float32"], 2),
        "bfloat16_s": round(seconds["bfloat16"], 2),
        "bf16_speed_ratio": round(seconds["float32"] / seconds["bfloat16"], 2),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
