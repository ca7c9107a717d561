"""`compeff-hf filter` end to end on a tiny model: outputs, resume, v2 corpora, proxy pre-filter, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from compeff_hf.cli import main as cli_main
from compeff_hf.data import load_rows
from compeff_hf.errors import DataError
from compeff_hf.filter.config import FilterConfig
from compeff_hf.filter.pipeline import run

pytestmark = pytest.mark.slow  # each test runs the stage on a tiny model (seconds)

REVIEWS = [
    "The food was delicious and the staff were friendly.",
    "Terrible product, it broke after two days.",
    "Great value for the price; the battery lasts all day.",
    "Not sure how I feel about the new policy.",
    "I loved this movie, the plot keeps you guessing.",
]


def _rows(n: int = 24) -> list[dict]:
    rows = []
    for i in range(n):
        text = REVIEWS[i % len(REVIEWS)]
        if i % 3 == 0:
            kind, task, prompt = "analysis", None, ["Please analyze the sentiment.", "Identify the aspects."][i % 2]
            instruction = f"{prompt}\n\nInput: {text} ({i})"
            output = f"The text is mostly {'positive' if i % 2 else 'negative'} because of the wording. " * (1 + i % 3)
        else:
            kind, task = "task", f"t{i % 2}"
            instruction = f"Classify the polarity.\nInput: nice\nOutput: positive\n\nInput: {text} ({i})\nOutput:"
            output = ["positive", "negative", "neutral"][i % 3]
        rows.append(
            {
                "id": f"row-{i:03d}",
                "messages": [{"role": "user", "content": instruction}],
                "output": output,
                "perspective_id": f"p{i % 2}",
                "task_id": task,
                "instruction_type": kind,
                "task_name": "analysis" if kind == "analysis" else f"task {task}",
            }
        )
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _kept_by_group(scored) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rid, group, flag in zip(scored["id"], scored["select_group"], scored["selected"], strict=True):
        out.setdefault(group, [])
        if flag:
            out[group].append(rid)
    return out


def _hardest(scored, group: str, k: int) -> list[str]:
    """The k hardest rows of a group, ties broken by id (as selection does)."""
    rows = zip(scored["score"], scored["id"], scored["select_group"], strict=True)
    members = sorted((score, rid) for score, rid, g in rows if g == group)
    return sorted(rid for _, rid in members[-k:])


def test_filter_end_to_end_via_cli(tmp_path, tiny_gemma, capsys):
    data = _write(tmp_path / "teacher.jsonl", _rows())
    out = tmp_path / "filter"
    args = ["filter", "--input", str(data), "--scorer_model", str(tiny_gemma), "--output_dir", str(out)]
    assert cli_main([*args, "--keep_ratio", "0.4", "--batch_size", "4"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_in"] == 24 and summary["status"] == "done"
    assert set(summary["histograms"]) == {"analysis", "task"}
    assert sum(sum(h["counts"]) for h in summary["histograms"].values()) == 24
    scored, kept = load_rows(out / "scored"), load_rows(out)  # the stage folder reads as its "data"
    assert len(scored) == 24 and len(kept) == summary["rows_kept"] == sum(scored["selected"])
    for col in ("score", "score_metric", "rank_score", "rank_score_all", "ppl", "select_method", "keep_ratio"):
        assert col in kept.column_names
    assert set(kept["score_metric"]) == {"rank"} and set(kept["keep_ratio"]) == {0.4}
    assert scored["score"] == scored["rank_score"] and summary["score_column"] == "rank_score"
    assert all(0.0 <= s <= 1.0 for s in scored["score"])
    # Groups of 8, 8, 4, 4 at 0.4: 3.2 and 1.6 rounded stochastically from (seed 42, method, group) alone, so the
    # counts are pinned whatever the scores: floor gives 3, 3, 1, 1; round-half-up 3, 3, 2, 2.
    by_group = _kept_by_group(scored)
    assert {g: len(v) for g, v in by_group.items()} == {
        "task|p0|t0": 3,
        "task|p1|t1": 3,
        "analysis|Please analyze the sentiment.": 2,
        "analysis|Identify the aspects.": 1,
    }
    for group, ids in by_group.items():  # each group keeps exactly its hardest rows
        assert sorted(ids) == _hardest(scored, group, len(ids))
    assert summary["groups"] == 4 and summary["rows_kept"] == 9 and summary["keep_ratio_actual"] == 0.375
    assert "kept 9 of 24 rows (37.50%" in capsys.readouterr().out
    # Same config again: finished output is reused, not recomputed
    assert cli_main([*args, "--keep_ratio", "0.4", "--batch_size", "8"]) == 0  # batch size is volatile
    # The real kept fraction reaches the dataset card
    from compeff_hf.hub.cards import build_dataset_card

    manifest = {
        "configs": {"filtered": {"name": "filtered", "stage": "filter", "folder": "data", "rows": 9, "columns": []}},
        "stages": {"filter": {"summary": summary, "configs": ["filtered"]}},
    }
    card = str(build_dataset_card("me/filtered", manifest, {"filter": {"keep_ratio": 0.4}}))
    assert "`keep_ratio_actual` = `0.375`" in card


def test_strategy_full_ranks_globally_inprompt_per_group(tmp_path, tiny_gemma):
    """Length scores (no forward pass): task t0's responses are all longer than t1's."""
    rows = []
    for i in range(8):
        task = "t0" if i < 4 else "t1"
        words = (12 - i) if i < 4 else (8 - i)
        rows.append({"id": f"r{i}", "instruction": f"Do {task}.", "output": "word " * words, "task_id": task})
    data = _write(tmp_path / "rows.jsonl", rows)
    kept = {}
    for strategy in ("full", "inprompt"):
        out = tmp_path / strategy
        summary = run(
            FilterConfig(
                input=str(data),
                scorer_model=str(tiny_gemma),
                output_dir=str(out),
                metric="length",
                keep_ratio=0.5,
                strategy=strategy,
            )
        )
        kept[strategy] = sorted(load_rows(out)["id"])
        assert summary["groups"] == (1 if strategy == "full" else 2)
    assert kept["full"] == ["r0", "r1", "r2", "r3"]
    assert kept["inprompt"] == ["r0", "r1", "r4", "r5"]


def _greedy_rows(tiny_gemma, rows: list[dict]) -> list[dict]:
    """Half the responses become the scorer's own greedy continuation plus an odd tail: mostly top-1 tokens and a
    few far outside the nucleus, so the mean over non-top-1 tokens is high while the mean over all is low."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from compeff_hf.filter.scores import raw_instruction

    tok = AutoTokenizer.from_pretrained(str(tiny_gemma))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gemma), dtype=torch.float32).eval()
    for row in rows[::2]:
        ids = tok(raw_instruction(row["messages"][0]["content"]), return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)
        row["output"] = tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True) + " zq!"
    return rows


def test_rank_aggregation_all_scores_and_selects_on_all_tokens(tmp_path, tiny_gemma):
    data = _write(tmp_path / "teacher.jsonl", _greedy_rows(tiny_gemma, _rows(16)))
    out = tmp_path / "all"
    summary = run(
        FilterConfig(
            input=str(data),
            scorer_model=str(tiny_gemma),
            output_dir=str(out),
            rank_aggregation="all",
            strategy="full",
            keep_ratio=0.5,
        )
    )
    scored = load_rows(out / "scored")
    assert scored["score"] == scored["rank_score_all"] != scored["rank_score"]
    assert summary["score_column"] == "rank_score_all"

    def top8(column):
        return sorted(rid for _, rid in sorted(zip(scored[column], scored["id"], strict=True))[-8:])

    assert top8("rank_score_all") != top8("rank_score")  # the two options really choose differently here
    assert sorted(load_rows(out)["id"]) == top8("rank_score_all")


def test_resume_after_kill_does_not_rescore(tmp_path, tiny_gemma, monkeypatch):
    from compeff_hf.filter import pipeline

    monkeypatch.setattr(pipeline, "BLOCK_ROWS", 5)  # several encode-and-score blocks
    data = _write(tmp_path / "teacher.jsonl", _rows(12))
    config = FilterConfig(input=str(data), scorer_model=str(tiny_gemma), output_dir=str(tmp_path / "f"), batch_size=2)
    first = run(config)
    before = load_rows(tmp_path / "f" / "scored")["score"]
    ledger = tmp_path / "f" / "_ledger" / "scores.jsonl"
    lines = ledger.read_text().splitlines()
    # Simulate a run killed mid-way: half the ledger, a torn last line, no datasets or summary.
    ledger.write_text("\n".join(lines[:6]) + "\n" + lines[6][:10])
    (tmp_path / "f" / "summary.json").unlink()
    second = run(config)
    rows = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert len(rows) == 12 and len({r["id"] for r in rows}) == 12  # nothing duplicated
    assert second["rows_kept"] == first["rows_kept"]
    assert load_rows(tmp_path / "f" / "scored")["score"] == pytest.approx(before, abs=1e-6)


def test_v2_corpus_columns_and_baseline_metrics(tmp_path, tiny_gemma):
    rows = [{"instruction": r["messages"][0]["content"], "output": r["output"]} for r in _rows(16)]
    data = _write(tmp_path / "v2.jsonl", rows)
    for metric in ("ppl", "ifd", "length", "random"):
        out = tmp_path / metric
        cfg = FilterConfig(
            input=str(data), scorer_model=str(tiny_gemma), output_dir=str(out), metric=metric, keep_ratio=0.5
        )
        summary = run(cfg)
        scored = load_rows(out / "scored")
        assert set(summary["histograms"]) == {"all"}
        assert "messages" in scored.column_names  # converted to the interchange format
        assert set(scored["score_metric"]) == {metric}
        if metric == "ifd":
            # Alone, a one-token response ("negative") has no scorable token without BOS (this tokenizer adds none):
            # its unconditional perplexity, hence its IFD, is NaN and it is never kept
            one_token = [o == "negative" for o in scored["output"]]
            assert [math.isnan(s) for s in scored["ifd"]] == one_token and any(one_token)
            assert json.dumps(list(scored["score"])) == json.dumps(list(scored["ifd"]))
            assert all(s > 0 for s in scored["ifd"] if not math.isnan(s))
            assert not any(k and nan for k, nan in zip(scored["selected"], one_token, strict=True))
        if metric == "length":
            assert scored["score"] == [float(n) for n in scored["n_response_tokens"]]
    # without ids, groups come from the instruction template: analysis prompts x2, one task description
    assert summary["groups"] == 3


def test_proxy_prefilter_reports_teacher_savings(tmp_path, tiny_gemma):
    rows = [{k: v for k, v in r.items() if k != "output"} for r in _rows(12)]
    data = _write(tmp_path / "instructions.jsonl", rows)
    out = tmp_path / "proxy"
    summary = run(
        FilterConfig(
            input=str(data),
            scorer_model=str(tiny_gemma),
            output_dir=str(out),
            proxy_responses=True,
            proxy_max_new_tokens=8,
            keep_ratio=0.5,
            strategy="full",
        )
    )
    proxy = summary["proxy"]
    assert proxy["candidates"] == 12 and proxy["teacher_calls"] == summary["rows_kept"] == 6
    assert proxy["teacher_calls_saved"] == 6 and 0 < proxy["prompt_tokens_saved"] < proxy["prompt_tokens_total"]
    kept = load_rows(out)
    assert len(kept) == 6 and "output" not in kept.column_names and "proxy_output" in kept.column_names


def test_bad_input_names_row_and_field(tmp_path, tiny_gemma, capsys):
    rows = _rows(4)
    rows[2]["output"] = None
    data = _write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=r"row row-002: field 'output'"):
        run(FilterConfig(input=str(data), scorer_model=str(tiny_gemma), output_dir=str(tmp_path / "o")))
    code = cli_main(["filter", "--input", str(tmp_path / "nope.jsonl"), "--output_dir", str(tmp_path / "o2")])
    assert code == 2 and "no such file" in capsys.readouterr().err
    with pytest.raises(Exception, match="keep_ratio"):
        FilterConfig(keep_ratio=1.5)


def test_help_lists_fields(capsys):
    assert cli_main(["filter", "--help"]) == 0
    text = capsys.readouterr().out
    flags = ("--metric", "--rank_aggregation", "--proxy_responses", "--strategy", "--hard_zero_count")
    for flag in (*flags, "--num_processes", "example:"):
        assert flag in text


def test_quickstart_recipe_parses():
    from compeff_hf.configs import parse_recipe

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "quickstart" / "filter.yaml"
    (config,) = parse_recipe(FilterConfig, ["--config", str(recipe), "--keep_ratio", "0.2"])
    assert config.metric == "rank" and config.keep_ratio == 0.2 and config.rank_aggregation == "non_top1"
