"""The embedded server: InferenceClient against it on 127.0.0.1, batching, stop rules, validation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from huggingface_hub import InferenceClient

from compeff_hf.llm.client import embedded_server
from compeff_hf.llm.serve import Engine, GenParams, ServeConfig, _Job

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_url(tiny_gemma, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with embedded_server(str(tiny_gemma), log_path=log, timeout=300, batch_wait_ms=20) as url:
        yield url


@pytest.fixture(scope="module")
def engine(tiny_gemma):
    eng = Engine(ServeConfig(model=str(tiny_gemma), dtype="float32"))
    yield eng
    eng.close()


def _run(engine, prompts, params):
    out = []
    jobs = [_Job(engine.chat_prompt([{"role": "user", "content": p}]), params, out.append) for p in prompts]
    return engine._generate_batch(jobs)


def test_routes_answer_like_tgi(server_url):
    assert httpx.get(server_url + "/health").status_code == 200
    info = httpx.get(server_url + "/info").json()
    assert info["model_pipeline_tag"] == "text-generation" and info["max_input_tokens"] > 0
    models = httpx.get(server_url + "/v1/models").json()
    assert models["object"] == "list" and len(models["data"]) == 1


def test_chat_completion_with_logprobs_via_inference_client(server_url):
    client = InferenceClient(base_url=server_url)  # sends model "dummy"
    out = client.chat_completion(
        messages=[{"role": "user", "content": "How was the food?"}], max_tokens=6, temperature=0,
        logprobs=True, top_logprobs=3,
    )  # fmt: skip
    choice = out.choices[0]
    assert choice.finish_reason in ("length", "stop")
    assert out.usage.completion_tokens == len(choice.logprobs.content) <= 6
    for entry in choice.logprobs.content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        assert entry.logprob <= entry.top_logprobs[0].logprob + 1e-5  # greedy picks the most likely token
        assert abs(entry.logprob - entry.top_logprobs[0].logprob) < 1e-4
    again = client.chat_completion(
        messages=[{"role": "user", "content": "How was the food?"}], max_tokens=6, temperature=0
    )
    assert again.choices[0].message.content == choice.message.content


def test_text_generation_posts_to_root_with_details(server_url):
    client = InferenceClient(base_url=server_url)
    out = client.text_generation("The food was", max_new_tokens=5, details=True, top_n_tokens=2)
    assert out.details.generated_tokens == len(out.details.tokens) == 5
    assert out.details.finish_reason == "length" and len(out.details.top_tokens[0]) == 2
    assert isinstance(client.text_generation("The food was", max_new_tokens=3), str)
    tgi = httpx.post(server_url + "/generate", json={"inputs": "The food was", "parameters": {"max_new_tokens": 3}})
    assert tgi.status_code == 200 and "generated_text" in tgi.json()


def test_sampling_with_a_seed_is_reproducible_and_streaming_works(server_url):
    client = InferenceClient(base_url=server_url)
    msgs = [{"role": "user", "content": "Rate it"}]
    a = client.chat_completion(messages=msgs, max_tokens=8, temperature=1.0, seed=3).choices[0].message.content
    b = client.chat_completion(messages=msgs, max_tokens=8, temperature=1.0, seed=3).choices[0].message.content
    assert a == b
    chunks = list(client.chat_completion(messages=msgs, max_tokens=8, temperature=1.0, seed=3, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == a
    assert chunks[-1].choices[0].finish_reason is not None


def test_invalid_requests_get_422_not_500(server_url):
    bad = [
        {"messages": "not a list"},
        {"messages": [{"role": "user", "content": "x"}], "max_tokens": -1},
        {"messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
    ]
    for body in bad:
        r = httpx.post(server_url + "/v1/chat/completions", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]
    assert httpx.post(server_url + "/v1/chat/completions", content=b"{oops").status_code == 422


def test_concurrent_requests_are_batched_and_equal_to_sequential(server_url):
    client = InferenceClient(base_url=server_url)
    prompts = [f"Review {i}: {'great ' * i}food" for i in range(8)]

    def ask(p):
        msgs = [{"role": "user", "content": p}]
        return client.chat_completion(messages=msgs, max_tokens=6, temperature=0).choices[0].message.content

    sequential = [ask(p) for p in prompts]
    before = httpx.get(server_url + "/info").json()
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(ask, prompts))
    after = httpx.get(server_url + "/info").json()
    assert concurrent == sequential
    # a batch really formed: 8 requests ran in fewer than 8 generate calls
    assert after["batched_requests"] - before["batched_requests"] == 8
    assert after["batches"] - before["batches"] < 8 and after["largest_batch"] >= 2


def test_chat_template_kwargs_reach_the_template(tiny_gemma, tmp_path):
    from compeff_hf.llm.serve import ValidationError

    eng = Engine.__new__(Engine)  # the prompt builder only: no model, no batcher thread
    from compeff_hf.models import load_tokenizer

    eng.tokenizer = load_tokenizer(str(tiny_gemma))
    eng.model_ref = "tiny"
    eng.tokenizer.chat_template = (
        "{% for m in messages %}{{ m.content }}{% endfor %}{% if enable_thinking is defined and not enable_thinking %}"
        "<no-think>{% endif %}"
    )
    msgs = [{"role": "user", "content": "hi"}]
    plain = eng.tokenizer.decode(eng.chat_prompt(msgs))
    off = eng.tokenizer.decode(eng.chat_prompt(msgs, {"enable_thinking": False}))
    assert "<no-think>" not in plain and off.endswith("<no-think>")
    with pytest.raises(ValidationError, match="chat_template_kwargs"):
        eng.chat_prompt(msgs, ["enable_thinking"])


def test_batched_generation_matches_one_by_one(engine):
    prompts = ["short", "a much longer prompt about the delicious pasta and the friendly staff", "mid length text"]
    greedy = GenParams(max_new_tokens=7, do_sample=False, logprobs=True)
    batched = _run(engine, prompts, greedy)
    alone = [_run(engine, [p], greedy)[0] for p in prompts]
    assert [r.token_ids for r in batched] == [r.token_ids for r in alone]
    for b, a in zip(batched, alone, strict=True):
        assert b.logprobs == pytest.approx(a.logprobs, abs=1e-4)


def test_stops_at_end_of_turn_tokens_stop_strings_and_per_row_budgets(engine):
    params = GenParams(max_new_tokens=8, do_sample=False)
    base = _run(engine, ["stop here"], params)[0]
    assert base.finish_reason == "length" and len(base.token_ids) == 8
    # a stop string taken from the greedy text: cut before it (chat), reported as stop_sequence
    text = base.text
    stop = text[len(text) // 2 :][:3] or text
    cut = _run(engine, ["stop here"], GenParams(max_new_tokens=8, do_sample=False, stop=[stop]))[0]
    assert cut.finish_reason == "stop_sequence" and cut.text == text[: text.find(stop)] and cut.stop_text == stop
    # an end-of-turn token: the first greedy token (after the 1st) not generated before it made an end token
    i = next(i for i in range(1, len(base.token_ids)) if base.token_ids[i] not in base.token_ids[:i])
    saved = engine.eos_ids
    try:
        engine.eos_ids = [base.token_ids[i]]
        eot = _run(engine, ["stop here"], params)[0]
    finally:
        engine.eos_ids = saved
    assert eot.finish_reason == "eos_token" and eot.token_ids == base.token_ids[:i]
    # per-row budgets inside one batch
    jobs = [
        _Job(
            engine.chat_prompt([{"role": "user", "content": "a"}]), GenParams(max_new_tokens=n, do_sample=False), None
        )
        for n in (2, 5)
    ]
    short, long = engine._generate_batch(jobs)
    assert len(short.token_ids) == 2 and len(long.token_ids) == 5 and short.finish_reason == "length"


def test_endpoint_for_starts_and_stops_the_embedded_server(tiny_gemma):
    from compeff_hf.llm.client import endpoint_for
    from compeff_hf.llm.config import EndpointArgs

    with endpoint_for(EndpointArgs(model=str(tiny_gemma), max_new_tokens=3)) as live:
        assert live.endpoint_url.startswith("http://127.0.0.1:")
        assert httpx.get(live.endpoint_url + "/health").status_code == 200
        assert httpx.get(live.endpoint_url + "/info").json()["model_id"] == str(tiny_gemma)
    with pytest.raises(httpx.ConnectError):
        httpx.get(live.endpoint_url + "/health")


def test_raw_completion_requests_through_the_client(server_url, tmp_path):
    from compeff_hf.llm.client import ChatRequest, request_id, run_chat_requests
    from compeff_hf.llm.config import EndpointArgs
    from compeff_hf.stage import Ledger

    ep = EndpointArgs(endpoint_url=server_url, model="tiny", request_timeout_s=60)
    greedy = {"max_new_tokens": 8, "temperature": 0.0}
    raw = ChatRequest.of("The food was", greedy)
    chat = ChatRequest.of([{"role": "user", "content": "The food was"}], greedy)
    assert raw.prompt == "The food was" and request_id(raw, ep) != request_id(chat, ep)
    with pytest.raises(ValueError, match="either chat messages or a raw prompt"):
        ChatRequest(messages=[{"role": "user", "content": "x"}], prompt="x")
    ledger = Ledger(tmp_path / "l.jsonl")
    row = run_chat_requests([raw], ep, ledger)[0]
    # No chat template: the same text as TGI's generate API gives for the bare prompt.
    expected = InferenceClient(base_url=server_url).text_generation("The food was", max_new_tokens=8)
    assert row["status"] == "ok" and row["output"] == expected and 0 < row["completion_tokens"] <= 8
    # A stop string ends the text before it (as the Messages API does), not after it (as TGI's raw text does).
    stop = next(
        expected[i : i + 2] for i in range(len(expected) // 2, len(expected) - 1) if expected[i : i + 2].strip()
    )
    cut = run_chat_requests([ChatRequest.of("The food was", {**greedy, "stop": [stop]})], ep, ledger)[0]
    assert cut["output"] == expected[: expected.index(stop)] and cut["finish_reason"] == "stop"
    again = run_chat_requests([raw], ep, ledger)[0]
    assert again["id"] == row["id"] and len(ledger) == 2  # nothing re-sent
