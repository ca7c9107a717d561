"""Training-data layouts, column errors, blank responses and the overlong policy (real datasets, real tokenizers)."""

import json

import pytest
from datasets import Dataset

from compeff_hf.errors import DataError
from compeff_hf.train.config import ScriptArguments
from compeff_hf.train.data import (
    data_lineage,
    handle_overlong,
    load_training_data,
    measure_lengths,
    teacher_from_lineage,
    to_prompt_completion,
)


def convert(rows, **kw):
    return to_prompt_completion(Dataset.from_list(rows), source="rows.jsonl", **kw)


def test_instruction_output_becomes_one_user_turn():
    ds = convert([{"instruction": "Classify: great food", "output": "positive", "extra": 1}])
    assert ds.column_names == ["id", "prompt", "completion"]
    assert ds[0]["prompt"] == [{"role": "user", "content": "Classify: great food"}]
    assert ds[0]["completion"] == [{"role": "assistant", "content": "positive"}]


def test_instruction_with_input_column_and_custom_response_column():
    ds = convert(
        [{"instruction": "Classify.", "input": "Great food", "Qwen/Qwen3-32B_output": "positive"}],
        response_column="Qwen/Qwen3-32B_output",
    )
    assert ds[0]["prompt"][0]["content"] == "Classify.\n\nGreat food"
    assert ds[0]["completion"][0]["content"] == "positive"


def test_pipeline_messages_plus_output_keeps_ids_and_replaces_stale_assistant_turn():
    rows = [
        {
            "id": "abc",
            "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "old"}],
            "output": "new",
        }
    ]
    ds = convert(rows)
    assert ds[0]["id"] == "abc"
    assert ds[0]["prompt"] == [{"role": "user", "content": "Q"}]
    assert ds[0]["completion"][0]["content"] == "new"


def test_messages_only_uses_last_assistant_turn_and_system_prompt_is_prepended():
    rows = [{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}]
    ds = convert(rows, system_prompt="Be brief.")
    assert [m["role"] for m in ds[0]["prompt"]] == ["system", "user"]
    assert ds[0]["completion"][0]["content"] == "A"


def test_messages_without_assistant_turn_fails_naming_the_row():
    with pytest.raises(DataError, match="row 0"):
        convert([{"messages": [{"role": "user", "content": "Q"}]}])


def test_no_usable_columns_names_the_columns_found():
    with pytest.raises(DataError) as err:
        convert([{"text": "a", "label": 1}])
    assert "['text', 'label']" in str(err.value)
    assert "instruction" in str(err.value) and "rows.jsonl" in str(err.value)


def test_blank_or_null_responses_are_dropped_not_trained():
    rows = [
        {"instruction": "a", "output": "positive"},
        {"instruction": "b", "output": None},
        {"instruction": "c", "output": "  "},
    ]
    ds = convert(rows)
    assert len(ds) == 1 and ds[0]["prompt"][0]["content"] == "a"
    with pytest.raises(DataError, match="no row has a teacher response"):
        convert([{"instruction": "b", "output": None}])


def test_load_training_data_from_file_with_sampling(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"instruction": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(10)))
    ds = load_training_data(ScriptArguments(dataset_name=str(path), max_train_samples=4))
    assert len(ds) == 4
    with pytest.raises(DataError, match="no such file"):
        load_training_data(ScriptArguments(dataset_name=str(tmp_path / "missing.jsonl")))


def test_overlong_policies(tiny_gemma):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_gemma))
    rows = [
        {"id": "short", "instruction": "Classify: good", "output": "positive"},
        {"id": "long_prompt", "instruction": "word " * 300, "output": "negative"},
        {"id": "long_answer", "instruction": "Explain", "output": "because " * 300},
    ]
    ds = measure_lengths(convert(rows), tok)
    assert all(p < t for p, t in zip(ds["prompt_tokens"], ds["total_tokens"], strict=True))

    kept, stats = handle_overlong(ds, 64, "truncate", "rows")
    # The long prompt would leave no response token: dropped and counted even under `truncate`.
    assert kept["id"] == ["short", "long_answer"]
    assert stats["dropped_prompt_too_long"] == 1 and stats["truncated_response"] == 1

    kept, stats = handle_overlong(ds, 64, "drop", "rows")
    assert kept["id"] == ["short"] and stats["dropped_overlong"] == 1

    with pytest.raises(DataError, match="long_prompt"):
        handle_overlong(ds, 64, "error", "rows")
    kept, stats = handle_overlong(ds, None, "error", "rows")
    assert len(kept) == 3


def test_lineage_reads_teacher_and_filter_from_stage_folders(tmp_path):
    teacher = tmp_path / "teacher"
    filt = tmp_path / "filter"
    for folder, stage, cfg in (
        (teacher, "teacher", {"teacher_model": "google/gemma-3-27b-it"}),
        (filt, "filter", {"input": str(teacher), "keep_ratio": 0.1}),
    ):
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps({"stage": stage, "status": "done"}))
        (folder / "config.yaml").write_text(json.dumps(cfg))
    lineage = data_lineage(str(filt))
    assert [e["stage"] for e in lineage] == ["filter", "teacher"]
    assert teacher_from_lineage(lineage) == "google/gemma-3-27b-it"
    assert data_lineage("zhang-yice/sentiment-distillation-v2") == []
