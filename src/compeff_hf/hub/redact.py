"""Keep credentials out of everything we write or print: logs, cards, uploaded configs and error messages.

Two layers, because either alone misses cases: values stored under secret-looking keys are replaced wherever they
appear in a config, and the literal values of the tokens known to this process (``HF_TOKEN``, the stored login,
API keys in the environment) are replaced in any text.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

REDACTED = "<redacted>"

# Keys whose values are credentials. Counters such as ``prompt_tokens`` or ``max_new_tokens`` are not secrets, so
# "token" only matches as a whole word at the end of the key.
_SECRET_KEY = re.compile(
    r"(^|_)(token|hf_token|api_key|apikey|secret|password|passwd|authorization|auth|access_key|bearer)$", re.I
)
_SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN", "OPENAI_API_KEY", "API_KEY")
# Credentials written inline: `hf_...` tokens, `Bearer x`, `https://user:pass@host`, `?api_key=...`.
_INLINE = [
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}\b"), REDACTED),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)(https?://)[^/\s:@]+:[^/\s@]+@"), r"\1"),
    (re.compile(r"(?i)([?&](?:api_key|token|access_token|key)=)[^&\s]+"), r"\1" + REDACTED),
]


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
    # Very short values would redact ordinary words; real tokens are long.
    return sorted((v for v in values if len(v) >= 8), key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None, inline: bool = True) -> str:
    """Replace known secret values and (with ``inline``) credentials written inline in ``text``."""
    if not text:
        return text
    for value in known_secrets() if secrets is None else secrets:
        text = text.replace(value, REDACTED)
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
