"""The rank-based score and its batched computation, on a tiny real model."""

from __future__ import annotations

import math

import pytest
import torch

from compeff_hf.filter import scores as scores_mod
from compeff_hf.filter.scores import (
    Encoded,
    TokenScorer,
    aggregate,
    encode_response_only,
    encode_row,
    encode_text,
    make_batches,
    raw_instruction,
    token_rank_scores,
)

RESPONSES = [
    "positive",
    "The review praises the food but criticises the wait, so the overall sentiment is mixed.",
    '[{"aspect_term": "pasta", "sentiment": "negative"}]',
    "joy",
    "Terrible product. It broke after two days and customer service never answered my emails. " * 3,
]


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_gemma):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_gemma), dtype=torch.float32)
    return model.eval(), AutoTokenizer.from_pretrained(str(tiny_gemma))


def reference_token_stats(model, ids: list[int], start: int, top_p: float = 0.95):
    """The definition, written plainly: full softmax, full sort, rank = position of the target in the sort."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    out = []
    for pos in range(start - 1, len(ids) - 1):
        probs = torch.softmax(logits[pos], -1)
        sorted_probs, order = torch.sort(probs, descending=True)
        n = int((torch.cumsum(sorted_probs, 0) < top_p).sum()) + 1
        r = int((order == ids[pos + 1]).nonzero()[0, 0])
        out.append((r, n, float(-torch.log_softmax(logits[pos], -1)[ids[pos + 1]])))
    return out


def test_token_rank_scores_hand_computed():
    # rank 0 (top-1) -> 0; 2 of 4 -> 0.5; rank 5 of a 5-token nucleus is outside it -> 1.0; 1 of 10 -> 0.1
    assert token_rank_scores([0, 2, 5, 1], [3, 4, 5, 10]) == [0.0, 0.5, 1.0, 0.1]
    agg = aggregate([0, 2, 5, 1], [3, 4, 5, 10], [0.1, 0.2, 0.3, 0.4])
    assert agg["rank_score"] == pytest.approx((0.5 + 1.0 + 0.1) / 3)  # top-1 tokens left out (official code)
    assert agg["rank_score_all"] == pytest.approx((0.0 + 0.5 + 1.0 + 0.1) / 4)  # top-1 tokens count as 0
    assert agg["ppl"] == pytest.approx(math.exp(0.25))
    assert aggregate([0, 0], [4, 7], [0.0, 0.0])["rank_score"] == 0.0  # all top-1: 0, as in the official code
    assert agg["n_response_tokens"] == 4


def test_empty_response_scores_zero_like_the_official_code():
    empty = aggregate([], [], [])
    assert empty["rank_score"] == 0.0 and empty["rank_score_all"] == 0.0 and empty["n_response_tokens"] == 0
    assert math.isnan(empty["ppl"])  # no perplexity of nothing: ppl/ifd never select such a row


def test_aggregations_rank_rows_differently():
    """Designed pair: A is mostly top-1 with one miss, B is uniformly mid-nucleus; the options disagree."""
    a = aggregate([0, 0, 0, 9], [4, 4, 4, 4], [0.0] * 4)  # per token [0, 0, 0, 1.0]
    b = aggregate([2, 2, 2, 2], [4, 4, 4, 4], [0.0] * 4)  # per token [0.5] * 4
    assert a["rank_score"] == 1.0 and b["rank_score"] == 0.5  # non_top1: A is harder
    assert a["rank_score_all"] == 0.25 and b["rank_score_all"] == 0.5  # all: B is harder


def test_nucleus_size_hand_computed(model_and_tokenizer, monkeypatch):
    model, tok = model_and_tokenizer
    scorer = TokenScorer(model, top_p=0.9)
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3], [0.97, 0.01, 0.01, 0.01], [0.25, 0.25, 0.25, 0.25]])
    # cumsums: [.5, .8, .95, 1] -> 3 tokens; [.97, ...] -> 1 token; [.25, .5, .75, 1] -> 4 tokens
    assert scorer._nucleus_sizes(probs).tolist() == [3, 1, 4]
    monkeypatch.setattr(scores_mod, "NUCLEUS_TOPK", 1)  # force the widening path: topk(1) covers only row 2
    assert scorer._nucleus_sizes(probs).tolist() == [3, 1, 4]


def test_rank_score_designed_example(model_and_tokenizer):
    """Response tokens chosen to be the model's top-1, outside the nucleus, and mid-nucleus; checked by hand."""
    model, tok = model_and_tokenizer
    ids = tok("Rate the intensity from 1 to 5.")["input_ids"]
    start = len(ids)
    kinds = ["top1", "outside", "mid", "top1", "outside"]
    for kind in kinds:
        with torch.no_grad():
            probs = torch.softmax(model(input_ids=torch.tensor([ids])).logits[0, -1].float(), -1)
        order = torch.argsort(probs, descending=True)
        n = int((torch.cumsum(probs[order], 0) < 0.95).sum()) + 1
        pick = {"top1": 0, "outside": len(order) - 1, "mid": n // 2}[kind]
        ids.append(int(order[pick]))
    expected = reference_token_stats(model, ids, start)
    ranks = [r for r, _, _ in expected]
    assert ranks[0] == 0 and ranks[3] == 0
    assert ranks[1] >= expected[1][1] and ranks[4] >= expected[4][1]  # outside the nucleus
    assert 0 < ranks[2] < expected[2][1]
    per_token = [0.0, 1.0, ranks[2] / expected[2][1], 0.0, 1.0]
    want_non_top1 = (1.0 + per_token[2] + 1.0) / 3
    want_all = sum(per_token) / 5

    scorer = TokenScorer(model, top_p=0.95, pad_token_id=tok.pad_token_id)
    stats = scorer.token_stats([Encoded(ids, start)])[0]
    assert stats["rank"] == ranks
    assert stats["nucleus"] == [n for _, n, _ in expected]
    got = scorer.score([Encoded(ids, start)])[0]
    assert got["rank_score"] == pytest.approx(want_non_top1, abs=1e-6)
    assert got["rank_score_all"] == pytest.approx(want_all, abs=1e-6)
    assert got["ppl"] == pytest.approx(math.exp(sum(x for _, _, x in expected) / 5), rel=1e-4)


def _encoded_rows(tok, formatting="raw"):
    rows = []
    for i, response in enumerate(RESPONSES * 4):
        instruction = f"Please analyze the sentiment of this text.{' Be brief.' * (i % 5)}\n\nInput: review {i}"
        rows.append(encode_row(tok, instruction, response, formatting=formatting, max_length=2048))
    return rows


def test_scores_match_reference_on_realistic_rows(model_and_tokenizer):
    model, tok = model_and_tokenizer
    encoded = _encoded_rows(tok)[:6]
    scorer = TokenScorer(model, batch_size=4, chunk_tokens=7, pad_token_id=tok.pad_token_id)
    for e, stats in zip(encoded, scorer.token_stats(encoded), strict=True):
        ref = reference_token_stats(model, e.input_ids, e.response_start)
        assert stats["rank"] == [r for r, _, _ in ref]
        assert stats["nucleus"] == [n for _, n, _ in ref]
        assert stats["nll"] == pytest.approx([x for _, _, x in ref], abs=1e-4)


def test_batching_invariance_fp32(model_and_tokenizer):
    model, tok = model_and_tokenizer
    encoded = _encoded_rows(tok)
    assert len({len(e.input_ids) for e in encoded}) > 5  # padding really happens
    one = TokenScorer(model, batch_size=1, pad_token_id=tok.pad_token_id).score(encoded)
    many = TokenScorer(model, batch_size=16, chunk_tokens=5, pad_token_id=tok.pad_token_id).score(encoded)
    for a, b in zip(one, many, strict=True):
        assert abs(a["rank_score"] - b["rank_score"]) <= 1e-5
        assert abs(a["rank_score_all"] - b["rank_score_all"]) <= 1e-5
        assert a["ppl"] == pytest.approx(b["ppl"], rel=1e-5)
        assert a["n_response_tokens"] == b["n_response_tokens"]


def test_bf16_body_keeps_float32_logits(tiny_gemma, model_and_tokenizer):
    from transformers import AutoModelForCausalLM

    _, tok = model_and_tokenizer
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gemma), dtype=torch.bfloat16)
    scorer = TokenScorer(model, pad_token_id=tok.pad_token_id)
    assert scorer.head_weight.dtype == torch.float32
    out = scorer.score(_encoded_rows(tok)[:4])
    assert all(0.0 <= r["rank_score"] <= 1.0 and r["ppl"] > 1.0 for r in out)


def test_encode_raw_marks_the_response(model_and_tokenizer):
    _, tok = model_and_tokenizer
    e = encode_row(tok, "  Classify.\nInput: great!\nOutput: ", "positive", formatting="raw")
    prompt = "Classify.\nInput:great!\nOutput:"
    assert raw_instruction("  Classify.\nInput: great!\nOutput: ") == prompt
    # tokenizer.encode as it is: this tokenizer has a BOS token but does not add it, and neither do we
    assert tok.bos_token_id is not None and e.input_ids == tok(prompt + "positive")["input_ids"]
    assert e.input_ids[0] != tok.bos_token_id
    assert e.response_start == len(tok(prompt)["input_ids"]) and not e.truncated
    assert tok.decode(e.input_ids[e.response_start :]).endswith("positive")
    assert "Classify" not in tok.decode(e.input_ids[e.response_start :])
    assert Encoded([1, 2, 3], 5).n_response == 0 and Encoded([1, 2, 3], 1).n_response == 2


class Glue:
    """A greedy longest-match tokenizer that adds BOS: "Output:" then "[" merge into ':[', like Gemma-3's."""

    vocab = {"<bos>": 0, "Output": 1, ":": 2, ":[": 3, "1": 4, "]": 5, "x": 6}

    def __init__(self):
        self.turns = None

    def __call__(self, text, add_special_tokens=True, truncation=False, max_length=None):
        ids, rest = ([0] if add_special_tokens else []), text
        while rest:
            piece = next(p for p in sorted(self.vocab, key=len, reverse=True) if rest.startswith(p))
            ids.append(self.vocab[piece])
            rest = rest[len(piece) :]
        return {"input_ids": ids[:max_length] if truncation else ids}

    def apply_chat_template(self, turns, tokenize=True, add_generation_prompt=False):
        self.turns = turns  # what the template was given
        return "<bos>" + "x" * len(turns) + ("Output:" if add_generation_prompt else "")


def test_glue_special_tokens_follow_the_formatting():
    tok = Glue()
    raw = encode_row(tok, "  xOutput: ", "1]")  # raw: encode adds the BOS itself
    assert raw.input_ids == [0, 6, 1, 2, 4, 5] and raw.response_start == 4
    chat = encode_row(tok, "x", "1]", formatting="chat")  # the template holds the BOS: none added on top
    assert chat.input_ids == [0, 6, 1, 2, 4, 5] and chat.response_start == 4
    assert tok.turns == [{"role": "user", "content": "x"}]
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
    ]
    encode_row(tok, "u", "1]", messages, formatting="chat")
    assert tok.turns == messages[:2]  # the answer turn is the response, not the prompt
    encode_row(tok, "u", "1]", messages[:2], formatting="chat")
    assert tok.turns == messages[:2]
    assert len(encode_row(tok, "x", "x" * 3000).input_ids) == 2048  # the default max_length, as the official
    assert len(encode_response_only(tok, "x" * 3000).input_ids) == 2048
    bare = encode_text(tok, "x", "1]x", add_special_tokens=False, max_length=2)
    assert bare.input_ids == [6, 4] and bare.truncated and bare.response_start == 1


def test_boundary_token_counts_as_prompt():
    """A token straddling the boundary is prompt (official: start = len(encode(prompt)))."""

    e = encode_text(Glue(), "xOutput:", "[1]", add_special_tokens=True, max_length=10)
    assert e.input_ids == [0, 6, 1, 3, 4, 5] and e.response_start == 4  # ':[' is not scored
    assert e.n_response == 2 and not e.truncated
    exact = encode_text(Glue(), "xOutput:", "[1]", add_special_tokens=True, max_length=6)
    assert exact.input_ids == e.input_ids and not exact.truncated
    cut = encode_text(Glue(), "xOutput:", "[1]", add_special_tokens=True, max_length=4)
    assert cut.input_ids == [0, 6, 1, 3] and cut.truncated and cut.n_response == 0
    assert encode_text(Glue(), "", "x", add_special_tokens=False, max_length=4).response_start == 1  # never 0
    alone = encode_response_only(Glue(), "x1]", max_length=8)  # after the BOS this tokenizer adds: all 3 scored
    assert alone.input_ids == [0, 6, 4, 5] and alone.response_start == 1 and alone.n_response == 3


def test_encode_chat_uses_template_and_truncates(model_and_tokenizer):
    _, tok = model_and_tokenizer
    messages = [{"role": "user", "content": "How does this text feel?"}, {"role": "assistant", "content": "x"}]
    e = encode_row(tok, "How does this text feel?", "It feels warm.", messages, formatting="chat")
    prompt = tok.decode(e.input_ids[: e.response_start])
    assert "<start_of_turn>" in prompt and prompt.count("<start_of_turn>") == 2  # user turn + generation prompt
    assert tok.decode(e.input_ids[e.response_start :]) == "It feels warm."
    short = encode_row(tok, "How does this text feel?", "It feels warm. " * 50, formatting="raw", max_length=20)
    assert short.truncated and len(short.input_ids) == 20
    alone = encode_response_only(tok, "It feels warm.")
    # No BOS from this tokenizer: the first token has no context and cannot be scored
    assert alone.input_ids == tok("It feels warm.")["input_ids"] and alone.response_start == 1
    with pytest.raises(ValueError, match="formatting"):
        encode_row(tok, "a", "b", formatting="alpaca")


def test_make_batches_respects_both_caps():
    lengths = [5, 100, 7, 50, 3, 100, 9]
    batches = make_batches(lengths, batch_size=3, max_batch_tokens=200)
    assert sorted(i for b in batches for i in b) == list(range(7))
    for b in batches:
        assert len(b) <= 3 and (len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 200)
    assert batches[0] == [1, 5]  # longest first


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
def test_other_families_match_reference(tiny_model_factory, arch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_model_factory(arch)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(path))
    encoded = _encoded_rows(tok)[:3]
    scorer = TokenScorer(model, batch_size=3, pad_token_id=tok.pad_token_id)
    for e, stats in zip(encoded, scorer.token_stats(encoded), strict=True):
        ref = reference_token_stats(model, e.input_ids, e.response_start)
        assert stats["rank"] == [r for r, _, _ in ref] and stats["nucleus"] == [n for _, n, _ in ref]


# ------------------------------------------------------------------------------------------ the official procedure


def official_rank_score(model, tok, instruction: str, output: str, max_length: int = 2048, top_p: float = 0.95):
    """The official rank_score_compute.py procedure restated plainly, one sample at a time (float32, full sort).

    Prompt = stripped instruction with ``Input: ``/``Output: `` glued; the text is ``tokenizer.encode``d as it is
    (truncated at max_length), the response starts at ``len(encode(text[:text.rfind(output)]))``; per response
    token s = (position in the sorted top-p nucleus) / nucleus size, 1.0 outside it; tokens with s <= 1e-6 are
    left out of the mean; no token left: 0.0.
    """
    prompt = instruction.strip().replace("Input: ", "Input:").replace("Output: ", "Output:")
    text = prompt + output
    ids = tok.encode(text, truncation=True, max_length=max_length)
    start = len(tok.encode(text[: text.rfind(output)]))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    kept = []
    for t in range(max(start, 1), len(ids)):
        probs = torch.softmax(logits[t - 1], -1)
        sorted_probs, order = torch.sort(probs, descending=True)
        n = min(int((torch.cumsum(sorted_probs, 0) < top_p).sum()) + 1, len(order))
        where = (order[:n] == ids[t]).nonzero()
        s = float(where[0, 0]) / n if len(where) else 1.0
        if s > 1e-6:
            kept.append(s)
    return sum(kept) / len(kept) if kept else 0.0


OFFICIAL_CASES = [  # (instruction, output): glued boundary, non-ASCII, repeated text, empty, plain
    ("Extract the aspects.\nInput: The pasta was cold.\nOutput: ", '[{"aspect": "pasta", "sentiment": "negative"}]'),
    ("Analysiere die Stimmung.\n\nInput: Très déçu, 服务太差了 😡", "Die Stimmung ist sehr negativ — 非常负面。"),
    ("Classify.\nInput: great\nOutput: great", "great"),
    ("Please analyze the sentiment.\n\nInput: fine", ""),
    ("  Rate it from 1 to 5.\nInput: Loved it!\nOutput:", " 5"),
]


def test_default_scorer_equals_official_procedure_tiny(model_and_tokenizer):
    """BOS-less tokenizer with a BOS token (no BOS may be added), empty and truncated rows: all within 1e-4."""
    model, tok = model_and_tokenizer
    scorer = TokenScorer(model, batch_size=3, pad_token_id=tok.pad_token_id)
    cases = [*OFFICIAL_CASES, *((f"Describe the tone.\n\nInput: review {i}", RESPONSES[i]) for i in range(5))]
    for max_length in (2048, 30):  # 30: long rows are cut, some before their response starts
        encoded = [encode_row(tok, ins, out, max_length=max_length) for ins, out in cases]
        got = [g["rank_score"] for g in scorer.score(encoded)]
        want = [official_rank_score(model, tok, ins, out, max_length) for ins, out in cases]
        assert got == pytest.approx(want, abs=1e-4)
        assert 0.0 in want and len(set(want)) > 4  # empty/truncated rows score 0.0; the rest really differ


@pytest.mark.slow
def test_pipeline_defaults_equal_official_procedure_gemma_270m(gemma_270m, tmp_path):
    """The stage with its defaults on the real Gemma-3 tokenizer and model: every row within 1e-4 of the official."""
    import json

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from compeff_hf.data import load_rows
    from compeff_hf.filter.config import FilterConfig
    from compeff_hf.filter.pipeline import run

    tok = AutoTokenizer.from_pretrained(str(gemma_270m))
    glued_prompt = raw_instruction(OFFICIAL_CASES[0][0])
    glued = tok(glued_prompt + OFFICIAL_CASES[0][1])["input_ids"]
    assert glued[: len(tok(glued_prompt)["input_ids"])] != tok(glued_prompt)["input_ids"]  # ':[' really merges
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"instruction": i, "output": o}) + "\n" for i, o in OFFICIAL_CASES))
    run(FilterConfig(input=str(data), scorer_model=str(gemma_270m), output_dir=str(tmp_path / "f"), keep_ratio=0.5))
    got = load_rows(tmp_path / "f" / "scored")["score"]
    model = AutoModelForCausalLM.from_pretrained(str(gemma_270m), dtype=torch.float32).eval()
    want = [official_rank_score(model, tok, i, o) for i, o in OFFICIAL_CASES]
    assert got == pytest.approx(want, abs=1e-4)
    assert want[3] == 0.0 and min(want[:3]) > 0.0


def test_make_batches_exact_grouping():
    # longest first; [1, 5] is full at 200 padded tokens, [3, 6, 2] at 3 rows, then the rest
    assert make_batches([5, 100, 7, 50, 3, 100, 9], 3, 200) == [[1, 5], [3, 6, 2], [0, 4]]
    assert make_batches([300, 10], 4, 200) == [[0], [1]]  # an over-long row gets a batch of its own
    assert make_batches([], 4, 200) == []


def test_perplexity_is_capped_and_exact():
    assert aggregate([1], [2], [1000.0])["ppl"] == math.exp(700.0)  # finite, not an overflow
    assert aggregate([1, 1], [2, 2], [0.5, 1.5])["ppl"] == pytest.approx(math.e)


def test_random_score_depends_only_on_seed_and_id():
    a = scores_mod.random_score(1, "row")
    assert 0.0 <= a < 1.0 and a == scores_mod.random_score(1, "row")
    assert a != scores_mod.random_score(2, "row") and a != scores_mod.random_score(1, "other")


def test_final_logit_softcapping_is_applied(tiny_gemma, model_and_tokenizer):
    from transformers import AutoModelForCausalLM

    _, tok = model_and_tokenizer
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gemma), dtype=torch.float32).eval()
    model.config.final_logit_softcapping = 0.05  # tiny cap: many logits tie near +-0.05 unless it is applied
    scorer = TokenScorer(model, pad_token_id=tok.pad_token_id)
    e = _encoded_rows(tok)[1]
    stats = scorer.token_stats([e])[0]
    ref = reference_token_stats(model, e.input_ids, e.response_start)
    assert stats["nucleus"] == [n for _, n, _ in ref]
    assert stats["nll"] == pytest.approx([x for _, _, x in ref], abs=1e-4)


def test_models_whose_logits_are_not_the_head_are_refused(tiny_gemma):
    import types

    from transformers import AutoModelForCausalLM

    from compeff_hf.errors import ModelError

    model = AutoModelForCausalLM.from_pretrained(str(tiny_gemma), dtype=torch.float32).eval()
    forward = model.forward
    scale = {"by": 3.0}
    model.forward = lambda *a, **k: types.SimpleNamespace(logits=forward(*a, **k).logits * scale["by"])
    message = (
        "Gemma3ForCausalLM: its logits are not the output projection of its last hidden state; "
        "this architecture is not supported by the batched scorer"
    )
    with pytest.raises(ModelError, match=message):
        TokenScorer(model)
    scale["by"] = 1.01  # 1% off is still refused in float32 (tolerance 1e-3 of the largest logit)
    with pytest.raises(ModelError, match="not the output projection"):
        TokenScorer(model)
    scale["by"] = 1.0
    TokenScorer(model)


def test_score_callbacks_and_shards_cover_every_row_once(model_and_tokenizer):
    model, tok = model_and_tokenizer
    encoded = _encoded_rows(tok)[:7]
    scorer = TokenScorer(model, batch_size=2, pad_token_id=tok.pad_token_id)
    seen: dict[int, dict] = {}

    def on_batch(batch, stats):
        assert len(batch) == len(stats) <= 2 and not set(batch) & set(seen)
        seen.update(zip(batch, stats, strict=True))

    full = scorer.score(encoded, on_batch=on_batch)
    assert sorted(seen) == list(range(7)) and [seen[i] for i in range(7)] == full
    halves = [scorer.score(encoded, shard=(rank, 2)) for rank in (0, 1)]
    assert all((a is None) != (b is None) for a, b in zip(*halves, strict=True))  # each row in exactly one shard
    assert [a or b for a, b in zip(*halves, strict=True)] == full  # and scored exactly as in one process
    assert 0 < sum(a is not None for a in halves[0]) < 7


def test_nucleus_boundaries_and_widening(model_and_tokenizer, monkeypatch):
    model, tok = model_and_tokenizer
    scorer = TokenScorer(model, top_p=0.75)
    exact = torch.tensor([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]])  # cumsum reaches 0.75 exactly at 2 tokens
    assert scorer._nucleus_sizes(exact).tolist() == [2, 2]
    scorer.top_p = 1.0  # the whole vocabulary, even when the float32 sum falls short of 1 (it does here)
    short = torch.softmax(torch.randn(1, 300, generator=torch.Generator().manual_seed(3)) * 2, -1)
    assert float(torch.cumsum(torch.sort(short[0], descending=True).values, 0)[-1]) < 1.0
    assert scorer._nucleus_sizes(short).tolist() == [300]
    monkeypatch.setattr(scores_mod, "NUCLEUS_TOPK", 2)  # several widening rounds (2, 16, 50) for some rows
    probs = torch.softmax(torch.randn(6, 50, generator=torch.Generator().manual_seed(0)) * 3, -1)
    probs[0] = torch.softmax(torch.arange(50.0) * 5, -1)  # covered at once
    scorer.top_p = 0.95
    want = [int((torch.cumsum(torch.sort(p, descending=True).values, 0) < 0.95).sum()) + 1 for p in probs]
    assert scorer._nucleus_sizes(probs).tolist() == want and len(set(want)) > 2


def test_head_bias_and_device_are_taken_from_the_model(tiny_gemma, model_and_tokenizer):
    from transformers import AutoModelForCausalLM

    _, tok = model_and_tokenizer
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gemma), dtype=torch.float32).eval()
    head = model.get_output_embeddings()
    head.bias = torch.nn.Parameter(torch.randn(head.out_features, generator=torch.Generator().manual_seed(1)) * 3)
    scorer = TokenScorer(model, pad_token_id=tok.pad_token_id)
    assert scorer.device == next(model.parameters()).device and scorer.head_bias.dtype == torch.float32
    e = _encoded_rows(tok)[2]
    stats = scorer.token_stats([e])[0]
    ref = reference_token_stats(model, e.input_ids, e.response_start)
    assert stats["rank"] == [r for r, _, _ in ref] and stats["nucleus"] == [n for _, n, _ in ref]
    assert TokenScorer(model.to(torch.bfloat16), pad_token_id=tok.pad_token_id).head_bias.dtype == torch.float32


def test_softcap_read_from_a_nested_text_config(tiny_gemma, model_and_tokenizer):
    """Multimodal Gemma-3 checkpoints keep final_logit_softcapping in config.text_config."""
    import copy
    import types

    from transformers import AutoModelForCausalLM

    _, tok = model_and_tokenizer
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gemma), dtype=torch.float32).eval()
    nested = copy.deepcopy(model.config)
    nested.final_logit_softcapping = 0.05
    model.config.text_config = nested  # the outer config has no cap; the model applies it (below)
    forward = model.forward
    model.forward = lambda *a, **k: types.SimpleNamespace(logits=torch.tanh(forward(*a, **k).logits / 0.05) * 0.05)
    scorer = TokenScorer(model, pad_token_id=tok.pad_token_id)
    assert scorer.softcap == 0.05
    e = _encoded_rows(tok)[1]
    ref = reference_token_stats(model, e.input_ids, e.response_start)
    assert scorer.token_stats([e])[0]["nucleus"] == [n for _, n, _ in ref]


def test_models_that_cannot_be_split_are_refused(tiny_gemma):
    from transformers import AutoModelForCausalLM

    from compeff_hf.errors import ModelError

    model = AutoModelForCausalLM.from_pretrained(str(tiny_gemma), dtype=torch.float32).eval()
    model.get_output_embeddings = lambda: None
    with pytest.raises(ModelError, match="Gemma3ForCausalLM: cannot split the model"):
        TokenScorer(model)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gemma), dtype=torch.float32).eval()
    model.base_model_prefix = "no_such_body"
    with pytest.raises(ModelError, match="cannot split"):
        TokenScorer(model)
