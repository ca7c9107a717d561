"""Training throughput: plain `SFTTrainer` defaults vs our recipe's settings, same model, same data, same run.

The data mimics the v2 corpus' length distribution (prompts of ~100-1500 tokens, responses of ~5-600: sentiment
labels are short, analyses long). Throughput counts only real tokens (no padding) over the timed steps, after
warm-up steps that are not timed. The final line is JSON: {"ours_tok_s", "baseline_tok_s", "ratio", ...}.

    python benchmarks/bench_train.py                        # CPU, tiny random model (seconds to minutes)
    python benchmarks/bench_train.py --shape gemma-3-1b     # GPU, random-init gemma-3-1b-shaped model
    python benchmarks/bench_train.py --shape gemma-3-4b --lora

Baseline: `SFTConfig` defaults (no packing: rows padded to the longest in the batch, TRL's default gradient
checkpointing and precision) with the same max_length, batch size and learning rate. Ours: the recipe settings
(best-fit-decreasing packing with position-id resets, padding-free, Liger kernels when installed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# real dimensions, random weights: throughput depends on shape, not on trained values
_KEYS = ("arch", "hidden_size", "num_layers", "intermediate", "heads", "kv", "vocab")
SHAPES = {
    "tiny": dict(zip(_KEYS, ("gemma3", 128, 2, 256, 4, 2, None), strict=True)),
    "gemma-3-1b": dict(zip(_KEYS, ("gemma3", 1152, 26, 6912, 4, 1, 262144), strict=True)),
    "gemma-3-4b": dict(zip(_KEYS, ("gemma3", 2560, 34, 10240, 8, 4, 262144), strict=True)),
}
WORDS = [
    *("the", "food", "was", "great", "but", "service", "slow", "battery", "screen", "staff", "price", "quality"),
    *("movie", "plot", "acting", "review", "product", "delivery", "room", "view", "friendly", "terrible"),
    *("amazing", "sentiment", "aspect", "positive", "negative", "neutral"),
]


def build_student(out: Path, shape: str) -> Path:
    """A random-init model of the given shape with the project's tiny BPE tokenizer and a Gemma chat template."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from compeff_hf.testing import build_tokenizer

    spec = SHAPES[shape]
    build_tokenizer(out, spec["arch"])
    tok = AutoTokenizer.from_pretrained(str(out))
    config = AutoConfig.for_model(
        "gemma3_text",
        vocab_size=spec["vocab"] or len(tok),
        hidden_size=spec["hidden_size"],
        intermediate_size=spec["intermediate"],
        num_hidden_layers=spec["num_layers"],
        num_attention_heads=spec["heads"],
        num_key_value_heads=spec["kv"],
        head_dim=256 if spec["vocab"] else spec["hidden_size"] // spec["heads"],
        sliding_window=512,
        max_position_embeddings=8192,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(str(out))
    return out


def make_rows(tokenizer, n: int, seed: int = 0) -> list[dict]:
    """Rows whose token lengths follow a v2-like distribution (log-uniform prompts, skewed-short responses)."""
    rng = random.Random(seed)
    per_word = len(tokenizer(" ".join(WORDS), add_special_tokens=False)["input_ids"]) / len(WORDS)
    rows = []
    for _ in range(n):
        prompt_tokens = int(round(10 ** rng.uniform(2.0, 3.18)))  # ~100-1500
        response_tokens = min(600, max(5, int(rng.paretovariate(0.6) * 5)))  # mostly short labels, some analyses
        prompt = " ".join(rng.choice(WORDS) for _ in range(max(1, int(prompt_tokens / per_word))))
        response = " ".join(rng.choice(WORDS) for _ in range(max(1, int(response_tokens / per_word))))
        rows.append(
            {
                "prompt": [{"role": "user", "content": prompt}],
                "completion": [{"role": "assistant", "content": response}],
            }
        )
    return rows


class TokenCounter:
    """Wraps a collator and records the real (non-padding) tokens of every batch it builds."""

    def __init__(self, collator):
        self.collator = collator
        self.tokens: list[int] = []

    def __call__(self, examples):
        batch = self.collator(examples)
        if "attention_mask" in batch:
            self.tokens.append(int(batch["attention_mask"].sum()))
        else:  # padding-free: one flattened row; padding, if any, has position id 0 runs after the last row
            self.tokens.append(sum(len(e["input_ids"]) for e in examples))
        return batch


def run(name: str, args, model_dir: Path, dataset, sft_overrides: dict) -> dict:
    import torch
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    class Clock(TrainerCallback):
        def __init__(self):
            self.t0 = None

        def on_step_end(self, targs, state, control, **kw):
            if state.global_step == args.warmup_steps:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                self.t0 = time.perf_counter()

    on_gpu = torch.cuda.is_available()
    config = SFTConfig(
        output_dir=str(Path(args.workdir) / name),
        per_device_train_batch_size=args.batch_size,
        max_length=args.max_length,
        max_steps=args.warmup_steps + args.steps,
        learning_rate=1e-5,
        report_to="none",
        save_strategy="no",
        logging_steps=10_000,
        disable_tqdm=True,
        use_cpu=not on_gpu,
        bf16=on_gpu,
        model_init_kwargs={"dtype": "bfloat16" if on_gpu else "float32", "attn_implementation": args.attn},
        **sft_overrides,
    )
    peft_config = None
    if args.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    clock = Clock()
    trainer = SFTTrainer(
        model=str(model_dir), args=config, train_dataset=dataset, peft_config=peft_config, callbacks=[clock]
    )
    counter = TokenCounter(trainer.data_collator)
    trainer.data_collator = counter
    trainer.train()
    if on_gpu:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - clock.t0
    accum = config.gradient_accumulation_steps
    timed = sum(counter.tokens[args.warmup_steps * accum : (args.warmup_steps + args.steps) * accum])
    result = {"tok_s": timed / elapsed, "tokens": timed, "seconds": round(elapsed, 2)}
    if on_gpu:
        result["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
        torch.cuda.reset_peak_memory_stats()
    print(f"{name}: {json.dumps(result)}", file=sys.stderr)
    del trainer
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--max_length", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=6, help="timed optimizer steps per configuration")
    parser.add_argument("--warmup_steps", type=int, default=2)
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--attn", default="sdpa")
    parser.add_argument("--no_liger", action="store_true", help="leave Liger out of our settings")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="bench_train_")

    from datasets import Dataset
    from transformers import AutoTokenizer

    model_dir = build_student(Path(args.workdir) / "student", args.shape)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    dataset = Dataset.from_list(make_rows(tok, args.rows))

    baseline = run("baseline", args, model_dir, dataset, {})
    liger = importlib.util.find_spec("liger_kernel") is not None and not args.no_liger
    ours_settings = {
        "packing": True,
        "packing_strategy": "bfd",
        "assistant_only_loss": True,
        "completion_only_loss": True,
        "use_liger_kernel": liger,
    }
    # Same number of optimizer steps would compare different token counts; throughput (tok/s) is what is compared.
    ours = run("ours", args, model_dir, dataset, ours_settings)
    print(
        json.dumps(
            {
                "ours_tok_s": round(ours["tok_s"], 1),
                "baseline_tok_s": round(baseline["tok_s"], 1),
                "ratio": round(ours["tok_s"] / baseline["tok_s"], 3),
                "shape": args.shape,
                "lora": args.lora,
                "liger": liger,
                "batch_size": args.batch_size,
                "max_length": args.max_length,
                "steps": args.steps,
            }
        )
    )


if __name__ == "__main__":
    main()
