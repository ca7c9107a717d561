import json

import pytest

from compeff_hf.data import load_rows, read_jsonl, row_id
from compeff_hf.errors import DataError


def test_row_id_is_stable_and_order_free():
    assert row_id({"a": 1, "b": 2}, "x") == row_id({"b": 2, "a": 1}, "x")
    assert row_id("x") != row_id("y")
    assert len(row_id("x")) == 16


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet", ".txt"])
def test_load_local_files(tmp_path, suffix):
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["good food", "bad service"]})
    path = tmp_path / f"texts{suffix}"
    if suffix == ".jsonl":
        ds.to_json(str(path))
    elif suffix == ".csv":
        ds.to_csv(str(path), index=False)
    elif suffix == ".parquet":
        ds.to_parquet(str(path))
    else:
        path.write_text("good food\nbad service\n")
    loaded = load_rows(path, columns=["text"])
    assert loaded["text"] == ["good food", "bad service"]


def test_missing_column_names_columns(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"review": "nice"}) + "\n")
    with pytest.raises(DataError) as err:
        load_rows(path, columns=["text"])
    assert "text" in str(err.value) and "review" in str(err.value) and str(path) in str(err.value)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        load_rows(empty)
    with pytest.raises(DataError, match="no such file"):
        load_rows(tmp_path / "nope.jsonl")


def test_malformed_jsonl_names_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1}\nnot json\n{"id": 3}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        read_jsonl(path)
