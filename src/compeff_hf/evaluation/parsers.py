"""Turn a fine-grained model output into tuples, with the published extraction and validation rules.

Extraction (``extract_answer``): the decoded prompt + continuation is searched for ``Output: [ ... ]``; the
(k+1)-th match is the answer (the first k are the demonstrations). Failing that, the text after the last
``Output:`` is cut at its last ``}`` and closed with ``]``. Parsing: ``json.loads``, then again on the span from
the first ``[`` to the last ``]``. Validation per task:

* ATSA: the term must occur in the sentence and the polarity be positive/neutral/negative/conflict; an invalid
  item still counts as a (false-positive) prediction, as upstream.
* ACSA: polarity positive/neutral/negative; invalid items count as false positives.
* ATSA/ACSA, malformed items: falsy items (``{}``, ``""``, ``null``, ``0``) are skipped. An item the official
  ``parse_utils/{atsa,acsa}_json.py`` cannot read (a non-zero number or ``true``; a string or list that holds both
  key names; a dict whose term/category or sentiment is not a string) makes the official code keep the *raw*
  list: then nothing in the answer scores and every element of the list, skipped ones included, is a false
  positive. We follow that rule (``_Unreadable``), so a half-broken answer scores what it scores upstream.
* ASQP: exactly the 4 keys; invalid items are dropped.
* SSA (OpeNER): exactly the 4 keys and a polarity positive/neutral/negative; invalid items are dropped. Spans are
  located in the sentence by their first occurrence to build SemEval-2022 opinions.
* ASQP/SSA, malformed items: where the official ``asqp_json``/``ssa_json`` crash (a number as an item, a
  non-string field), we drop the item instead (a crash gives no score at all to compare with).

Nothing here raises on model output: malformed, truncated or adversarial text yields fewer (or invalid) tuples.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .tasks import Task

_OUTPUT_RE = re.compile(r"Output: (\[[\s\S]*?\])")
NOT_FOUND = "Error: Sixth output not found"  # upstream's marker string for "no answer found"
INVALID: tuple[str, ...] = ()  # an invalid ATSA/ACSA item: never equals a gold tuple, so it is a false positive


def count_answers(text: str) -> int:
    """How many complete ``Output: [...]`` blocks a decoded text holds (used to stop generation early)."""
    return len(_OUTPUT_RE.findall(text))


def extract_answer(text: str, k_shot: int) -> str:
    """The answer block of a decoded prompt+continuation, as upstream's ``extract_output``."""
    matches = _OUTPUT_RE.findall(text)
    if len(matches) >= k_shot + 1:
        return matches[k_shot]
    tail = text.split("Output:")[-1].strip()
    cut = tail.rfind("}")
    return tail[: cut + 1] + "]" if cut != -1 else NOT_FOUND


def load_json_list(text: str) -> list[Any]:
    """``json.loads``, retried on the first-``[``-to-last-``]`` span; anything but a list yields []."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        start, end = text.find("["), text.rfind("]") + 1
        try:
            value = json.loads(text[start:end])
        except (ValueError, TypeError, RecursionError):
            return []
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) else None


class _Unreadable(Exception):
    """An ATSA/ACSA item the official parser raises on: the whole answer then counts as its raw list."""


def _pair(item: Any, keys: tuple[str, str]) -> tuple[str, str] | None:
    """The stripped (first, second) strings of a truthy ATSA/ACSA item; None when invalid; raises ``_Unreadable``.

    Mirrors what the official code can and cannot do with an item: ``key in item`` must work (dict, str, list),
    a str/list holding both key names is then indexed by a string (fails), and both values need ``.strip()``.
    """
    if isinstance(item, (int, float)):  # bool is an int
        raise _Unreadable  # `key in 5` raises
    if any(k not in item for k in keys):
        return None
    if not isinstance(item, dict):
        raise _Unreadable  # "aspect_term sentiment"["aspect_term"] raises
    first, second = _str(item[keys[0]]), _str(item[keys[1]])
    if first is None or second is None:
        raise _Unreadable  # None.strip() / 3.strip() raise
    return first, second


def _atsa(item: Any, sentence: str) -> tuple[str, ...]:
    pair = _pair(item, ("aspect_term", "sentiment"))
    if pair is None or pair[0] not in sentence or pair[1] not in ("positive", "neutral", "negative", "conflict"):
        return INVALID
    return pair


def _acsa(item: Any, sentence: str) -> tuple[str, ...]:
    pair = _pair(item, ("aspect_category", "sentiment"))
    if pair is None or pair[1] not in ("positive", "neutral", "negative"):
        return INVALID
    return pair


_ASQP_KEYS = ("aspect_term", "aspect_category", "opinion", "sentiment")
_SSA_KEYS = ("holder", "target", "sentiment_expression", "sentiment_polarity")


def _asqp(item: Any) -> tuple[str, ...] | None:
    if not isinstance(item, dict) or len(item) != 4 or any(k not in item for k in _ASQP_KEYS):
        return None
    values = tuple(_str(item[k]) for k in _ASQP_KEYS)
    return None if any(v is None for v in values) else values  # type: ignore[return-value]


def _ssa(item: Any) -> tuple[str, ...] | None:
    if not isinstance(item, dict) or len(item) != 4 or any(k not in item for k in _SSA_KEYS):
        return None
    values = tuple(_str(item[k]) for k in _SSA_KEYS)
    if any(v is None for v in values) or values[3] not in ("positive", "neutral", "negative"):
        return None
    return values  # type: ignore[return-value]


def parse_tuples(task: Task, answer: str, sentence: str) -> list[tuple[str, ...]]:
    """Predicted tuples of one fine-grained answer (see the module docstring for the rules)."""
    items = load_json_list(answer)
    if task.kind in ("atsa", "acsa"):
        check = _atsa if task.kind == "atsa" else _acsa
        try:
            return [check(item, sentence) for item in items if item]  # falsy items ({} or "") are skipped upstream
        except _Unreadable:
            return [INVALID] * len(items)  # upstream keeps the raw list: every element a false positive
    keep = _asqp if task.kind == "asqp" else _ssa
    return [t for t in (keep(item) for item in items) if t is not None]


def gold_tuples(task: Task, gold_answer: str) -> list[tuple[str, ...]]:
    """Gold tuples from the gold answer string (not stripped, as upstream: this is what caps ASQP below 1.0)."""
    rows = json.loads(gold_answer)
    keys = {
        "atsa": ("aspect_term", "sentiment"),
        "acsa": ("aspect_category", "sentiment"),
        "asqp": _ASQP_KEYS,
        "ssa": _SSA_KEYS,
    }[task.kind]
    return [tuple(row[k] for k in keys) for row in rows]


# ------------------------------------------------------------------------------------ structured sentiment (SSA)


def tuples_to_opinions(sentence: str, tuples: list[tuple[str, ...]]) -> list[dict[str, Any]]:
    """Predicted (holder, target, expression, polarity) tuples as SemEval-2022 opinions with character offsets.

    Each span is found at its *first* occurrence in the sentence (so it can land on the wrong one, as upstream);
    target and expression are split on "AND"; "NULL" or a span not found in the sentence leaves the field empty.
    """
    opinions = []
    for holder, target, expression, polarity in tuples:
        op: dict[str, Any] = {"Source": [[], []], "Target": [[], []], "Polar_expression": [[], []]}
        if holder != "NULL":
            begin = sentence.find(holder)
            if begin != -1:
                op["Source"] = [[holder], [f"{begin}:{begin + len(holder)}"]]
        for field_name, value in (("Target", target), ("Polar_expression", expression)):
            for part in value.split("AND"):
                part = part.strip()
                begin = sentence.find(part)
                if begin != -1:
                    op[field_name][0].append(part)
                    op[field_name][1].append(f"{begin}:{begin + len(part)}")
        op["Polarity"] = polarity.capitalize()
        opinions.append(op)
    return opinions
