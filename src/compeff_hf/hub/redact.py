"""Keep credentials out of everything we write or print: logs, cards, uploaded configs and error messages.

Two layers, because either alone misses cases: values stored under secret-looking keys are replaced wherever they
appear in a config, and the literal values of the tokens known to this process (``HF_TOKEN``, the stored login,
API keys in the environment) are replaced in any text.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

REDACTED = "<redacted>"

# Keys whose values are credentials. Counters such as ``prompt_tokens`` or ``max_new_tokens`` are not secrets, so
# "token" only matches as a whole word at the end of the key.
_SECRET_KEY = re.compile(
    r"(^|_)(token|hf_token|api_key|apikey|secret|password|passwd|authorization|auth|access_key|bearer)$", re.I
)
_SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN", "OPENAI_API_KEY", "API_KEY")
# Credentials written inline, of any length: `hf_...` and `sk-...` keys, `Bearer x`, `https://user:pass@host`,
# `?api_key=...`, and `"api_key": "..."` as an endpoint echoes a request back in an error body.
_INLINE = [
    (re.compile(r"\bhf_[A-Za-z0-9]{6,}"), REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"(?i)(https?://)[^/\s:@]+(?::[^/\s@]*)?@"), r"\1"),
    (re.compile(r"(?i)([?&](?:api_key|apikey|token|access_token|key)=)[^&\s\"']+"), r"\1" + REDACTED),
    (
        re.compile(
            r"(?i)([\"']?(?:api_key|apikey|access_token|authorization|password|secret)[\"']?\s*[:=]\s*[\"']?)"
            r"(?!<redacted>|[Bb]earer\s)[^\s\"',}]+"
        ),
        r"\1" + REDACTED,
    ),
]
_NOT_SECRETS = {"true", "false", "yes", "no", "none", "null", "off", "on"}
# Secrets shorter than this are replaced only as whole words, so a short key does not mangle ordinary text.
_WHOLE_WORD_BELOW = 8


def is_secret_key(key: str) -> bool:
    """Whether a config key names a credential (``hf_token``, ``api_key``, ...), not a token count."""
    return bool(_SECRET_KEY.search(str(key)))


def known_secrets() -> list[str]:
    """Literal secret values this process can see: the Hub token (env or login) and API keys in the environment."""
    values = {os.environ.get(name, "") for name in _SECRET_ENV}
    values |= {v for k, v in os.environ.items() if is_secret_key(k.lower())}
    try:
        from huggingface_hub import get_token

        values.add(get_token() or "")
    except Exception:  # a broken token file must not break redaction itself
        pass
    # Any real length (short values are matched as whole words only, see redact_text); flag-like values such as
    # USE_AUTH=1 or AUTH=true are settings, not credentials, and scrubbing them would mangle ordinary text.
    return sorted((v for v in values if len(v.strip()) >= 3 and v.lower() not in _NOT_SECRETS), key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None, inline: bool = True) -> str:
    """Replace known secret values and (with ``inline``) credentials written inline in ``text``."""
    if not text:
        return text
    for value in known_secrets() if secrets is None else secrets:
        if len(value) >= _WHOLE_WORD_BELOW:
            text = text.replace(value, REDACTED)
        elif value in text:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", REDACTED, text)
    for pattern, repl in _INLINE if inline else ():
        text = pattern.sub(repl, text)
    return text


def redact(obj: Any, secrets: list[str] | None = None) -> Any:
    """A copy of a nested config/summary with secret-keyed values masked and secret strings scrubbed."""
    secrets = known_secrets() if secrets is None else secrets
    if isinstance(obj, dict):
        return {
            k: (REDACTED if is_secret_key(k) and v not in (None, "", False) else redact(v, secrets))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [redact(v, secrets) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj, secrets)
    return obj


def strip_url_credentials(url: str | None) -> str | None:
    """A URL without ``user:password@`` and with secret query values masked: what may be stored or printed."""
    if not url:
        return url
    return redact_text(url)


def scrub_strings(obj: Any, secrets: list[str] | None = None) -> Any:
    """Scrub secrets from every string inside lists and dicts (keys untouched: a ``token`` column is data)."""
    if isinstance(obj, str):
        return redact_text(obj, secrets)
    if isinstance(obj, dict):
        return {k: scrub_strings(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub_strings(v, secrets) for v in obj]
    return obj


def scrub_parquet(path: str | Path) -> bytes | None:
    """The parquet file's bytes with secrets scrubbed from every text value, or None when it holds none."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    secrets = known_secrets()
    table = pq.read_table(str(path))
    changed = False
    columns = []
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_nested(kind):
            values = column.to_pylist()
            clean = scrub_strings(values, secrets)
            if clean != values:
                changed = True
                column = pa.chunked_array([pa.array(clean, type=kind)])
        columns.append(column)
    if not changed:
        return None
    out = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(columns, schema=table.schema), out)
    return out.getvalue()


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from every record (message and arguments) before it is emitted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg, record.args = redact_text(message), None
        return True


def install_log_redaction(logger_names: tuple[str, ...] = ("compeff_hf", "huggingface_hub", "datasets")) -> None:
    """Attach :class:`RedactingFilter` to our logger and the libraries' loggers (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
