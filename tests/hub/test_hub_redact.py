"""hub/redact.py and the places it guards: every rule pinned, so a dropped pattern or mask fails a test."""

from __future__ import annotations

import io
import json
import logging

import pytest

from compeff_hf.hub import redact as R
from compeff_hf.hub.redact import (
    REDACTED,
    RedactingFilter,
    install_log_redaction,
    is_secret_key,
    known_secrets,
    redact,
    redact_text,
    scrub_parquet,
    scrub_strings,
    strip_url_credentials,
)


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(__import__("os").environ):
        if is_secret_key(name.lower()) or name in R._SECRET_ENV:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    return monkeypatch


@pytest.mark.parametrize(
    "key",
    ["token", "hf_token", "hub_token", "api_key", "OPENAI_API_KEY", "apikey", "secret", "client_secret", "password",
     "passwd", "authorization", "auth", "access_key", "aws_access_key", "bearer", "HF_TOKEN"],
)  # fmt: skip
def test_secret_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["prompt_tokens", "max_new_tokens", "completion_tokens", "tokenizer", "token_count", "api_key_env", "author",
     "secretary", "keep_ratio", "hf_token_file", ""],
)  # fmt: skip
def test_not_secret_keys(key):
    assert not is_secret_key(key)


def test_known_secrets_reads_env_by_name_and_by_key_shape(clean_env):
    clean_env.setenv("HF_TOKEN", "hf_tokenvalue0000000000000")
    clean_env.setenv("MY_SERVICE_API_KEY", "abc")  # short: kept (matched as a whole word later)
    clean_env.setenv("MY_PASSWORD", "   ")  # blank: nothing to scrub
    clean_env.setenv("PROMPT_TOKENS", "12")  # not a secret name
    clean_env.setenv("USE_AUTH", "1")  # flags, not credentials
    clean_env.setenv("HF_HUB_TOKEN", "true")
    clean_env.setenv("SOME_SECRET", "on")
    clean_env.setattr("huggingface_hub.get_token", lambda: "hf_fromlogin00000000000")
    secrets = known_secrets()
    assert secrets == ["hf_tokenvalue0000000000000", "hf_fromlogin00000000000", "abc"]  # longest first


def test_no_login_adds_no_secret(clean_env):
    clean_env.setenv("API_KEY", "value-123456")
    assert known_secrets() == ["value-123456"]


def test_longer_secrets_are_replaced_before_the_ones_they_contain(clean_env):
    clean_env.setenv("A_API_KEY", "secret-core")
    clean_env.setenv("B_API_KEY", "a-secret-core")  # sorts before "secret-core" alphabetically, not by length
    assert known_secrets() == ["a-secret-core", "secret-core"]
    assert redact_text("x a-secret-core y") == f"x {REDACTED} y"


def test_known_secrets_survive_a_broken_token_store(clean_env):
    def broken():
        raise OSError("unreadable token file")

    clean_env.setattr("huggingface_hub.get_token", broken)
    clean_env.setenv("API_KEY", "value-123456")
    assert known_secrets() == ["value-123456"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token hf_abcdefgh in a log", f"token {REDACTED} in a log"),
        ("key sk-abcdefghij end", f"key {REDACTED} end"),
        ("Authorization: Bearer abc.def-123", f"Authorization: Bearer {REDACTED}"),
        ("bearer x", f"bearer {REDACTED}"),
        ("https://user:pw@host/v1", "https://host/v1"),
        ("http://onlyuser@host:8080/x", "http://host:8080/x"),
        ("http://h/v1?api_key=zz&x=1", f"http://h/v1?api_key={REDACTED}&x=1"),
        ("http://h/v1?x=1&token=abc", f"http://h/v1?x=1&token={REDACTED}"),
        ("http://h/?access_token=abc", f"http://h/?access_token={REDACTED}"),
        ("http://h/?key=abc", f"http://h/?key={REDACTED}"),
        ('{"api_key": "abc123", "n": 1}', f'{{"api_key": "{REDACTED}", "n": 1}}'),
        ("password=hunter2 next", f"password={REDACTED} next"),
        ("plain text with hf_ and sk- prefixes", "plain text with hf_ and sk- prefixes"),
        ("max_tokens=5 prompt_tokens: 3", "max_tokens=5 prompt_tokens: 3"),
    ],
)
def test_inline_patterns(text, expected):
    assert redact_text(text, secrets=[]) == expected


def test_values_are_scrubbed_at_any_length(clean_env):
    assert redact_text("id abc in abcdef and xabc", secrets=["abc"]) == f"id {REDACTED} in abcdef and xabc"
    long = "s3cret-value-long"
    assert redact_text(f"a{long}b", secrets=[long]) == f"a{REDACTED}b"  # long values: anywhere
    assert redact_text("1234567", secrets=["1234567"]) == REDACTED  # 7 chars: whole word
    assert redact_text("x12345678y", secrets=["12345678"]) == f"x{REDACTED}y"  # 8 chars: anywhere
    clean_env.setenv("API_KEY", "zz9")
    assert redact_text("key zz9.") == f"key {REDACTED}."  # None: the environment's secrets


def test_inline_off_keeps_patterns_but_scrubs_values():
    text = "https://u:p@h hf_abcdefgh VALUE-1234"
    assert redact_text(text, secrets=["VALUE-1234"], inline=False) == f"https://u:p@h hf_abcdefgh {REDACTED}"
    assert redact_text("", secrets=["x"]) == "" and redact_text(None, secrets=["x"]) is None


def test_redact_masks_secret_keys_and_scrubs_values():
    data = {
        "hub_token": "abc",
        "api_key": "",
        "token": None,
        "auth": False,
        "prompt_tokens": 12,
        "nested": [{"password": 5}, ("u", "leak-value-99")],
        "url": "https://u:p@host/v1?api_key=zz",
        "n": 1.5,
    }
    assert redact(data, secrets=["leak-value-99"]) == {
        "hub_token": REDACTED,
        "api_key": "",
        "token": None,
        "auth": False,
        "prompt_tokens": 12,
        "nested": [{"password": REDACTED}, ["u", REDACTED]],
        "url": f"https://host/v1?api_key={REDACTED}",
        "n": 1.5,
    }


def test_strip_url_credentials():
    assert (
        strip_url_credentials("https://bob:pw@host:1/v1?api_key=k&x=1") == f"https://host:1/v1?api_key={REDACTED}&x=1"
    )
    assert strip_url_credentials("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert strip_url_credentials(None) is None and strip_url_credentials("") == ""


def test_scrub_strings_leaves_keys_named_token_alone():
    rows = [{"token": "a", "logprob": -1.0, "text": "key LEAK-123456"}, "LEAK-123456", 3, None]
    assert scrub_strings(rows, ["LEAK-123456"]) == [
        {"token": "a", "logprob": -1.0, "text": f"key {REDACTED}"},
        REDACTED,
        3,
        None,
    ]


def test_scrub_parquet_rewrites_only_files_holding_secrets(tmp_path, clean_env):
    import pyarrow.parquet as pq
    from datasets import Dataset

    clean_env.setenv("MY_API_KEY", "LEAK-123456")
    rows = [
        {"id": "a", "error": "HTTP 401: bad key LEAK-123456", "n": 1, "messages": [{"role": "user", "content": "hi"}]},
        {"id": "b", "error": "fine", "n": 2, "messages": [{"role": "user", "content": "LEAK-123456 again"}]},
    ]
    dirty = tmp_path / "dirty.parquet"
    Dataset.from_list(rows).to_parquet(str(dirty))
    clean_bytes = scrub_parquet(dirty)
    assert clean_bytes is not None and b"LEAK-123456" not in clean_bytes
    table = pq.read_table(io.BytesIO(clean_bytes))
    assert table.schema == pq.read_table(str(dirty)).schema
    out = table.to_pylist()
    assert out[0]["error"] == f"HTTP 401: bad key {REDACTED}" and out[1]["error"] == "fine"
    assert out[1]["messages"][0]["content"] == f"{REDACTED} again" and out[0]["n"] == 1
    import pyarrow as pa

    wide = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"t": pa.array(["LEAK-123456 here"], type=pa.large_string())}), str(wide))
    rewritten = pq.read_table(io.BytesIO(scrub_parquet(wide)))
    assert rewritten.schema.field("t").type == pa.large_string()  # the column keeps its type
    assert rewritten.column("t").to_pylist() == [f"{REDACTED} here"]
    ok = tmp_path / "ok.parquet"
    Dataset.from_list([{"id": "a", "text": "nothing here"}]).to_parquet(str(ok))
    assert scrub_parquet(ok) is None


def test_dataset_shards_are_uploaded_scrubbed(tmp_path, clean_env):
    from datasets import Dataset

    from compeff_hf.hub.push import _clean_shard

    clean_env.setenv("MY_API_KEY", "LEAK-123456")
    shard = tmp_path / "train-00000-of-00001.parquet"
    Dataset.from_list([{"error": "echo LEAK-123456"}]).to_parquet(str(shard))
    uploaded = _clean_shard(str(shard))
    assert isinstance(uploaded, bytes) and b"LEAK-123456" not in uploaded
    clean = tmp_path / "clean.parquet"
    Dataset.from_list([{"error": "none"}]).to_parquet(str(clean))
    assert _clean_shard(str(clean)) == str(clean)


def test_secrets_in_model_json_files_are_masked_before_upload(tmp_path, clean_env):
    """push._scrubbed: a training_info.json with a token under a secret key is uploaded masked."""
    from compeff_hf.hub.push import _scrubbed

    info = tmp_path / "training_info.json"
    info.write_text(json.dumps({"hyperparameters": {"hub_token": "opaque", "learning_rate": 1e-5}}))
    out = _scrubbed(info)
    assert isinstance(out, bytes)
    data = json.loads(out)
    assert data == {"hyperparameters": {"hub_token": REDACTED, "learning_rate": 1e-5}}
    config = tmp_path / "config.json"  # not a metadata file: secret-named keys are left alone (no secret values)
    config.write_text(json.dumps({"token": "x", "vocab_size": 3}))
    assert _scrubbed(config) == str(config)
    clean_env.setenv("HF_TOKEN", "hf_live0000000000")
    config.write_text(json.dumps({"note": "hf_live0000000000"}))
    assert b"hf_live" not in _scrubbed(config)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"hf_live0000000000")
    assert _scrubbed(weights) == str(weights)


def _record(msg: str, *args) -> logging.LogRecord:
    return logging.LogRecord("compeff_hf.test", logging.INFO, __file__, 1, msg, args, None)


def test_redacting_filter_scrubs_message_and_arguments(clean_env):
    clean_env.setenv("HF_TOKEN", "hf_filtertest0000000")
    record = _record("calling %s with %s", "https://u:pw@h/x", "hf_filtertest0000000")
    assert RedactingFilter().filter(record) is True
    assert record.args is None and record.getMessage() == f"calling https://h/x with {REDACTED}"


def test_redacting_filter_lets_a_broken_record_through():
    record = _record("%d apples", "not a number")
    assert RedactingFilter().filter(record) is True
    assert record.msg == "%d apples"


def test_install_log_redaction_is_idempotent_and_covers_handlers():
    logger = logging.getLogger("compeff_hf_test_redaction")
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    try:
        install_log_redaction(("compeff_hf_test_redaction",))
        install_log_redaction(("compeff_hf_test_redaction",))
        assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)
        logger.filters.clear()


def test_the_package_log_handler_redacts(clean_env):
    """log.setup's handler: a token logged by any compeff_hf module never reaches the terminal."""
    from compeff_hf import log

    logger = logging.getLogger("compeff_hf")
    before = list(logger.handlers)
    clean_env.setattr(log, "_CONFIGURED", False)
    clean_env.setattr(logger, "propagate", logger.propagate)
    clean_env.setattr(logger, "level", logger.level)
    log.setup()
    added = [h for h in logger.handlers if h not in before]
    try:
        assert len(added) == 1
        clean_env.setenv("HF_TOKEN", "hf_loggedtoken000000")
        stream = io.StringIO()
        added[0].stream = stream
        added[0].handle(_record("token is %s", "hf_loggedtoken000000"))
        assert "token is" in stream.getvalue() and "hf_loggedtoken" not in stream.getvalue()
    finally:
        for handler in added:
            logger.removeHandler(handler)
