"""Compare a SentiBench results.json with a stored reference; exit 1 when a score dropped beyond the tolerance.

python scripts/compare_eval.py runs/nightly-eval/results.json docs/reference/nightly-gemma-3-270m.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results")
    parser.add_argument("reference")
    parser.add_argument("--tolerance", type=float, default=1.0, help="allowed drop of the average, in points")
    parser.add_argument("--dataset_tolerance", type=float, default=5.0, help="allowed drop per dataset, in points")
    args = parser.parse_args()
    results_doc = json.loads(Path(args.results).read_text())
    results = results_doc["scores"]
    ref_path = Path(args.reference)
    if not ref_path.exists():
        print(f"No reference at {ref_path}: nothing to compare (store one to enable the check).")
        return 0
    reference_doc = json.loads(ref_path.read_text())
    reference = reference_doc["scores"]
    # Scores are only comparable under the same protocol (items per dataset, seeds, k, prompting, dtype).
    keys = ("limit", "seeds", "k_shot", "chat_template", "dtype")
    mismatch = {
        k: (reference_doc.get("protocol", {}).get(k), results_doc.get("protocol", {}).get(k))
        for k in keys
        if reference_doc.get("protocol", {}).get(k) != results_doc.get("protocol", {}).get(k)
    }
    if mismatch:
        print(
            f"Protocol differs from the reference (reference, now): {mismatch}; rerun with the reference's settings."
        )
        return 1
    failures = []
    print("| dataset | reference | now | delta |\n| --- | ---: | ---: | ---: |")
    for name, ref in reference["datasets"].items():
        now = results["datasets"].get(name, {}).get("mean")
        if now is None:
            failures.append(f"{name}: missing")
            continue
        delta = now - ref["mean"]
        print(f"| {name} | {ref['mean']:.1f} | {now:.1f} | {delta:+.1f} |")
        if delta < -args.dataset_tolerance:
            failures.append(f"{name}: {delta:+.1f} points")
    delta = results["average"] - reference["average"]
    print(f"| **average** | {reference['average']:.1f} | {results['average']:.1f} | {delta:+.1f} |")
    if delta < -args.tolerance:
        failures.append(f"average: {delta:+.1f} points (tolerance {args.tolerance})")
    if failures:
        print("\nRegression: " + "; ".join(failures))
        return 1
    print("\nNo regression.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
