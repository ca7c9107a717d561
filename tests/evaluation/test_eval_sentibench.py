"""A small real run on a tiny model: batched inference equals one-at-a-time, the CLI bundle, resume."""

from __future__ import annotations

import json

import pytest

from compeff_hf.evaluation.config import EvalConfig

pytestmark = pytest.mark.slow


def _runner(path, batch_size=4):
    from compeff_hf.evaluation.runner import InferenceRunner
    from compeff_hf.models import load_causal_lm, load_tokenizer

    return InferenceRunner(load_causal_lm(str(path), dtype="float32"), load_tokenizer(str(path)), batch_size)


def test_batched_classification_equals_one_at_a_time(tiny_gemma):
    import torch

    from compeff_hf.evaluation.runner import label_token_ids

    runner = _runner(tiny_gemma)
    prompts = ["Sentence: good\nLabel:", "Sentence: a much longer sentence about the food\nLabel:", "x"]
    ids = label_token_ids(runner.tokenizer, (" negative", " positive", " neutral"))
    best, scores = runner.classify(prompts, ids)
    for prompt, b, s in zip(prompts, best, scores, strict=True):
        enc = runner.tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            logits = runner.model(**enc).logits[0, -1, ids]
        assert b == int(logits.argmax())
        assert s == pytest.approx(logits.tolist(), abs=1e-4)


def test_batched_generation_equals_one_at_a_time(tiny_gemma):
    import torch

    runner = _runner(tiny_gemma)
    prompts = [
        "Sentence: a\nOutput: [1]\n\nSentence: b\nOutput:",
        "Sentence: longer text here\nOutput: [2]\n\nSentence: c\nOutput:",
        "Sentence: x",
    ]
    texts = runner.generate(prompts, max_new_tokens=12, k_shot=1)
    for prompt, text in zip(prompts, texts, strict=True):
        enc = runner.tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            out = runner.model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=runner.pad_id)
        prompt_text = runner.tokenizer.decode(enc["input_ids"][0], skip_special_tokens=True)
        alone = runner.tokenizer.decode(out[0], skip_special_tokens=True)
        assert text.startswith(prompt_text) and alone.startswith(prompt_text)
        # the continuation is real (not just the prompt) and is the start of the one-at-a-time continuation
        assert len(text) > len(prompt_text) and alone.startswith(text)
        if "]" not in text[len(prompt_text) :]:  # no answer block closed: the whole budget, as generate
            assert text == alone


def _eval_args(model, data, out, *extra):
    args = ["eval", "--model", str(model), "--data_dir", str(data), "--datasets", "sst2", "opener"]
    return args + ["--limit", "3", "--seeds", "42", "52", "--max_new_tokens", "8", "--output_dir", str(out), *extra]


def _ledger_rows(out):
    rows = [json.loads(line) for line in (out / "_ledger" / "predictions.jsonl").read_text().splitlines()]
    return {r["id"]: r for r in rows}


def test_cli_run_writes_bundle_and_a_killed_run_resumes_to_the_uninterrupted_result(
    tiny_gemma, sentibench_dir, tmp_path, monkeypatch
):
    from compeff_hf.cli import main
    from compeff_hf.evaluation import sentibench
    from compeff_hf.evaluation.prompts import draw_demos
    from compeff_hf.evaluation.runner import InferenceRunner

    full = tmp_path / "full"
    assert main(_eval_args(tiny_gemma, sentibench_dir, full)) == 0
    results = json.loads((full / "results.json").read_text())
    assert set(results["scores"]["datasets"]) == {"sst2", "opener"}
    assert results["protocol"]["seeds"] == [42, 52] and results["n_items"] == {"sst2": 3, "opener": 3}
    assert "weights_sha256" in results["model_revision"] and results["versions"]["transformers"]
    assert "| BSA | SST-2 | macro-F1 |" in (full / "results.md").read_text()
    entries = json.loads((full / "model_index.json").read_text())
    assert entries[-1]["dataset_config"] == "average"
    # noise: a bootstrap interval over the items, the items it rests on, and per-item records that reproduce it
    from compeff_hf.evaluation import stats

    per_item = stats.load_per_item(full)
    for name, entry in results["scores"]["datasets"].items():
        assert entry["n_items"] == 3 and entry["ci_low"] <= entry["mean"] <= entry["ci_high"]
        assert entry["seed_min"] <= entry["mean"] <= entry["seed_max"]
        for seed, records in per_item["datasets"][name]["seeds"].items():
            assert 100 * stats.score(per_item["datasets"][name]["metric"], records) == pytest.approx(
                100 * entry["per_seed"][seed]["score"]
            )
    assert results["scores"]["n_items"] == 6 and len(results["scores"]["average_ci"]) == 2
    assert "95% CI (items)" in (full / "results.md").read_text()
    reference = _ledger_rows(full)
    assert len(reference) == 12
    # every seed draws its own demos (the published draw for that seed), not those of the first seed
    for seed in (42, 52):
        demos = [r["demos"] for r in reference.values() if r["dataset"] == "sst2" and r["seed"] == seed]
        assert sorted(demos) == sorted(draw_demos(list(range(3000)), 3, 4, seed))

    # A run killed after its first chunk (chunks of 2 rows): the rerun predicts only the missing rows and ends
    # with exactly the rows and scores of the uninterrupted run.
    monkeypatch.setattr(sentibench, "CHUNK", 2)
    calls = {"items": 0}
    real_classify, real_generate = InferenceRunner.classify, InferenceRunner.generate

    def killed_classify(self, prompts, *args, **kwargs):
        if calls["items"] >= 2:
            raise KeyboardInterrupt
        calls["items"] += len(prompts)
        return real_classify(self, prompts, *args, **kwargs)

    killed = tmp_path / "killed"
    monkeypatch.setattr(InferenceRunner, "classify", killed_classify)
    assert main(_eval_args(tiny_gemma, sentibench_dir, killed)) != 0  # the CLI reports the interruption
    assert len(_ledger_rows(killed)) == 2 and not (killed / "summary.json").exists()

    def counting(real):
        def wrapped(self, prompts, *args, **kwargs):
            calls["items"] += len(prompts)
            return real(self, prompts, *args, **kwargs)

        return wrapped

    calls["items"] = 0
    monkeypatch.setattr(InferenceRunner, "classify", counting(real_classify))
    monkeypatch.setattr(InferenceRunner, "generate", counting(real_generate))
    assert main(_eval_args(tiny_gemma, sentibench_dir, killed)) == 0
    assert calls["items"] == 10  # 12 rows, 2 already in the ledger
    resumed = _ledger_rows(killed)
    assert resumed.keys() == reference.keys()
    for key, row in reference.items():
        got = resumed[key]
        assert {k: v for k, v in got.items() if k != "label_scores"} == {
            k: v for k, v in row.items() if k != "label_scores"
        }
        if row["label_scores"] is not None:
            assert got["label_scores"] == pytest.approx(row["label_scores"], abs=1e-5)
    again = json.loads((killed / "results.json").read_text())
    assert again["scores"] == results["scores"] and again["n_items"] == results["n_items"]


def test_model_index_results_are_eval_results():
    from huggingface_hub import EvalResult

    from compeff_hf.evaluation import model_index_results

    results = {
        "protocol": {"k_shot": 4, "seeds": [42]},
        "scores": {
            "datasets": {"sst2": {"group": "bsa", "metric": "macro-F1", "mean": 81.234, "std": 0.0}},
            "groups": {},
            "average": 81.234,
            "n_datasets": 1,
        },
    }
    entries = model_index_results(results)
    assert all(isinstance(e, EvalResult) for e in entries)
    assert entries[0].metric_value == 81.23 and entries[0].dataset_config == "sst2"


def test_config_defaults_follow_the_published_protocol():
    config = EvalConfig()
    assert config.seeds == [42, 52, 62] and config.k_shot == 4 and config.chat_template is False


def test_answer_complete_stops_rows_only_when_their_answer_block_closes(tiny_gemma):
    from compeff_hf.evaluation.runner import AnswerComplete
    from compeff_hf.models import load_tokenizer

    tok = load_tokenizer(str(tiny_gemma))
    prompt = tok("Output: [1]\nOutput:", add_special_tokens=True)["input_ids"]
    continuations = [
        ' [{"a": "b"}]',  # completes the answer, newest token closes it: stop
        " [2, 3",  # answer still open: go on
        "\n",  # only the demo's block is complete: go on
    ]
    tokens = [tok(t, add_special_tokens=False)["input_ids"] for t in continuations]
    stop = AnswerComplete(tok, [prompt] * 3, blocks=2)
    assert [stop(j, t) for j, t in enumerate(tokens)] == [True, False, False]
    # a row whose newest token holds no "]" is not decoded at all, so it cannot stop
    assert stop(0, tokens[0][:-1]) is False


def test_greedy_decoder_matches_generate_row_by_row_and_drops_finished_rows(tiny_gemma):
    import torch

    from compeff_hf.models import load_tokenizer

    runner = _runner(tiny_gemma, batch_size=4)
    tok = load_tokenizer(str(tiny_gemma))
    # the long row is wider than the model's sliding window (64): its layers' caches are trimmed while decoding
    long = "Sentence: " + " ".join(f"the {w} was fine" for w in ["food", "bar", "view", "staff"] * 8) + "\nOutput:"
    texts = ["Sentence: great food\nOutput:", "Sentence: the pasta was cold and the waiter rude\nOutput:", long]
    rows = [tok(t)["input_ids"] for t in texts]
    assert len(rows[2]) > 64
    ids, mask = runner._pad(rows, left=True)
    calls = []
    # stop row 1 after 3 tokens: rows 0 and 2 must be unaffected, and the batch shrinks to 2 rows
    real_forward = runner.model.forward

    def counting_forward(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return real_forward(*args, **kwargs)

    runner.model.forward = counting_forward
    try:
        out = runner.greedy(ids, mask, 12, stop=lambda row, t: row == 1 and len(t) == 3)
    finally:
        runner.model.forward = real_forward
    assert [len(t) for t in out] == [12, 3, 12] and calls[:4] == [3, 3, 3, 2]
    with torch.inference_mode():
        for row, got in zip(rows, out, strict=True):
            want = runner.model.generate(
                input_ids=torch.tensor([row]), max_new_tokens=len(got), do_sample=False, pad_token_id=runner.pad_id
            )[0, len(row) :].tolist()
            assert got == want


def test_batches_are_length_sorted_and_padding_aware(tiny_gemma):
    runner = _runner(tiny_gemma, batch_size=3)
    lengths = [940, 546, 1850, 1156, 672, 2209, 1196, 452]
    batches = list(runner.batches(lengths, max_padding=0.15))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 3
        assert [lengths[i] for i in batch] == sorted((lengths[i] for i in batch), reverse=True)
        width = lengths[batch[0]] * len(batch)
        assert width <= 1.15 * sum(lengths[i] for i in batch)
    assert [len(b) for b in runner.batches(lengths, extra=150)] == [3, 3, 2]  # generation: rows cap only


def test_label_choice_uses_processed_logits_like_generate_scores(tiny_gemma):
    """Official icl_multifaced.py reads `generate(...).scores[0]`: the logits after the generation config's
    processors. With a repetition penalty, a label word already in the prompt loses and some choices flip."""
    import torch

    from compeff_hf.evaluation.runner import label_token_ids

    prompts = [
        f"Sentence: it was {w}\nLabel: {label}\n\nSentence: {w}\nLabel:"
        for w in ("good", "bad", "fine", "meh")
        for label in ("negative", "positive", "neutral")
    ]
    raw_runner = _runner(tiny_gemma)
    ids = label_token_ids(raw_runner.tokenizer, (" negative", " positive", " neutral"))
    assert raw_runner.processed_logits is False  # no processor configured: the fast label-rows path
    raw_best, _ = raw_runner.classify(prompts, ids)
    runner = _runner(tiny_gemma)
    runner.model.generation_config.repetition_penalty = 3.0
    runner = type(runner)(runner.model, runner.tokenizer, 4)
    best, scores = runner.classify(prompts, ids)
    for prompt, b, s in zip(prompts, best, scores, strict=True):
        enc = runner.tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            out = runner.model.generate(
                **enc, max_new_tokens=2, do_sample=False, output_scores=True, return_dict_in_generate=True
            )
        official = out.scores[0][0, ids]
        assert s == pytest.approx(official.tolist(), abs=1e-4)
        assert b == int(official.argmax())
    assert best != raw_best  # the designed prompts flip at least one label under the penalty
