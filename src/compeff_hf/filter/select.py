"""Difficulty-prioritised selection (method.md 3.2): hard, soft and random, within instruction groups or globally.

Every decision is a function of (seed, group, scores, row ids), so a run is reproducible and a group's selection
does not change when rows are added to *other* groups.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ..data import row_id

ANALYSIS = "analysis"


def _present(value: Any) -> bool:
    return value is not None and value != "" and not (isinstance(value, float) and math.isnan(value))


def instruction_template(instruction: str) -> str:
    """The part of an instruction shared by all its user texts: everything before the first ``Input:``.

    Analysis instructions are ``<prompt>\\n\\nInput: <text>`` and task instructions are ``<description>`` +
    ``Input: ... Output: ...`` demos + the query, so this recovers the prompt or the task description.
    """
    head = instruction.split("Input:", 1)[0].strip()
    return head or instruction.strip()


def group_key(row: Mapping[str, Any], instruction: str) -> str:
    """The "inprompt" group of a row.

    Construct's lineage ids when present: ``(perspective_id, task_id)`` for tasks, the analysis prompt for analysis
    rows (its id when construct records one, else its text). Without ids (e.g. the published v2 corpus) the
    instruction's template text stands in.
    """
    kind = row.get("instruction_type") or row.get("task_name")
    perspective, task = row.get("perspective_id"), row.get("task_id")
    if kind == ANALYSIS:
        if _present(task):
            return f"analysis|{perspective}|{task}"
        return f"analysis|{instruction_template(instruction)}"
    if _present(task):
        return f"task|{perspective}|{task}"
    return f"text|{instruction_template(instruction)}"


def round_stoch(x: float, rng: np.random.Generator) -> int:
    """Round down, then up with probability equal to the fractional part (so the expectation is ``x``)."""
    base = math.floor(x)
    return base + int(rng.random() < x - base)


def soft_curve(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """The two-piece power curve: (x/a)^b below the peak a, ((x-1)/(a-1))^b above it (1 at x = a)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    low = x < a
    out[low] = (x[low] / a) ** b
    if a < 1.0:
        out[~low] = ((1.0 - x[~low]) / (1.0 - a)) ** b
    else:
        out[~low] = 1.0
    return out


def soft_probabilities(n: int, rate: float, a: float = 1.0) -> np.ndarray:
    """Keep probabilities of n ascending-sorted rows (positions (i+0.5)/n) whose sum is n * rate.

    For a continuous curve the exponent is b = 1/rate - 1 for any a; on n discrete positions we solve for b by
    bisection instead, so the expected kept count is exact rather than asserted (the official code asserts
    floating-point equality, which fails).
    """
    return _soft_probabilities(int(n), float(rate), float(a)).copy()


@lru_cache(maxsize=4096)  # inprompt groups repeat a few sizes many times
def _soft_probabilities(n: int, rate: float, a: float) -> np.ndarray:
    if n == 0:
        return np.zeros(0)
    x = (np.arange(n) + 0.5) / n
    if rate >= 1.0:
        return np.ones(n)
    target = n * rate

    def total(b: float) -> float:
        return float(soft_curve(x, a, b).sum())

    lo, hi = 0.0, max(1.0, 1.0 / rate - 1.0)
    while total(hi) > target and hi < 1e9:
        lo, hi = hi, hi * 4
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if total(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return soft_curve(x, a, 0.5 * (lo + hi))


def select(
    scores: Sequence[float],
    ids: Sequence[str],
    groups: Sequence[str] | None = None,
    *,
    method: str = "hard",
    keep_ratio: float = 0.1,
    direction: str = "hardest",
    soft_peak: float = 1.0,
    seed: int = 42,
    hard_zero_count: str = "keep_none",
) -> list[bool]:
    """Which rows to keep. ``groups=None`` is the "full" strategy (one global ranking).

    Higher score = harder. Rows with a NaN score are never kept. ``hard_zero_count`` decides what hard selection
    does with a group whose keep count rounds to 0: ``keep_none`` (what the paper describes) or ``keep_group``
    (the official ``hard_full_sample``, whose ``sorted_data[-0:]`` is the whole group).
    """
    if method not in ("hard", "soft", "random"):
        raise ValueError(f"method must be hard, soft or random, got {method!r}")
    if direction not in ("hardest", "easiest"):
        raise ValueError(f"direction must be hardest or easiest, got {direction!r}")
    if hard_zero_count not in ("keep_none", "keep_group"):
        raise ValueError(f"hard_zero_count must be keep_none or keep_group, got {hard_zero_count!r}")
    members: dict[str, list[int]] = defaultdict(list)
    for i, score in enumerate(scores):
        if not math.isnan(score):
            members["all" if groups is None else groups[i]].append(i)
    keep = [False] * len(scores)
    sign = 1.0 if direction == "hardest" else -1.0
    for key in sorted(members):
        rows = members[key]
        rng = np.random.default_rng(int(row_id(seed, method, key), 16))
        # Ascending by preference, so the preferred rows sit at the end (x -> 1); ids break ties reproducibly.
        rows.sort(key=lambda i: (sign * scores[i], ids[i]))
        n = len(rows)
        if method == "hard":
            k = min(n, round_stoch(n * keep_ratio, rng))
            if k == 0 and hard_zero_count == "keep_group":
                k = n
            chosen = rows[n - k :]
        elif method == "random":
            k = min(n, round_stoch(n * keep_ratio, rng))
            chosen = [rows[j] for j in rng.choice(n, size=k, replace=False)] if k else []
        else:
            probs = soft_probabilities(n, keep_ratio, soft_peak)
            draws = rng.random(n)
            chosen = [rows[j] for j in range(n) if draws[j] < probs[j]]
        for i in chosen:
            keep[i] = True
    return keep
