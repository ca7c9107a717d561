"""Decontamination: find training rows that hold evaluation texts (SentiBench's 12 test sets, or any named set).

Normalised word n-grams (13 by default) plus whole short texts, hashed into an index built once per set of
evaluation sets; rows are scanned in time linear in their words. See docs/decontamination.md.

The plain function a pipeline step wraps::

    from compeff_hf.decontaminate import build_index, decontaminate_rows, load_sets

    index = build_index(load_sets("../shared/sentibench", []))
    result = decontaminate_rows(rows, index, ["text", "messages"], action="drop")
    result.kept, result.matched, result.report
"""

from .index import EvalSet, Index, Match, build_index
from .normalize import words
from .rows import DEFAULT_FIELDS, Decontamination, decontaminate_rows
from .sources import load_sets

__all__ = [
    "DEFAULT_FIELDS",
    "Decontamination",
    "EvalSet",
    "Index",
    "Match",
    "build_index",
    "decontaminate_rows",
    "load_sets",
    "words",
]
