"""One logger for the package, so every stage prints in the same voice."""

from __future__ import annotations

import logging
import os

_CONFIGURED = False


def get_logger(name: str = "compeff_hf") -> logging.Logger:
    return logging.getLogger(name if name.startswith("compeff_hf") else f"compeff_hf.{name}")


def setup(level: str | int | None = None) -> None:
    """Configure the package logger once; COMPEFF_HF_LOG_LEVEL overrides the default INFO."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    level = level or os.environ.get("COMPEFF_HF_LOG_LEVEL", "INFO")
    from .distributed import is_main_process

    if not is_main_process():  # under accelerate/torchrun the main process speaks; the others only warn
        level = max(logging.getLevelName(level) if isinstance(level, str) else level, logging.WARNING)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[compeff-hf %(asctime)s] %(message)s", datefmt="%H:%M:%S"))
    from .hub.redact import RedactingFilter

    handler.addFilter(RedactingFilter())  # no token or key reaches the terminal or a log file
    root = logging.getLogger("compeff_hf")
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    _CONFIGURED = True
