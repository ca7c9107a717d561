"""The teacher and construct stages at scale: rows/s and peak memory as the input grows 10x.

The stages run against a zero-latency server speaking the real API in its own process (``tests/llm/
faulty_server.py`` for the teacher's Messages API, ``tests/construct/scripted_llm.py`` for construct's prompts), so
what is measured is our side: reading input, requests, ledger, output shards. Each size runs in a fresh process
that reports its own wall time and peak RSS; the 10k run is the baseline of the 100k one (same run, same machine).
Linear time: rows/s at 100k >= 0.8x rows/s at 10k. Flat memory: peak RSS at 100k <= 1.5x at 10k.

    python benchmarks/bench_scale.py                      # 10k and 100k teacher rows, 20k construct texts
    python benchmarks/bench_scale.py --sizes 1000 10000 --construct_texts 2000   # a quick look

Ends with one JSON line {"teacher_rows_per_s_10k": ..., "teacher_rows_per_s_100k": ...,
"teacher_peak_rss_mb_10k": ..., "teacher_peak_rss_mb_100k": ..., "construct_texts_per_s_20k": ..., ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REVIEWS = [
    "The food was delicious and the staff were friendly, but the wait was far too long.",
    "Terrible product. It broke after two days and customer service never answered.",
    "I loved this movie: superb acting, and the plot keeps you guessing until the end.",
    "Great value for the price; the battery lasts all day and the screen is bright.",
]

# Runs one stage in this fresh process and prints {"seconds", "peak_rss_mb"}: the peak of the summed RSS of this
# process and every process below it (the stages run as distilabel pipelines, whose steps work in child processes),
# sampled every 0.1 s.
_CHILD = """
import json, sys, threading, time
import psutil
from compeff_hf.cli import main
peak, done = [0], threading.Event()
def sample():
    me = psutil.Process()
    while not done.is_set():
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        peak[0] = max(peak[0], total)
        time.sleep(0.1)
threading.Thread(target=sample, daemon=True).start()
t0 = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - t0
done.set()
if code != 0:
    sys.exit(f"stage exited with {code}")
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak[0] / 2**20}))
"""


def _server(code: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return proc, proc.stdout.readline().strip()


def _stage(args: list[str]) -> dict:
    env = {**os.environ, "COMPEFF_HF_NO_PROGRESS": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    out = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args[:1])} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _instructions(path: Path, n: int) -> None:
    with path.open("w") as fh:
        for i in range(n):
            text = f"Review {i}: {REVIEWS[i % len(REVIEWS)]}"
            msgs = [{"role": "user", "content": f"What is the sentiment of this review? {text}"}]
            fh.write(json.dumps({"id": f"ins{i}", "messages": msgs, "task_id": f"t{i % 50}"}) + "\n")


def _texts(path: Path, n: int) -> None:
    domains = ["restaurant", "product", "movie", "electronics", "politics"]
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"text": f"Text {i}: {REVIEWS[i % len(REVIEWS)]}", "domain": domains[i % 5]}) + "\n")


def teacher(work: Path, url: str, n: int, concurrency: int) -> dict:
    data = work / f"instructions-{n}.jsonl"
    _instructions(data, n)
    out = work / f"teacher-{n}"
    res = _stage(
        ["teacher", "--input", str(data), "--endpoint_url", url, "--output_dir", str(out), "--model", "m",
         "--max_concurrency", str(concurrency)]
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_out"] == n, summary
    return {"rows_per_s": n / res["seconds"], **res}


def construct(work: Path, url: str, n: int, concurrency: int, sentibench: str) -> dict:
    data = work / f"texts-{n}.jsonl"
    _texts(data, n)
    out = work / f"construct-{n}"
    res = _stage(
        ["construct", "--input", str(data), "--endpoint_url", url, "--output_dir", str(out), "--max_texts", str(n),
         "--max_concurrency", str(concurrency), "--min_attribute_count", "2", "--ap_preference_percentile", "10",
         "--max_perspectives", "3", "--tasks_per_perspective", "3", "--analysis_prompts_per_perspective", "3",
         "--demo_requests_per_task", "2", "--min_tasks_per_perspective", "2", "--k_demos", "2",
         "--decontaminate_sentibench", sentibench]
    )  # fmt: skip
    return {"texts_per_s": n / res["seconds"], **res}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 100_000], help="small and large row counts")
    parser.add_argument("--construct_texts", type=int, default=20_000, help="0 skips construct")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--sentibench_dir",
        default=os.environ.get("SENTIBENCH_DIR", str(ROOT.parent / "shared" / "sentibench")),
        help="local SentiBench for construct's decontamination step (on by default, as users run it); 'none' skips it",
    )
    parser.add_argument("--only", choices=["teacher", "construct"], help="run one of the two stages")
    args = parser.parse_args()
    wants_sentibench = args.only != "teacher" and args.construct_texts and args.sentibench_dir != "none"
    if wants_sentibench and not Path(args.sentibench_dir).is_dir():
        parser.error(f"--sentibench_dir {args.sentibench_dir} does not exist (construct decontaminates against it)")
    small, large = args.sizes
    label = {small: f"{small // 1000}k", large: f"{large // 1000}k"}
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        proc, url = _server("import sys; sys.path.insert(0, 'tests/llm'); import faulty_server; "
                            "s = faulty_server.FaultyServer(); print(s.url, flush=True); s.httpd.serve_forever()")  # fmt: skip
        try:
            for n in (small, large) if args.only != "construct" else ():
                r = teacher(work, url, n, args.concurrency)
                print(f"teacher {n:>7} rows: {r['rows_per_s']:8.1f} rows/s, {r['seconds']:7.1f} s, "
                      f"peak RSS {r['peak_rss_mb']:6.1f} MB", flush=True)  # fmt: skip
                result[f"teacher_rows_per_s_{label[n]}"] = round(r["rows_per_s"], 1)
                result[f"teacher_peak_rss_mb_{label[n]}"] = round(r["peak_rss_mb"], 1)
        finally:
            proc.kill()
        if args.construct_texts and args.only != "teacher":
            proc, url = _server("import sys; sys.path.insert(0, 'tests/construct'); import scripted_llm; "
                                "s = scripted_llm.ScriptedLLM(); print(s.url, flush=True); s._server.serve_forever()")  # fmt: skip
            try:
                r = construct(work, url, args.construct_texts, args.concurrency, args.sentibench_dir)
            finally:
                proc.kill()
            n = args.construct_texts
            print(f"construct {n:>5} texts: {r['texts_per_s']:8.1f} texts/s, {r['seconds']:7.1f} s, "
                  f"peak RSS {r['peak_rss_mb']:6.1f} MB", flush=True)  # fmt: skip
            result[f"construct_texts_per_s_{n // 1000}k"] = round(r["texts_per_s"], 1)
            result[f"construct_peak_rss_mb_{n // 1000}k"] = round(r["peak_rss_mb"], 1)
    s, b = label[small], label[large]
    if f"teacher_rows_per_s_{b}" not in result:
        print(json.dumps(result))
        return
    result["time_ratio"] = round(result[f"teacher_rows_per_s_{b}"] / result[f"teacher_rows_per_s_{s}"], 3)
    result["rss_ratio"] = round(result[f"teacher_peak_rss_mb_{b}"] / result[f"teacher_peak_rss_mb_{s}"], 3)
    print(f"rows/s {b} / {s}: {result['time_ratio']} (>= 0.8: linear time); "
          f"peak RSS {b} / {s}: {result['rss_ratio']} (<= 1.5: flat memory)")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
