"""validate.py: every numeric option of every command is range-checked by name; files are checked by line/byte."""

from __future__ import annotations

import json
import shutil

import pytest

from compeff_hf.cli import COMMANDS, config_classes
from compeff_hf.configs import RecipeParser
from compeff_hf.errors import DataError, ModelError, RecipeError
from compeff_hf.validate import (
    RANGES,
    check_empty_texts,
    check_text_file,
    check_unique_ids,
    numeric_fields,
    rule_for,
)

OURS = [(name, cls) for name, cmd in COMMANDS.items() if cmd.config for cls in config_classes(cmd)]


def _bad_value(rule) -> str:
    lo, hi, lo_in, hi_in = rule
    if lo is not None:
        return str(lo - 1 if lo_in else lo)
    return str(hi + 1)


def test_every_numeric_option_of_our_configs_has_a_rule():
    missing = [
        f"{cls.__name__}.{f}"
        for _, cls in OURS
        for f in numeric_fields(cls)
        if cls.__module__.startswith("compeff_hf") and rule_for(cls, f) is None and f not in ("pad_to_multiple_of",)
        and any(f in b.__dict__.get("__annotations__", {}) for b in cls.__mro__ if b.__module__.startswith("compeff"))
    ]  # fmt: skip
    assert not missing


@pytest.mark.parametrize(("command", "cls"), OURS, ids=[f"{n}-{c.__name__}" for n, c in OURS])
def test_out_of_range_values_are_refused_naming_the_field(command, cls):
    parser = RecipeParser(config_classes(COMMANDS[command]))
    checked = 0
    for name in numeric_fields(cls):
        rule = rule_for(cls, name)
        if rule is None:
            continue
        value = _bad_value(rule)
        with pytest.raises(RecipeError, match=name):
            parser.parse([f"--{name}", value, *(["--output_dir", "x"] if command == "train" else [])])
        checked += 1
    assert checked or not numeric_fields(cls)


def test_boundaries_are_inclusive_or_exclusive_as_declared():
    from compeff_hf.teacher import TeacherConfig

    parser = RecipeParser(TeacherConfig)
    assert parser.parse(["--max_failure_rate", "1.0"])[0].max_failure_rate == 1.0
    assert parser.parse(["--max_failure_rate", "0"])[0].max_failure_rate == 0.0
    assert parser.parse(["--top_p", "1"])[0].top_p == 1.0
    assert parser.parse(["--max_concurrency", "1"])[0].max_concurrency == 1
    assert parser.parse(["--max_retries", "0"])[0].max_retries == 0
    assert parser.parse(["--temperature", "0"])[0].temperature == 0.0
    with pytest.raises(RecipeError, match=r"--top_p: 0\.0 is out of range; it must be in \(0, 1\]"):
        parser.parse(["--top_p", "0"])
    with pytest.raises(RecipeError, match=r"--max_concurrency: 0 is out of range; it must be >= 1"):
        parser.parse(["--max_concurrency", "0"])
    with pytest.raises(RecipeError, match=r"--request_timeout_s: 0\.0 is out of range; it must be > 0"):
        parser.parse(["--request_timeout_s", "0"])
    with pytest.raises(RecipeError, match="not a finite number"):
        parser.parse(["--request_timeout_s", "inf"])
    assert RANGES["port"] == (0, 65535, True, True)


def test_list_values_are_checked_one_by_one():
    from compeff_hf.evaluation.config import EvalConfig

    parser = RecipeParser(EvalConfig)
    assert parser.parse(["--seeds", "0", "52"])[0].seeds == [0, 52]
    with pytest.raises(RecipeError, match="--seeds: -1"):
        parser.parse(["--seeds", "42", "-1"])


def test_config_given_twice_is_refused(tmp_path):
    from compeff_hf.teacher import TeacherConfig

    recipe = tmp_path / "r.yaml"
    recipe.write_text("limit: 3\n")
    parser = RecipeParser(TeacherConfig)
    with pytest.raises(RecipeError, match="--config given more than once"):
        parser.parse(["--config", str(recipe), "--config", str(recipe)])
    with pytest.raises(RecipeError, match="--config given more than once"):
        parser.parse([f"--config={recipe}", "--config", str(recipe)])
    assert parser.parse([f"--config={recipe}"])[0].limit == 3


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": \n{"a": 4}\n')
    with pytest.raises(DataError, match=r"x.jsonl:4: not valid JSON"):
        check_text_file(path)
    path.write_text('{"a": 1}\n"just a string"\n')
    with pytest.raises(DataError, match=r"x.jsonl:2: each line must be a JSON object, got str"):
        check_text_file(path)
    path.write_text('{"a": 1}\n{"a": 2}')  # no final newline: fine
    check_text_file(path)


def test_a_json_document_is_not_read_as_lines(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('[\n{"a": 1},\n{"a": 2}\n]\n')
    check_text_file(path)
    path.write_text('{"a": 1}\n{"a": 2}\n')  # JSON lines in a .json file
    check_text_file(path)
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DataError, match=r"x.json:2"):
        check_text_file(path)


def test_undecodable_bytes_give_file_offset_and_line(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"text\nabc\nd\xe9f\n")
    with pytest.raises(DataError, match=r"x.csv: not UTF-8 text \(byte offset 10, line 3: byte 0xe9\)"):
        check_text_file(path)
    ok = tmp_path / "ok.txt"
    ok.write_text("caf\u00e9\n")
    check_text_file(ok)


def test_unique_ids():
    from datasets import Dataset

    check_unique_ids(Dataset.from_dict({"id": ["a", "b", None, None]}), "src")
    check_unique_ids(Dataset.from_dict({"text": ["a", "a"]}), "src")  # no id column: nothing to check
    with pytest.raises(DataError, match=r"src: rows 2 and 4 share the id 'b'"):
        check_unique_ids(Dataset.from_dict({"id": ["a", "b", "c", "b", "a"]}), "src")


def test_empty_texts_are_listed_by_row():
    check_empty_texts(["a", " b "], "src", "text")
    with pytest.raises(DataError, match=r"src: empty text in row\(s\) 2, 4$|src: empty text in row\(s\) 2, 4;"):
        check_empty_texts(["a", "", "c", " \n", "e"], "src", "text")
    with pytest.raises(DataError, match=r"row\(s\) 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2 more"):
        check_empty_texts([""] * 12, "src", "text")
    with pytest.raises(DataError, match=r"row\(s\) 1;"):
        check_empty_texts([None], "src", "text")


def test_load_rows_checks_files_and_unfinished_stage_folders(tmp_path):
    from compeff_hf.data import load_rows

    bad = tmp_path / "b.jsonl"
    bad.write_text('{"id": 1}\n{oops}\n{"id": 3}\n')
    with pytest.raises(DataError, match=r"b.jsonl:2"):
        load_rows(bad)
    dup = tmp_path / "d.jsonl"
    dup.write_text('{"id": "x"}\n{"id": "x"}\n')
    with pytest.raises(DataError, match=r"rows 1 and 2 share the id 'x'"):
        load_rows(dup)
    folder = tmp_path / "teacher"
    (folder / "data").mkdir(parents=True)
    (folder / ".config_hash").write_text("abc")
    with pytest.raises(DataError, match="unfinished stage folder"):
        load_rows(folder)
    latin = tmp_path / "many"
    latin.mkdir()
    (latin / "a.jsonl").write_bytes(b'{"t": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"a.jsonl: not UTF-8"):
        load_rows(latin)


# ------------------------------------------------------------------------------------------------ tokenizers


@pytest.fixture(scope="module")
def no_tokenizer(tiny_gemma, tmp_path_factory):
    path = tmp_path_factory.mktemp("no-tok") / "model"
    shutil.copytree(tiny_gemma, path)
    for p in path.iterdir():
        if "token" in p.name or p.name.endswith(".jinja"):
            p.unlink()
    return path


def test_check_tokenizer(tiny_gemma, no_tokenizer):
    from compeff_hf.models import check_tokenizer, load_tokenizer

    good = load_tokenizer(str(tiny_gemma))
    check_tokenizer("m", good, need_chat_template=True)
    with pytest.raises(ModelError, match=r"--model .*no usable tokenizer \(vocabulary of \d+ tokens"):
        check_tokenizer(str(no_tokenizer), load_tokenizer(str(no_tokenizer)), what="--model")
    good.chat_template = None
    check_tokenizer("m", good)
    with pytest.raises(ModelError, match="no chat template"):
        check_tokenizer("m", good, need_chat_template=True)


@pytest.mark.slow
def test_filter_refuses_a_model_without_tokenizer_and_reruns_once_fixed(tmp_path, tiny_gemma, no_tokenizer, capsys):
    """Item 2: no invented scores, and after the tokenizer is added the rerun is not skipped as done."""
    from compeff_hf.cli import main as cli_main
    from compeff_hf.data import load_rows

    data = tmp_path / "resp.jsonl"
    with data.open("w") as fh:
        for i in range(8):
            msgs = [{"role": "user", "content": f"Is review {i} about {'food ' * i}positive?"}]
            fh.write(json.dumps({"id": f"r{i}", "messages": msgs, "output": "Positive." + " yes" * i}) + "\n")
    model = tmp_path / "model"
    shutil.copytree(no_tokenizer, model)
    out = tmp_path / "filter"
    args = ["filter", "--input", str(data), "--scorer_model", str(model), "--output_dir", str(out)]
    args += ["--metric", "ppl", "--keep_ratio", "0.5", "--formatting", "raw"]
    assert cli_main(args) == 2
    assert "no usable tokenizer" in capsys.readouterr().err
    assert not out.exists()
    for p in tiny_gemma.iterdir():
        if "token" in p.name:
            shutil.copy(p, model / p.name)
    assert cli_main(args) == 0
    scores = load_rows(out, config_name="scored")["ppl"]
    assert len(set(scores)) > 1  # real scores differ per row
