"""Gate of the nightly SentiBench eval: compare a results.json with the stored reference of the same model.

    python scripts/compare_eval.py runs/nightly-eval/results.json --model gemma-3-270m \
        [--reference_dir docs/reference] [--history runs/history/history.jsonl] [--summary FILE] [--write-reference]

The reference is <reference_dir>/nightly-<model>.json ("/" in a Hub id becomes "--"), or the second positional
argument. Exit status 1 when there is no reference (unless --write-reference, which stores this run as the
reference and passes), when the protocol differs from the reference's (items, seeds, shots, prompting, dtype), when
a dataset is missing, or when a score falls below the lower end of the reference's bootstrap interval.

Tolerance: for each dataset, the reference's score is resampled (bootstrap, fixed random seed) over its evaluated
items and its seeds. With per-item results in the file (``items``: dataset -> seed -> list of per-item scores in
[0, 1], or dicts with ``score``, ``correct``, or ``pred`` and ``gold``) the items themselves are resampled;
without them each seed's score is redrawn as a binomial proportion over the dataset's ``n_items``. So 10 items
per dataset tolerate a drop of a couple of items, 1000 items a drop of a point or two, and a spread between seeds
widens the interval. A drop of less than one item (100/n points) never fails. The average over the datasets gets
the interval of the average of the resampled datasets.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

# `fine_grained` names the decoding budget of the generation tasks (OpeNER's changed from 300 to the official 150).
PROTOCOL_KEYS = ("benchmark", "limit", "seeds", "k_shot", "chat_template", "dtype", "fine_grained")
SPARK = "▁▂▃▄▅▆▇█"


def reference_path(model: str, reference_dir: Path) -> Path:
    """docs/reference/nightly-<model>.json; a Hub id's '/' becomes '--' (as in the Hub cache's folder names)."""
    return reference_dir / f"nightly-{model.replace('/', '--')}.json"


def item_scores(doc: dict, name: str) -> np.ndarray | None:
    """Seeds x items matrix of per-item scores in points, when the results carry per-item results."""
    items = (doc.get("items") or {}).get(name)
    if not items:
        return None
    rows = []
    for seq in items.values() if isinstance(items, dict) else items:
        row = []
        for item in seq:
            if isinstance(item, dict):
                value = item.get("score", item.get("correct"))
                if value is None and "pred" in item and "gold" in item:
                    value = item["pred"] == item["gold"]
                if value is None:
                    return None
            else:
                value = item
            row.append(100.0 * float(value))
        rows.append(row)
    if not rows or len({len(r) for r in rows}) != 1 or not rows[0]:
        return None
    return np.array(rows)


def bootstrap(doc: dict, name: str, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """n_boot resampled values of one dataset's score (points), centred on the score the file reports."""
    entry = doc["scores"]["datasets"][name]
    per_seed = np.array([100.0 * float(v["score"]) for v in entry["per_seed"].values()])
    k = len(per_seed)
    seeds = rng.integers(0, k, size=(n_boot, k))
    matrix = item_scores(doc, name)
    if matrix is not None:
        n = matrix.shape[1]
        picks = rng.integers(0, n, size=(n_boot, n))
        # the same items under every seed (they are the same test items), then a resample of the seeds
        per_seed_boot = matrix[:, picks].mean(axis=2).T  # n_boot x k
        base = matrix.mean()
    else:
        n = int(doc.get("n_items", {}).get(name) or 0)
        if n <= 0:
            raise SystemExit(f"{name}: the reference has neither per-item results nor n_items")
        p = np.clip(per_seed / 100.0, 0.0, 1.0)
        per_seed_boot = 100.0 * rng.binomial(n, p, size=(n_boot, k)) / n
        base = per_seed.mean()
    boot = np.take_along_axis(per_seed_boot, seeds, axis=1).mean(axis=1)
    return boot - base + float(entry["mean"])


def n_items(doc: dict, name: str) -> int:
    matrix = item_scores(doc, name)
    return matrix.shape[1] if matrix is not None else int(doc.get("n_items", {}).get(name) or 0)


def protocol_mismatch(reference: dict, results: dict) -> dict:
    ref, now = reference.get("protocol", {}), results.get("protocol", {})
    out = {k: (ref.get(k), now.get(k)) for k in PROTOCOL_KEYS if ref.get(k) != now.get(k)}
    if reference.get("n_items") and results.get("n_items") and reference["n_items"] != results["n_items"]:
        out["n_items"] = (reference["n_items"], results["n_items"])
    return out


def gate(results: dict, reference: dict, level: float, n_boot: int) -> tuple[list[str], list[str]]:
    """(markdown table lines, failures)."""
    rng = np.random.default_rng(0)
    ref_sets, now_sets = reference["scores"]["datasets"], results["scores"]["datasets"]
    lines = [
        f"| dataset | items | reference | {level:.0%} interval | now | delta | |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    failures, boots = [], []
    q = (1.0 - level) / 2.0
    for name, ref in ref_sets.items():
        boot = bootstrap(reference, name, rng, n_boot)
        boots.append(boot)
        n = n_items(reference, name)
        low, high = np.quantile(boot, [q, 1.0 - q])
        low = max(min(low, ref["mean"] - 100.0 / n), 0.0)  # less than one item is never a regression
        now = now_sets.get(name, {}).get("mean")
        if now is None:
            failures.append(f"{name}: missing from the results")
            lines.append(f"| {name} | {n} | {ref['mean']:.1f} | {low:.1f} to {high:.1f} | missing | | FAIL |")
            continue
        ok = now >= low
        if not ok:
            failures.append(f"{name}: {now:.1f} < {low:.1f} (reference {ref['mean']:.1f}, {now - ref['mean']:+.1f})")
        verdict = "ok" if ok else "FAIL"
        lines.append(
            f"| {name} | {n} | {ref['mean']:.1f} | {low:.1f} to {high:.1f} | {now:.1f} | {now - ref['mean']:+.1f} "
            f"| {verdict} |"
        )
    ref_avg, now_avg = reference["scores"]["average"], results["scores"]["average"]
    avg_boot = np.mean(boots, axis=0) - np.mean([r["mean"] for r in ref_sets.values()]) + ref_avg
    low, high = np.quantile(avg_boot, [q, 1.0 - q])
    ok = now_avg >= low
    if not ok:
        failures.append(f"average: {now_avg:.1f} < {low:.1f} (reference {ref_avg:.1f}, {now_avg - ref_avg:+.1f})")
    lines.append(
        f"| **average** | | {ref_avg:.1f} | {low:.1f} to {high:.1f} | {now_avg:.1f} | {now_avg - ref_avg:+.1f} "
        f"| {'ok' if ok else 'FAIL'} |"
    )
    return lines, failures


def append_history(path: Path, results: dict, model: str, verdict: str) -> list[dict]:
    """Append this run to the history (JSON lines) and return all of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": model,
        "commit": os.environ.get("GITHUB_SHA"),
        "run_id": os.environ.get("GITHUB_RUN_ID"),
        "verdict": verdict,
        "average": results["scores"]["average"],
        "datasets": {k: v["mean"] for k, v in results["scores"]["datasets"].items()},
        "protocol": {k: results.get("protocol", {}).get(k) for k in PROTOCOL_KEYS},
    }
    with path.open("a") as fh:
        fh.write(json.dumps(entry) + "\n")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trend(history: list[dict], last: int = 10) -> list[str]:
    rows = history[-last:]
    values = [r["average"] for r in rows]
    lo, hi = min(values), max(values)
    spark = "".join(SPARK[0 if hi == lo else round((v - lo) / (hi - lo) * (len(SPARK) - 1))] for v in values)
    lines = [f"Trend of the average, last {len(rows)} runs: `{spark}` ({lo:.1f} to {hi:.1f})", ""]
    lines += ["| date | commit | average | verdict |", "| --- | --- | ---: | --- |"]
    lines += [f"| {r['date']} | {(r.get('commit') or '')[:7]} | {r['average']:.1f} | {r['verdict']} |" for r in rows]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results")
    parser.add_argument("reference", nargs="?", help="default: <reference_dir>/nightly-<model>.json")
    parser.add_argument("--model", help="model id or path (default: the results' `model`)")
    parser.add_argument("--reference_dir", default="docs/reference")
    parser.add_argument("--level", type=float, default=0.95, help="coverage of the bootstrap interval")
    parser.add_argument("--n_boot", type=int, default=2000)
    parser.add_argument("--write-reference", dest="write_reference", action="store_true",
                        help="store this run as the reference (the first one, or a deliberate replacement) and pass")  # fmt: skip
    parser.add_argument("--history", help="JSON-lines file this run is appended to; its trend goes in the summary")
    parser.add_argument("--summary", help="markdown file to append the table to (e.g. $GITHUB_STEP_SUMMARY)")
    args = parser.parse_args(argv)
    results = json.loads(Path(args.results).read_text())
    model = args.model or results.get("model")
    if not args.reference and not model:
        parser.error("pass the reference or --model (the results name no model)")
    ref_path = Path(args.reference) if args.reference else reference_path(model, Path(args.reference_dir))

    out = [f"## SentiBench nightly: {model}", ""]
    if args.write_reference:
        ref_path.parent.mkdir(parents=True, exist_ok=True)
        replaced = ref_path.exists()
        ref_path.write_text(json.dumps(results, indent=2) + "\n")
        out.append(f"{'Replaced' if replaced else 'Wrote'} the reference {ref_path} from this run; commit it.")
        rc, verdict = 0, "reference written"
    elif not ref_path.exists():
        out.append(
            f"No reference at {ref_path}: nothing to gate against. Run once with --write-reference (workflow input "
            "`write_reference`) and commit the file it uploads."
        )
        rc, verdict = 1, "no reference"
    else:
        reference = json.loads(ref_path.read_text())
        mismatch = protocol_mismatch(reference, results)
        if mismatch:
            out.append(f"Protocol differs from the reference (reference, now): {mismatch}; rerun with its settings.")
            rc, verdict = 1, "protocol differs"
        else:
            table, failures = gate(results, reference, args.level, args.n_boot)
            out += table + [""]
            out.append("Regression: " + "; ".join(failures) if failures else "No regression.")
            rc, verdict = (1, "regression") if failures else (0, "ok")
    if args.history:
        out += ["", *trend(append_history(Path(args.history), results, model, verdict))]
    text = "\n".join(out) + "\n"
    print(text)
    if args.summary:
        with open(args.summary, "a") as fh:
            fh.write(text)
    return rc


if __name__ == "__main__":
    sys.exit(main())
