"""Decontamination speed: the hashed index (compeff_hf.decontaminate) vs a naive set-of-strings scan, same rules.

    python benchmarks/bench_decontaminate.py --rows 100000 [--baseline_rows 5000] [--data_dir ../shared/sentibench]

Rows look like construct/teacher rows: ``text`` (a SentiBench *train* text, so not a test item), ``messages`` (an
analysis or task instruction around it) and ``output`` (a response of a few sentences); 1 row in 100 has a planted
copy of a test item (exact, re-cased, re-wrapped or embedded), so matches happen. Both methods check the three fields
against the 12 SentiBench test sets with the same normalisation and the same three rules (13-word overlap, whole
short texts inside a field from 8 words, whole-field equality below). The baseline keeps every n-gram of the test
sets as a joined string in a Python set and joins every window of every row to look it up; it runs on the first
``--baseline_rows`` rows, and both must flag exactly the same rows there.

Rates are given per second of wall time and per second of this process's CPU time (the latter is less disturbed
by other jobs on a shared machine). Prints a final JSON line: {"rows_per_s": ..., "speedup": ..., ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from compeff_hf.decontaminate import build_index, decontaminate_rows, load_sets, words
from compeff_hf.decontaminate.rows import field_texts

FIELDS = ("text", "messages", "output")
PROMPTS = [
    "Analyze the emotional tone of this text and quote the words that reveal it.",
    "Classify the sentiment polarity of the text as positive, negative or neutral.\n\nInput: Great value.\n"
    "Output: positive\n\nInput: It broke on day two.\nOutput: negative",
]


def build_rows(n: int, root: Path, test_sets: dict[str, list[str]], seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    pool = []
    for name in ("sc/yelp2", "sc/sst2", "sc/twitter", "sc/imdb", "multifaced/pstance", "absa/opener"):
        rows = json.loads((root / name / "train.json").read_text(encoding="utf-8-sig"))
        pool += [" ".join(r["sentence"].split()[:150]) for r in rows]
    tests = [t for texts in test_sets.values() for t in texts if len(t.split()) >= 15]
    out = []
    for i in range(n):
        text = rng.choice(pool)
        output = f"The author sounds {rng.choice(['pleased', 'annoyed', 'torn'])}. " + rng.choice(pool)[:300]
        if i % 100 == 50:  # planted contamination, one of four kinds
            copy = rng.choice(tests)
            kind = (i // 100) % 4
            if kind == 0:
                text = copy
            elif kind == 1:
                text = copy.upper().replace(" .", "!")
            elif kind == 2:
                output = "\n".join(" ".join(copy.split()[j : j + 4]) for j in range(0, len(copy.split()), 4))
            else:
                text = f"{text} {copy} {rng.choice(pool)[:80]}"
        content = f"{rng.choice(PROMPTS)}\n\nInput: {text}" + ("\nOutput:" if i % 2 else "")
        out.append({"id": i, "text": text, "messages": [{"role": "user", "content": content}], "output": output})
    return out


class NaiveIndex:
    """The same three rules with Python sets of joined strings: every window of every row is joined and looked up."""

    def __init__(self, sets: list, ngram: int, min_words: int):
        self.ngram, self.min_words = ngram, min_words
        self.grams: set[str] = set()
        self.short: dict[int, set[str]] = {}
        self.tiny: set[str] = set()
        for s in sets:
            for text in s.texts:
                ws = words(text)
                if len(ws) >= ngram:
                    self.grams.update(" ".join(ws[i : i + ngram]) for i in range(len(ws) - ngram + 1))
                elif len(ws) >= min_words:
                    self.short.setdefault(len(ws), set()).add(" ".join(ws))
                elif ws:
                    self.tiny.add(" ".join(ws))

    def matches(self, text: str) -> bool:
        ws = words(text)
        if 0 < len(ws) < self.min_words and " ".join(ws) in self.tiny:
            return True
        for length, table in [(self.ngram, self.grams), *self.short.items()]:
            if any(" ".join(ws[i : i + length]) in table for i in range(len(ws) - length + 1)):
                return True
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline_rows", type=int, default=5_000)
    default_dir = os.environ.get("SENTIBENCH_DIR") or str(Path(__file__).resolve().parents[2] / "shared/sentibench")
    parser.add_argument("--data_dir", default=default_dir)
    args = parser.parse_args()

    t0 = time.perf_counter()
    sets = load_sets(args.data_dir, [])
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = build_index(sets)
    index_s = time.perf_counter() - t0
    rows = build_rows(args.rows, Path(args.data_dir), {s.name: s.texts for s in sets})
    n_words = sum(len(t.split()) for r in rows for f in FIELDS for t in field_texts(r[f]))

    t0, c0 = time.perf_counter(), time.process_time()
    result = decontaminate_rows(rows, index, FIELDS)
    scan_s, scan_cpu = time.perf_counter() - t0, time.process_time() - c0

    t0 = time.perf_counter()
    naive = NaiveIndex(sets, index.ngram, index.min_words)
    naive_index_s = time.perf_counter() - t0
    subset = rows[: args.baseline_rows]
    t0, c0 = time.perf_counter(), time.process_time()
    naive_hits = {r["id"] for r in subset if any(naive.matches(t) for f in FIELDS for t in field_texts(r[f]))}
    naive_s, naive_cpu = time.perf_counter() - t0, time.process_time() - c0
    ours_hits = {r["id"] for r in result.matched if r["id"] < args.baseline_rows}
    if naive_hits != ours_hits:
        raise SystemExit(f"the two methods disagree: {sorted(naive_hits ^ ours_hits)[:10]}")

    planted = sum(1 for i in range(args.rows) if i % 100 == 50)
    out = {
        "rows": args.rows,
        "words_per_row": round(n_words / args.rows, 1),
        "eval_texts": sum(len(s.texts) for s in sets),
        "load_s": round(load_s, 2),
        "index_s": round(index_s, 2),
        "scan_s": round(scan_s, 2),
        "rows_per_s": round(args.rows / scan_s),
        "rows_per_cpu_s": round(args.rows / scan_cpu),
        "rows_matched": result.report["rows_matched"],
        "rows_planted": planted,
        "baseline": "Python set of joined n-gram strings, same rules",
        "baseline_rows": len(subset),
        "baseline_index_s": round(naive_index_s, 2),
        "baseline_rows_per_s": round(len(subset) / naive_s),
        "baseline_rows_per_cpu_s": round(len(subset) / naive_cpu),
        "speedup": round((args.rows / scan_s) / (len(subset) / naive_s), 2),
        "speedup_cpu": round((args.rows / scan_cpu) / (len(subset) / naive_cpu), 2),
        "same_matches_on_baseline_rows": True,
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
