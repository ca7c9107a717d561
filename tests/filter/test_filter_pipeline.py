"""`compeff-hf filter` end to end on a tiny model: outputs, resume, v2 corpora, proxy pre-filter, bad input."""

from __future__ import annotations

import json
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


def test_filter_end_to_end_via_cli(tmp_path, tiny_gemma, capsys):
    data = _write(tmp_path / "teacher.jsonl", _rows())
    out = tmp_path / "filter"
    args = ["filter", "--input", str(data), "--scorer_model", str(tiny_gemma), "--output_dir", str(out)]
    assert cli_main([*args, "--keep_ratio", "0.25", "--batch_size", "4"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_in"] == 24 and summary["status"] == "done"
    assert set(summary["histograms"]) == {"analysis", "task"}
    assert sum(sum(h["counts"]) for h in summary["histograms"].values()) == 24
    scored, kept = load_rows(out / "scored"), load_rows(out)  # the stage folder reads as its "data"
    assert len(scored) == 24 and len(kept) == summary["rows_kept"] == sum(scored["selected"])
    for col in ("score", "score_metric", "rank_score", "rank_score_all", "ppl", "select_method", "keep_ratio"):
        assert col in kept.column_names
    assert set(kept["score_metric"]) == {"rank"} and set(kept["keep_ratio"]) == {0.25}
    assert scored["score"] == scored["rank_score"]
    assert all(0.0 <= s <= 1.0 for s in scored["score"])
    # Each of the 4 inprompt groups of 6 keeps 1 or 2 rows (stochastic rounding of 1.5)
    assert summary["groups"] == 4 and 4 <= summary["rows_kept"] <= 8
    assert "kept" in capsys.readouterr().out
    # Same config again: finished output is reused, not recomputed
    assert cli_main([*args, "--keep_ratio", "0.25", "--batch_size", "8"]) == 0  # batch size is volatile


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
            assert all(s > 0 for s in scored["ifd"]) and scored["score"] == scored["ifd"]
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
    for flag in ("--metric", "--rank_aggregation", "--proxy_responses", "--strategy", "example:"):
        assert flag in text


def test_quickstart_recipe_parses():
    from compeff_hf.configs import parse_recipe

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "quickstart" / "filter.yaml"
    (config,) = parse_recipe(FilterConfig, ["--config", str(recipe), "--keep_ratio", "0.2"])
    assert config.metric == "rank" and config.keep_ratio == 0.2 and config.rank_aggregation == "non_top1"
