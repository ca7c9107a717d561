"""Wall time of the construct stage on the quickstart recipe: before (a baseline git ref) and after (this tree).

Both runs happen in this one invocation, one after the other, on the same machine: the baseline's ``src/`` and
quickstart recipe are extracted from ``--baseline_ref`` (default ``main``) with ``git archive``, the current run uses
this checkout's ``src/``. Each run is ``compeff-hf construct --config recipes/quickstart/construct.yaml`` into a fresh
folder (embedded Gemma-3-270M, bundled texts); the time includes starting the embedded server.

    python benchmarks/bench_construct_pipeline.py                   # baseline: main
    python benchmarks/bench_construct_pipeline.py --baseline_ref dc7ff3c --order after-first

Prints one final JSON line {"before_s": ..., "after_s": ..., "ratio": ...} (ratio = after / before).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_construct(src: Path, recipe: Path, out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_DISABLE_TELEMETRY": "1", "COMPEFF_HF_NO_PROGRESS": "1"}
    env.pop("COMPEFF_HF_SKIP_ENGINE", None)
    cmd = [sys.executable, "-m", "compeff_hf.cli", "construct", "--config", str(recipe), "--output_dir", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)  # recipes use paths relative to it
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    print(f"  {src}: {wall:.1f} s, {summary.get('rows')} instructions", file=sys.stderr)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline_ref", default="main")
    parser.add_argument("--order", choices=["before-first", "after-first"], default="before-first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-construct-") as tmp:
        tmp = Path(tmp)
        base = tmp / "baseline"
        base.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.baseline_ref, "src", "recipes/quickstart/construct.yaml"],
            cwd=ROOT, capture_output=True, check=True,
        )  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        runs = {
            "before": (base / "src", base / "recipes/quickstart/construct.yaml"),
            "after": (ROOT / "src", ROOT / "recipes/quickstart/construct.yaml"),
        }
        order = ["before", "after"] if args.order == "before-first" else ["after", "before"]
        times = {name: run_construct(*runs[name], tmp / f"out-{name}") for name in order}
    result = {
        "before_s": round(times["before"], 1),
        "after_s": round(times["after"], 1),
        "ratio": round(times["after"] / times["before"], 3),
        "baseline_ref": args.baseline_ref,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
