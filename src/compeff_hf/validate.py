"""Checks that run before a stage claims its folder: numeric options in range, input files readable.

Every failure is a :class:`RecipeError` or :class:`DataError` whose one-line message names the field, or the file
and the line, row or byte, so the CLI prints it without a traceback and the user knows what to fix.
"""

from __future__ import annotations

import json
import math
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

from .errors import DataError, RecipeError

# (low, high, low inclusive, high inclusive); None = unbounded. Fields not listed here but declared by our own
# config classes must be >= 0 (see _DEFAULT); fields of TRL/transformers are checked only when listed.
Range = tuple[float | None, float | None, bool, bool]
_AT_LEAST_1: Range = (1, None, True, False)
_AT_LEAST_0: Range = (0, None, True, False)
_POSITIVE: Range = (0, None, False, False)
_FRACTION: Range = (0, 1, True, True)
_OPEN_FRACTION: Range = (0, 1, False, True)  # (0, 1]
_DEFAULT = _AT_LEAST_0

RANGES: dict[str, Range] = {
    **dict.fromkeys(
        (
            # counts and sizes: zero would do nothing (or everything, for limits), so it is a mistake
            "max_new_tokens",
            "max_concurrency",
            "limit",
            "max_texts",
            "attribute_max_new_tokens",
            "max_attributes_per_text",
            "max_attribute_name_words",
            "min_attribute_count",
            "embedding_batch_size",
            "ap_max_iter",
            "ap_convergence_iter",
            "max_perspectives",
            "top_attributes_described",
            "analysis_prompts_per_perspective",
            "analysis_max_new_tokens",
            "tasks_per_perspective",
            "ideation_max_new_tokens",
            "examples_per_task",
            "max_examples_per_task",
            "spec_max_new_tokens",
            "demo_requests_per_task",
            "demos_per_request",
            "max_demos_per_task",
            "demo_max_new_tokens",
            "instructions_per_text",
            "max_length",
            "batch_size",
            "max_batch_tokens",
            "chunk_tokens",
            "proxy_max_new_tokens",
            "proxy_batch_size",
            "max_train_samples",
            "global_batch_size",
            "lora_r",
            "lora_alpha",
            "per_device_train_batch_size",
            "per_device_eval_batch_size",
            "gradient_accumulation_steps",
            "threads",
            "max_batch_size",
            "max_input_tokens",
            "max_new_tokens_limit",
        ),
        _AT_LEAST_1,
    ),  # fmt: skip
    **dict.fromkeys(("request_timeout_s", "server_startup_timeout_s", "gkd_temperature", "soft_peak"), _POSITIVE),
    **dict.fromkeys(("learning_rate", "num_train_epochs"), _POSITIVE),
    **dict.fromkeys(("max_failure_rate", "analysis_fraction", "gkd_lmbda", "gkd_beta"), _FRACTION),
    **dict.fromkeys(("lora_dropout", "weight_decay", "label_smoothing_factor"), (0, 1, True, False)),
    "top_p": _OPEN_FRACTION,
    "keep_ratio": _OPEN_FRACTION,
    "data_efficiency_ratios": _OPEN_FRACTION,
    "ap_damping": (0.5, 1, True, False),  # affinity propagation diverges outside [0.5, 1)
    "port": (0, 65535, True, True),
    "ap_preference_percentile": (0, 100, True, True),
}


def _owner(cls: type, name: str) -> type | None:
    for base in cls.__mro__:
        if name in base.__dict__.get("__annotations__", {}):
            return base
    return None


def _is_ours(cls: type | None) -> bool:
    return cls is not None and cls.__module__.startswith("compeff_hf")


def rule_for(cls: type, name: str) -> Range | None:
    """The range a numeric field must lie in: listed, the default for our own fields, or None (not checked)."""
    if name in RANGES:
        return RANGES[name]
    return _DEFAULT if _is_ours(_owner(cls, name)) else None


def _describe(rule: Range) -> str:
    lo, hi, lo_in, hi_in = rule
    if hi is None:
        return f"{'>=' if lo_in else '>'} {lo:g}"
    return f"in {'[' if lo_in else '('}{lo:g}, {hi:g}{']' if hi_in else ')'}"


def _inside(value: float, rule: Range) -> bool:
    lo, hi, lo_in, hi_in = rule
    if lo is not None and (value < lo or (value == lo and not lo_in)):
        return False
    return not (hi is not None and (value > hi or (value == hi and not hi_in)))


def _numbers(value: Any) -> list[Any]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return []


def check_ranges(config: Any) -> None:
    """Fail naming the field when a numeric option is out of range, NaN or infinite."""
    cls = type(config)
    hints = typing.get_type_hints(cls)
    for f in fields(config):
        if not f.init:
            continue
        value = getattr(config, f.name)
        rule = rule_for(cls, f.name)
        for number in _numbers(value):
            if isinstance(number, float) and not math.isfinite(number) and (rule is not None or _is_ours(cls)):
                raise RecipeError(f"--{f.name}: {number} is not a finite number")
            if rule is not None and not _inside(number, rule):
                raise RecipeError(f"--{f.name}: {number!r} is out of range; it must be {_describe(rule)}")
        if isinstance(value, list) and not value and "list" in str(hints.get(f.name)) and f.name in RANGES:
            raise RecipeError(f"--{f.name}: needs at least one value")


def numeric_fields(cls: type) -> list[str]:
    """Names of the int/float fields of a config class (for tests that cover every option)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        text = str(hints.get(f.name))
        if f.init and ("int" in text or "float" in text) and "Literal" not in text and "str" not in text:
            out.append(f.name)
    return out


# ------------------------------------------------------------------------------------------------------- files


def check_text_file(path: Path, what: str = "input") -> None:
    """A local text file must be UTF-8; a JSON-lines file must parse line by line. Names file, line and byte."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"{what} {path}: not UTF-8 text (byte offset {err.start}, line {line}: byte 0x{data[err.start]:02x}); "
            "re-save the file as UTF-8"
        ) from None
    if path.suffix.lower() not in (".jsonl", ".json"):
        return
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped[:1] in ("[", "{"):
        try:
            json.loads(text)  # one JSON document (a list of rows, or a mapping of columns)
            return
        except json.JSONDecodeError:
            pass
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{what} {path}:{n}: not valid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(row, dict):
            raise DataError(f"{what} {path}:{n}: each line must be a JSON object, got {type(row).__name__}")


def check_unique_ids(ds: Any, source: str, column: str = "id") -> None:
    """Rows sharing an id would overwrite each other in a ledger: refuse them, naming both rows (1-based)."""
    if column not in getattr(ds, "column_names", []):
        return
    first: dict[Any, int] = {}
    for i, value in enumerate(ds[column], 1):
        if value is None:
            continue
        if value in first:
            raise DataError(
                f"{source}: rows {first[value]} and {i} share the {column} {value!r}; ids must be unique "
                f"(drop the `{column}` column to let compeff-hf assign ids)"
            )
        first[value] = i


def check_empty_texts(texts: list[Any], source: str, field: str) -> None:
    """Empty or whitespace-only texts are refused with their row numbers (1-based), before any request is sent."""
    empty = [i for i, text in enumerate(texts, 1) if not isinstance(text, str) or not text.strip()]
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
        raise DataError(f"{source}: empty {field} in row(s) {shown}; fill them in or remove those rows")
