"""Our client's throughput against the engine's own capacity, same run, same concurrency and request mix.

The engine's capacity is measured by an independent load generator: bare ``httpx.AsyncClient`` posts of the same
Messages-API bodies at the same concurrency, with no retries, ledger or progress bar. The client side is
``run_chat_requests`` exactly as the stages use it (ledger writes included). Rounds alternate (engine then client,
client then engine, ...) so that drift on a shared machine hits both sides alike; every round uses fresh prompts so a
prefix cache cannot favour the side that runs second. Greedy decoding, so both sides generate alike.

    python benchmarks/bench_client.py --url http://127.0.0.1:8765 --model gemma-3-270m      # a running engine
    python benchmarks/bench_client.py                                                       # embedded server

Prints a final JSON line {"client_tok_s": ..., "engine_tok_s": ..., "ratio": ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("COMPEFF_HF_NO_PROGRESS", "1")

TEXTS = [
    "The food was delicious and the staff were friendly, but the wait was far too long.",
    "Terrible product. It broke after two days and customer service never answered.",
    "I loved this movie: superb acting, and the plot keeps you guessing until the end.",
    "Great value for the price; the battery lasts all day and the screen is bright.",
    "Not sure how I feel about the new policy, it seems rushed and poorly explained.",
    "The hotel room was spotless, though the street noise kept us awake all night.",
]


def make_messages(round_no: int, n: int) -> list[list[dict]]:
    return [
        [
            {
                "role": "user",
                "content": f"(batch {round_no}, item {i}) Describe the sentiment of this review and its aspects: "
                f"{TEXTS[i % len(TEXTS)]}",
            }
        ]
        for i in range(n)
    ]


async def _load_generator(url: str, model: str, messages: list[list[dict]], concurrency: int, max_tokens: int):
    import httpx

    queue: asyncio.Queue = asyncio.Queue()
    for m in messages:
        queue.put_nowait(m)
    tokens = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:

        async def worker() -> None:
            nonlocal tokens
            while not queue.empty():
                m = queue.get_nowait()
                body = {"model": model, "messages": m, "max_tokens": max_tokens, "temperature": 0.0}
                r = await client.post("/v1/chat/completions", json=body)
                r.raise_for_status()
                tokens += r.json()["usage"]["completion_tokens"]

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return tokens, time.perf_counter() - start


def engine_round(url: str, model: str, messages: list[list[dict]], concurrency: int, max_tokens: int):
    return asyncio.run(_load_generator(url, model, messages, concurrency, max_tokens))


def client_round(url: str, model: str, messages: list[list[dict]], concurrency: int, max_tokens: int):
    from compeff_hf.llm.client import ChatRequest, run_chat_requests
    from compeff_hf.llm.config import EndpointArgs
    from compeff_hf.stage import Ledger

    ep = EndpointArgs(
        endpoint_url=url, model=model, max_new_tokens=max_tokens, temperature=0.0, max_concurrency=concurrency
    )
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "bench.jsonl")
        start = time.perf_counter()
        rows = run_chat_requests([ChatRequest(m) for m in messages], ep, ledger, desc="bench")
        wall = time.perf_counter() - start
        ledger.close()
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed through the client: {failed[0]['error']}")
    return sum(r["completion_tokens"] for r in rows), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("COMPEFF_HF_VLLM_URL"), help="engine base URL (default: embedded)")
    ap.add_argument("--model", default="gemma-3-270m", help="model name sent (embedded: the model served)")
    ap.add_argument("--requests", type=int, default=32, help="requests per round")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=4, help="engine/client pairs, order alternating")
    args = ap.parse_args()

    with contextlib.ExitStack() as stack:
        url = args.url
        engine_name = "given endpoint"
        if not url:
            from compeff_hf.llm.client import embedded_server
            from compeff_hf.models import resolve_model

            url = stack.enter_context(embedded_server(resolve_model(args.model), served_model_name=args.model))
            engine_name = "embedded server"
        # One warm-up request each way, so neither side pays connection set-up or lazy initialisation.
        engine_round(url, args.model, make_messages(-1, 1), 1, 4)
        client_round(url, args.model, make_messages(-2, 1), 1, 4)
        engine_tok = engine_s = client_tok = client_s = 0.0
        for r in range(args.rounds):
            # Alternate which side goes first: on a shared machine the order itself can bias a pair.
            for side in ("engine", "client") if r % 2 == 0 else ("client", "engine"):
                fn = engine_round if side == "engine" else client_round
                msgs = make_messages(2 * r + (side == "client"), args.requests)
                tok, wall = fn(url, args.model, msgs, args.concurrency, args.max_tokens)
                print(f"round {r} {side}: {tok} tokens in {wall:.1f} s = {tok / wall:.1f} tok/s", file=sys.stderr)
                if side == "engine":
                    engine_tok, engine_s = engine_tok + tok, engine_s + wall
                else:
                    client_tok, client_s = client_tok + tok, client_s + wall
    result = {
        "client_tok_s": round(client_tok / client_s, 2),
        "engine_tok_s": round(engine_tok / engine_s, 2),
        "ratio": round((client_tok / client_s) / (engine_tok / engine_s), 3),
        "engine": engine_name,
        "url": url,
        "requests_per_round": args.requests,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "max_tokens": args.max_tokens,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
