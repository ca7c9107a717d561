"""Redaction details that mutation testing (`make mutation`) showed no test pinned: which secrets are known, the
longest-first order, each inline pattern, nested configs, and the logging filter."""

from __future__ import annotations

import io
import logging

import pytest

from compeff_hf.hub import redact as redact_module
from compeff_hf.hub.redact import REDACTED, RedactingFilter, install_log_redaction, known_secrets, redact, redact_text

ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN", "OPENAI_API_KEY", "API_KEY")


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    return monkeypatch


@pytest.mark.parametrize("name", ENV)
def test_each_token_variable_is_a_known_secret(clean_env, name):
    clean_env.setenv(name, "tok-0123456789")
    assert known_secrets() == ["tok-0123456789"]


def test_secret_named_variables_login_and_length(clean_env):
    clean_env.setenv("MY_SERVICE_PASSWORD", "pw-abcdefgh")
    clean_env.setenv("MAX_NEW_TOKENS", "123456789")  # a count, not a secret
    clean_env.setenv("HF_TOKEN", "short")  # a secret of any length is masked (issue #15), longest first
    clean_env.setattr("huggingface_hub.get_token", lambda: "hf_login_token_value")
    assert known_secrets() == ["hf_login_token_value", "pw-abcdefgh", "short"]


def test_a_broken_login_does_not_break_redaction(clean_env):
    def broken():
        raise OSError("unreadable token file")

    clean_env.setattr("huggingface_hub.get_token", broken)
    clean_env.setenv("HF_TOKEN", "tok-0123456789")
    assert known_secrets() == ["tok-0123456789"]


def test_longest_secret_first(clean_env):
    # a secret that contains another is masked whole, not as "<redacted>" plus a visible tail
    clean_env.setenv("HF_TOKEN", "abcdefgh")
    clean_env.setenv("OPENAI_API_KEY", "abcdefgh12345678")
    assert redact_text("x abcdefgh12345678 y") == f"x {REDACTED} y"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token hf_" + "a" * 24 + " end", f"token {REDACTED} end"),
        ("Authorization: Bearer abc.def-123456", f"Authorization: Bearer {REDACTED}"),
        ("https://user:pa55@host/x", "https://host/x"),
        ("http://h/v1?token=t0k&x=1", f"http://h/v1?token={REDACTED}&x=1"),
        ("http://h/v1?a=1&access_token=zz", f"http://h/v1?a=1&access_token={REDACTED}"),
    ],
)
def test_inline_credentials(clean_env, text, expected):
    assert redact_text(text) == expected
    assert redact_text(text, inline=False) == text


def test_empty_text_and_explicit_secrets(clean_env):
    clean_env.setenv("HF_TOKEN", "tok-0123456789")
    assert redact_text("") == "" and redact_text(None) is None
    # an explicit list replaces the environment's
    assert redact_text("tok-0123456789 other-secret", ["other-secret"]) == f"tok-0123456789 {REDACTED}"


def test_nested_configs(clean_env):
    config = {
        "endpoint": {"api_key": "k" * 12, "hf_token": None, "password": "", "auth": False},
        "items": ["a secret-value-1 b", ("tok",), 3],
        "count": 7,
    }
    assert redact(config, ["secret-value-1"]) == {
        "endpoint": {"api_key": REDACTED, "hf_token": None, "password": "", "auth": False},
        "items": [f"a {REDACTED} b", ["tok"], 3],
        "count": 7,
    }
    clean_env.setenv("HF_TOKEN", "tok-0123456789")
    assert redact({"notes": ["uses tok-0123456789"]}) == {"notes": [f"uses {REDACTED}"]}


def test_log_records_are_scrubbed_message_and_arguments(clean_env):
    clean_env.setenv("HF_TOKEN", "tok-0123456789")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "calling %s with %s", ("url", "tok-0123456789"), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == f"calling url with {REDACTED}" and record.args is None


def test_install_log_redaction_once_on_logger_and_handlers(clean_env):
    clean_env.setenv("HF_TOKEN", "tok-0123456789")
    logger = logging.getLogger("compeff_hf.test_redact_mutants")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        install_log_redaction(("compeff_hf.test_redact_mutants",))
        install_log_redaction(("compeff_hf.test_redact_mutants",))
        assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logger.info("token is %s", "tok-0123456789")
        assert stream.getvalue() == f"token is {REDACTED}\n"
    finally:
        logger.removeHandler(handler)
        logger.filters.clear()


def test_default_loggers_get_the_filter():
    install_log_redaction()
    for name in ("compeff_hf", "huggingface_hub", "datasets"):
        assert any(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters), name
    assert redact_module.REDACTED == "<redacted>"


def test_secrets_of_any_length_count(clean_env):
    clean_env.setenv("HF_TOKEN", "12345678")
    clean_env.setenv("OPENAI_API_KEY", "1234567")
    assert known_secrets() == ["12345678", "1234567"]


def test_a_record_that_cannot_be_formatted_is_still_emitted():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("many",), None)
    assert RedactingFilter().filter(record) is True
