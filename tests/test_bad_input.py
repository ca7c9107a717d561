"""The bad-input suite (issue #15): about eighty wrong inputs across every stage and `run`.

Each case runs the CLI in-process and checks what a user gets: a non-zero exit, a message of at most two lines that
names the file, row or field, no traceback, and an output folder that does not block the corrected command (no
claim is left behind; for the teacher the corrected command is run).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from compeff_hf.cli import main as cli_main

sys.path.insert(0, str(Path(__file__).parent / "llm"))
from faulty_server import FaultyServer


@pytest.fixture(scope="module")
def server():
    with FaultyServer() as s:
        yield s


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_gemma):
    """Every input the cases need, good and bad, built once."""
    d = tmp_path_factory.mktemp("bad-input")

    def w(name: str, text: str | bytes) -> str:
        path = d / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return str(path)

    def row(i: int, content: str = "Is this review positive?", **extra) -> str:
        return json.dumps({"id": f"r{i}", "messages": [{"role": "user", "content": f"{content} {i}"}], **extra})

    good = "\n".join(row(i) for i in range(3)) + "\n"
    f = {"good": w("good.jsonl", good), "dir": d}
    f["broken_line"] = w("broken.jsonl", row(0) + "\n" + row(1) + '\n{"id": "r2", "messages": [\n')
    f["not_utf8"] = w("latin1.jsonl", row(0).encode() + b"\n" + '{"id": "r1", "text": "caf\xe9"}\n'.encode("latin-1"))
    f["not_utf8_csv"] = w("latin1.csv", b"text\nfine text here\ncaf\xe9 au lait is good\n")
    f["array_line"] = w("array.jsonl", row(0) + "\n[1, 2]\n")
    f["empty"] = w("empty.jsonl", "")
    f["xml"] = w("data.xml", "<rows/>")
    f["no_messages"] = w("nomsg.jsonl", json.dumps({"id": "a", "text": "hi"}) + "\n")
    f["messages_str"] = w("msgstr.jsonl", json.dumps({"id": "row-4", "messages": "hello"}) + "\n")
    f["no_role"] = w("norole.jsonl", json.dumps({"id": "row-7", "messages": [{"content": "no role"}]}) + "\n")
    f["ends_assistant_only"] = w(
        "sys.jsonl", json.dumps({"id": "row-9", "messages": [{"role": "system", "content": "x"}]}) + "\n"
    )
    f["empty_content"] = w(
        "emptytext.jsonl",
        "\n".join([row(0), json.dumps({"id": "r1", "messages": [{"role": "user", "content": ""}]}), row(2)]) + "\n",
    )
    f["blank_content"] = w(
        "blank.jsonl",
        "\n".join([row(0), row(1), json.dumps({"id": "r2", "messages": [{"role": "user", "content": " \n\t"}]})])
        + "\n",
    )
    f["dup_ids"] = w(
        "dup.jsonl",
        "\n".join([row(0), row(1), json.dumps({"id": "r0", "messages": [{"role": "user", "content": "other"}]})])
        + "\n",
    )
    f["no_data_dir"] = str(d / "nodata")
    (d / "nodata").mkdir()
    (d / "nodata" / "notes.md").write_text("nothing")
    unfinished = d / "unfinished-teacher"
    (unfinished / "_ledger").mkdir(parents=True)
    (unfinished / ".config_hash").write_text("abc")
    (unfinished / "_ledger" / "requests.jsonl").write_text('{"id": "x", "status": "ok"}\n')
    f["unfinished"] = str(unfinished)
    f["no_output"] = w("noout.jsonl", row(0) + "\n")
    f["texts_missing_col"] = w("texts.jsonl", json.dumps({"review": "a long enough review text"}) + "\n")
    # Recipes
    f["unknown_key"] = w("unknown.yaml", "max_concurency: 4\n")
    f["wrong_type"] = w("wrongtype.yaml", "max_concurrency: many\n")
    f["not_mapping"] = w("list.yaml", "- a\n- b\n")
    f["bad_yaml"] = w("bad.yaml", "a: [1, 2\n")
    f["unset_var"] = w("unset.yaml", "endpoint_url: ${COMPEFF_TEST_UNSET_VAR}\n")
    f["recipe_range"] = w("range.yaml", "max_failure_rate: 3.0\n")
    f["ok_recipe"] = w("ok.yaml", "max_new_tokens: 8\n")
    # Models: one without tokenizer files, one whose tokenizer has no chat template.
    no_tok = d / "model-no-tokenizer"
    shutil.copytree(tiny_gemma, no_tok)
    for p in no_tok.iterdir():
        if "token" in p.name or p.name.endswith(".jinja"):
            p.unlink()
    f["no_tokenizer"] = str(no_tok)
    no_tpl = d / "model-no-template"
    shutil.copytree(tiny_gemma, no_tpl)
    for p in no_tpl.iterdir():
        if p.name.endswith(".jinja"):
            p.unlink()
    cfg = json.loads((no_tpl / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (no_tpl / "tokenizer_config.json").write_text(json.dumps(cfg))
    f["no_template"] = str(no_tpl)
    f["model"] = str(tiny_gemma)
    # A finished teacher folder for filter inputs.
    teacher = d / "teacher-done"
    (teacher / "data").mkdir(parents=True)
    import datasets

    datasets.Dataset.from_list(
        [{"id": f"r{i}", "messages": [{"role": "user", "content": f"q{i}"}], "output": f"a{i}"} for i in range(4)]
    ).to_parquet(str(teacher / "data" / "train-00000-of-00001.parquet"))
    (teacher / "summary.json").write_text(json.dumps({"stage": "teacher", "status": "done"}))
    f["teacher_done"] = str(teacher)
    # Run recipes
    stage_recipe = w("stage.yaml", "{}\n")
    f["run_unknown_stage"] = w("run1.yaml", f"stages: [construct, distill]\nconstruct: {stage_recipe}\n")
    f["run_missing_recipe"] = w("run2.yaml", "stages: [teacher]\nteacher: no/such/teacher.yaml\n")
    f["run_no_recipe"] = w("run3.yaml", "stages: [teacher]\n")
    f["run_bad_override"] = w(
        "run4.yaml",
        f"stages: [construct, teacher]\nconstruct: {stage_recipe}\nteacher: {stage_recipe}\n"
        "overrides: ['teacher.max_concurrency=0']\n",
    )
    f["run_override_shape"] = w(
        "run5.yaml", f"stages: [construct]\nconstruct: {stage_recipe}\noverrides: ['max_texts=3']\n"
    )
    f["run_unknown_field"] = w(
        "run6.yaml", f"stages: [construct, teacher]\nconstruct: {stage_recipe}\nteacher: {f['unknown_key']}\n"
    )
    f["run_ratio"] = w(
        "run7.yaml", f"stages: [construct]\nconstruct: {stage_recipe}\ndata_efficiency_ratios: [0.5, 2.0]\n"
    )
    f["run_override_field"] = w(
        "run8.yaml", f"stages: [construct]\nconstruct: {stage_recipe}\noverrides: ['construct.max_textz=3']\n"
    )
    return f


# (case id, argv template, text the message must contain). `{name}` is replaced by files[name]; `{out}` by the
# case's output folder; `{url}` by the test server.
T = ["teacher", "--output_dir", "{out}", "--endpoint_url", "{url}"]
TG = [*T, "--input", "{good}"]
F = ["filter", "--output_dir", "{out}", "--scorer_model", "{model}", "--metric", "length"]
FG = [*F, "--input", "{teacher_done}"]
E = ["eval", "--output_dir", "{out}", "--model", "{model}"]
C = ["construct", "--output_dir", "{out}", "--endpoint_url", "{url}"]
TR = ["train", "--output_dir", "{out}", "--model_name_or_path", "{model}", "--dataset_name", "{teacher_done}"]
CASES = [
    # teacher: input files
    ("teacher-no-input", T, "--input"),
    ("teacher-missing-file", [*T, "--input", "{dir}/typo.jsonl"], "typo.jsonl"),
    ("teacher-unsupported-suffix", [*T, "--input", "{xml}"], "data.xml"),
    ("teacher-empty-file", [*T, "--input", "{empty}"], "empty.jsonl"),
    ("teacher-broken-jsonl-line", [*T, "--input", "{broken_line}"], "broken.jsonl:3"),
    ("teacher-not-utf8", [*T, "--input", "{not_utf8}"], "byte offset"),
    ("teacher-line-not-object", [*T, "--input", "{array_line}"], "array.jsonl:2"),
    ("teacher-no-messages-column", [*T, "--input", "{no_messages}"], "messages"),
    ("teacher-messages-not-list", [*T, "--input", "{messages_str}"], "row-4"),
    ("teacher-turn-without-role", [*T, "--input", "{no_role}"], "row-7"),
    ("teacher-no-user-turn", [*T, "--input", "{ends_assistant_only}"], "row-9"),
    ("teacher-empty-user-text", [*T, "--input", "{empty_content}"], "row(s) 2"),
    ("teacher-blank-user-text", [*T, "--input", "{blank_content}"], "row(s) 3"),
    ("teacher-duplicate-ids", [*T, "--input", "{dup_ids}"], "rows 1 and 3"),
    ("teacher-folder-without-data", [*T, "--input", "{no_data_dir}"], "nodata"),
    ("teacher-unfinished-input-folder", [*T, "--input", "{unfinished}"], "unfinished"),
    # teacher: numbers
    ("teacher-limit-negative", [*TG, "--limit", "-1"], "--limit"),
    ("teacher-limit-zero", [*TG, "--limit", "0"], "--limit"),
    ("teacher-concurrency-zero", [*TG, "--max_concurrency", "0"], "--max_concurrency"),
    ("teacher-concurrency-text", [*TG, "--max_concurrency", "abc"], "--max_concurrency"),
    ("teacher-retries-negative", [*TG, "--max_retries", "-1"], "--max_retries"),
    ("teacher-failure-rate-above-1", [*TG, "--max_failure_rate", "1.5"], "--max_failure_rate"),
    ("teacher-temperature-negative", [*TG, "--temperature", "-0.5"], "--temperature"),
    ("teacher-temperature-nan", [*TG, "--temperature", "nan"], "--temperature"),
    ("teacher-top-p-zero", [*TG, "--top_p", "0"], "--top_p"),
    ("teacher-top-p-above-1", [*TG, "--top_p", "1.5"], "--top_p"),
    ("teacher-timeout-zero", [*TG, "--request_timeout_s", "0"], "--request_timeout_s"),
    ("teacher-max-new-tokens-zero", [*TG, "--max_new_tokens", "0"], "--max_new_tokens"),
    ("teacher-backoff-negative", [*TG, "--retry_backoff_s", "-1"], "--retry_backoff_s"),
    ("teacher-seed-negative", [*TG, "--seed", "-3"], "--seed"),
    ("teacher-startup-timeout-inf", [*TG, "--server_startup_timeout_s", "inf"], "--server_startup_timeout_s"),
    # teacher: flags and recipes
    ("teacher-unknown-flag", [*TG, "--max_concurency", "4"], "max_concurency"),
    ("teacher-bool-not-bool", [*TG, "--accept_failures", "maybe"], "--accept_failures"),
    ("teacher-recipe-missing", [*TG, "--config", "{dir}/nope.yaml"], "nope.yaml"),
    ("teacher-recipe-twice", [*TG, "--config", "{ok_recipe}", "--config", "{ok_recipe}"], "--config"),
    ("teacher-recipe-unknown-key", [*TG, "--config", "{unknown_key}"], "max_concurency"),
    ("teacher-recipe-wrong-type", [*TG, "--config", "{wrong_type}"], "max_concurrency"),
    ("teacher-recipe-not-mapping", [*TG, "--config", "{not_mapping}"], "list.yaml"),
    ("teacher-recipe-bad-yaml", [*TG, "--config", "{bad_yaml}"], "bad.yaml"),
    ("teacher-recipe-unset-variable", [*TG, "--config", "{unset_var}"], "COMPEFF_TEST_UNSET_VAR"),
    ("teacher-recipe-out-of-range", [*TG, "--config", "{recipe_range}"], "--max_failure_rate"),
    (
        "teacher-unreachable-endpoint",
        ["teacher", "--output_dir", "{out}", "--input", "{good}", "--endpoint_url", "http://127.0.0.1:9"],
        "127.0.0.1:9",
    ),  # fmt: skip
    # filter
    ("filter-no-input", F, "--input"),
    ("filter-missing-input", [*F, "--input", "{dir}/nope.jsonl"], "nope.jsonl"),
    ("filter-unfinished-teacher", [*F, "--input", "{unfinished}"], "unfinished"),
    ("filter-no-output-column", [*F, "--input", "{no_output}"], "output"),
    ("filter-not-utf8", [*F, "--input", "{not_utf8}"], "latin1.jsonl"),
    ("filter-keep-ratio-zero", [*FG, "--keep_ratio", "0"], "--keep_ratio"),
    ("filter-keep-ratio-above-1", [*FG, "--keep_ratio", "1.5"], "--keep_ratio"),
    ("filter-batch-size-zero", [*FG, "--batch_size", "0"], "--batch_size"),
    ("filter-max-length-zero", [*FG, "--max_length", "0"], "--max_length"),
    ("filter-limit-zero", [*FG, "--limit", "0"], "--limit"),
    ("filter-unknown-metric", [*FG, "--metric", "vibes"], "--metric"),
    (
        "filter-model-without-tokenizer",
        [
            "filter",
            "--output_dir",
            "{out}",
            "--input",
            "{teacher_done}",
            "--scorer_model",
            "{no_tokenizer}",
            "--metric",
            "ppl",
        ],
        "tokenizer",
    ),  # fmt: skip
    (
        "filter-model-without-chat-template",
        [
            "filter",
            "--output_dir",
            "{out}",
            "--input",
            "{teacher_done}",
            "--scorer_model",
            "{no_template}",
            "--formatting",
            "chat",
        ],
        "chat template",
    ),  # fmt: skip
    (
        "filter-model-missing",
        ["filter", "--output_dir", "{out}", "--input", "{teacher_done}", "--scorer_model", "{dir}/no-model"],
        "no-model",
    ),  # fmt: skip
    # eval
    ("eval-k-shot-negative", [*E, "--k_shot", "-1"], "--k_shot"),
    ("eval-limit-zero", [*E, "--limit", "0"], "--limit"),
    ("eval-seed-negative", [*E, "--seeds", "42", "-1"], "--seeds"),
    ("eval-batch-size-zero", [*E, "--batch_size", "0"], "--batch_size"),
    ("eval-threads-zero", [*E, "--threads", "0"], "--threads"),
    ("eval-max-batch-tokens-zero", [*E, "--max_batch_tokens", "0"], "--max_batch_tokens"),
    ("eval-model-without-tokenizer", ["eval", "--output_dir", "{out}", "--model", "{no_tokenizer}"], "tokenizer"),
    (
        "eval-chat-template-missing",
        ["eval", "--output_dir", "{out}", "--model", "{no_template}", "--chat_template", "true"],
        "chat template",
    ),  # fmt: skip
    # construct
    ("construct-missing-input", [*C, "--input", "{dir}/texts.csv"], "texts.csv"),
    ("construct-not-utf8-csv", [*C, "--input", "{not_utf8_csv}"], "latin1.csv"),
    ("construct-broken-jsonl", [*C, "--input", "{broken_line}"], "broken.jsonl:3"),
    ("construct-text-column-missing", [*C, "--input", "{texts_missing_col}"], "text"),
    ("construct-concurrency-zero", [*C, "--max_concurrency", "0"], "--max_concurrency"),
    ("construct-max-texts-zero", [*C, "--max_texts", "0"], "--max_texts"),
    ("construct-analysis-fraction", [*C, "--analysis_fraction", "2"], "--analysis_fraction"),
    ("construct-damping", [*C, "--ap_damping", "0.3"], "--ap_damping"),
    ("construct-k-demos-negative", [*C, "--k_demos", "-1"], "--k_demos"),
    ("construct-min-count-zero", [*C, "--min_attribute_count", "0"], "--min_attribute_count"),
    # train
    ("train-batch-size-zero", [*TR, "--per_device_train_batch_size", "0"], "--per_device_train_batch_size"),
    ("train-learning-rate-negative", [*TR, "--learning_rate", "-1e-5"], "--learning_rate"),
    ("train-epochs-zero", [*TR, "--num_train_epochs", "0"], "--num_train_epochs"),
    ("train-lora-r-zero", [*TR, "--lora_r", "0"], "--lora_r"),
    ("train-global-batch-zero", [*TR, "--global_batch_size", "0"], "--global_batch_size"),
    (
        "train-dataset-missing",
        ["train", "--output_dir", "{out}", "--model_name_or_path", "{model}", "--dataset_name", "{dir}/nope.jsonl"],
        "nope.jsonl",
    ),  # fmt: skip
    # serve, publish, run
    ("serve-port-too-large", ["serve", "--model", "{model}", "--port", "70000"], "--port"),
    ("serve-batch-zero", ["serve", "--model", "{model}", "--max_batch_size", "0"], "--max_batch_size"),
    ("publish-run-dir-missing", ["publish", "--run_dir", "{dir}/no-run", "--dataset_repo_id", "me/x"], "no-run"),
    ("run-recipe-missing", ["run", "--config", "{dir}/no-run.yaml", "--output_dir", "{out}"], "no-run.yaml"),
    ("run-unknown-stage", ["run", "--config", "{run_unknown_stage}", "--output_dir", "{out}"], "distill"),
    ("run-stage-recipe-missing", ["run", "--config", "{run_missing_recipe}", "--output_dir", "{out}"], "teacher.yaml"),
    ("run-stage-without-recipe", ["run", "--config", "{run_no_recipe}", "--output_dir", "{out}"], "teacher"),
    (
        "run-override-out-of-range",
        ["run", "--config", "{run_bad_override}", "--output_dir", "{out}"],
        "--max_concurrency",
    ),  # fmt: skip
    ("run-override-shape", ["run", "--config", "{run_override_shape}", "--output_dir", "{out}"], "max_texts=3"),
    (
        "run-stage-recipe-unknown-key",
        ["run", "--config", "{run_unknown_field}", "--output_dir", "{out}"],
        "max_concurency",
    ),  # fmt: skip
    ("run-ratio-out-of-range", ["run", "--config", "{run_ratio}", "--output_dir", "{out}"], "data_efficiency_ratios"),
    ("run-override-unknown-field", ["run", "--config", "{run_override_field}", "--output_dir", "{out}"], "max_textz"),
]


def _argv(template: list[str], files: dict, out: Path, url: str) -> list[str]:
    values = {k: str(v) for k, v in files.items()} | {"out": str(out), "url": url}
    return [part.format(**values) for part in template]


@pytest.mark.parametrize(("case", "template", "needle"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(case, template, needle, files, server, tmp_path, capsys):
    out = tmp_path / "out"
    server.reset_log()
    code = cli_main(_argv(template, files, out, server.url))
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code != 0, f"{case}: exit 0; stderr: {err}"
    assert "Traceback" not in captured.err + captured.out
    lines = [line for line in err.splitlines() if line.strip() and "examples/s]" not in line]  # datasets' bars
    start = next((i for i, line in enumerate(lines) if line.startswith("compeff-hf")), None)
    assert start is not None, f"{case}: no compeff-hf error line in {err!r}"
    message = lines[start:]
    assert len(message) <= 2, f"{case}: message of {len(message)} lines:\n{err}"
    assert needle.lstrip("-") in "\n".join(message), f"{case}: message does not name {needle!r}: {err}"
    # Nothing left behind that would make the corrected command refuse the folder.
    assert not (out / ".config_hash").exists() and not (out / "config.yaml").exists()
    assert not server.log.entries  # no request was sent for bad input


def test_there_are_at_least_sixty_cases_across_every_command():
    assert len(CASES) >= 60
    commands = {template[0] for _, template, _ in CASES}
    assert commands >= {"construct", "teacher", "filter", "train", "eval", "publish", "run", "serve"}


@pytest.mark.parametrize("bad", ["broken_line", "empty_content", "dup_ids", "not_utf8"])
def test_after_a_bad_teacher_input_the_corrected_command_runs(bad, files, server, tmp_path, capsys):
    out = tmp_path / "teacher"
    args = ["teacher", "--output_dir", str(out), "--endpoint_url", server.url, "--max_retries", "0"]
    assert cli_main([*args, "--input", files[bad]]) != 0
    assert cli_main([*args, "--input", files["good"]]) == 0
    assert json.loads((out / "summary.json").read_text())["rows_out"] == 3
