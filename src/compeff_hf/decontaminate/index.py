"""The hashed index of evaluation texts, built once per set of evaluation sets, and the scan of rows against it.

Words become ids (the vocabulary of the evaluation texts; a word never seen there gets -1 and no window holding it
can match) and ids become random 64-bit values; a window of L words hashes to the polynomial
``sum(value[t] * B**(L-1-j))`` modulo 2**64. Prefix sums give every window's hash in a few numpy operations,
whatever L, so a batch of rows is scanned in time linear in its words. A hash hit is confirmed word by word against
the evaluation text before it counts, so a collision can never make a false match.

Three kinds of match, by the length of the evaluation text (in normalised words):

* ``ngram``: the text has at least ``ngram`` words and shares one ``ngram``-word window with the field;
* ``contained``: shorter than ``ngram`` but at least ``min_words`` words, and all of it appears inside the field;
* ``exact``: shorter than ``min_words`` words, and the whole field (or chat turn) is the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from ..errors import RecipeError
from .normalize import words

_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so it has an inverse modulo 2**64
_BASE_INV = np.uint64(pow(int(_BASE), -1, 1 << 64))
_SEED = 20251130  # fixed: hashes are the same in every process
_SEEN_BITS = 24
_SEEN_SHIFT = np.uint64(64 - _SEEN_BITS)
CHUNK_WORDS = 1 << 20  # words scanned per numpy batch (bounds memory on large pools)


@dataclass
class EvalSet:
    """One evaluation set: a name (e.g. ``sst2``), its texts in file order, and where they came from."""

    name: str
    texts: list[str]
    source: str = ""


@dataclass(frozen=True)
class Match:
    """One evaluation text found in a field: which set and item, how, and the words they share."""

    set_name: str
    test_index: int
    kind: str  # "ngram" | "contained" | "exact"
    overlap: str


@dataclass
class _Table:
    keys: np.ndarray  # sorted window hashes
    text: np.ndarray  # global text number of each key
    start: np.ndarray  # word offset of the window inside that text


@dataclass
class Index:
    """Built by :func:`build_index`; read :meth:`match`."""

    sets: list[EvalSet]
    ngram: int
    min_words: int
    vocab: dict[str, int] = field(repr=False)
    values: np.ndarray = field(repr=False)  # random 64-bit value of each vocabulary id
    owners: list[tuple[int, int]] = field(repr=False)  # global text number -> (set number, item number)
    ids: list[list[int]] = field(repr=False)  # global text number -> word ids
    tables: dict[int, _Table] = field(repr=False)  # window length -> table
    tiny: dict[tuple[int, ...], list[int]] = field(repr=False)  # whole short text -> global text numbers
    seen: np.ndarray = field(repr=False)  # top _SEEN_BITS bits of every indexed hash, as a lookup table

    @property
    def set_names(self) -> list[str]:
        return [s.name for s in self.sets]

    def describe(self) -> dict:
        return {
            "ngram": self.ngram,
            "min_words": self.min_words,
            "eval_sets": {s.name: len(s.texts) for s in self.sets},
            "sources": sorted({s.source for s in self.sets if s.source}),
            "windows_indexed": int(sum(len(t.keys) for t in self.tables.values())),
        }

    def match(self, texts: Sequence[str]) -> list[list[Match]]:
        """For each text, the evaluation texts it contains (one Match per evaluation text, first found)."""
        out: list[list[Match]] = []
        batch: list[list[str]] = []
        size = 0
        for text in texts:
            ws = words(text)
            batch.append(ws)
            size += len(ws) + 1
            if size >= CHUNK_WORDS:
                out += self._match_words(batch)
                batch, size = [], 0
        if batch:
            out += self._match_words(batch)
        return out

    def _match_words(self, batch: list[list[str]]) -> list[list[Match]]:
        get = self.vocab.get
        flat: list[int] = []
        starts: list[int] = []
        for ws in batch:
            starts.append(len(flat))
            flat.extend(map(get, ws, repeat(-1)))
            flat.append(-1)  # no window crosses from one text into the next
        found: list[dict[int, Match]] = [{} for _ in batch]
        hashes = _Windows(np.asarray(flat, dtype=np.int64), self.values)
        first_word = np.asarray(starts, dtype=np.int64)
        for length, table in self.tables.items():
            where, hashed = hashes.of_length(length)
            maybe = self.seen[(hashed >> _SEEN_SHIFT).astype(np.int64)]  # cheap pre-check before the search
            where, hashed = where[maybe], hashed[maybe]
            lo = np.searchsorted(table.keys, hashed, side="left")
            hi = np.searchsorted(table.keys, hashed, side="right")
            hit = np.nonzero(hi > lo)[0]
            if not len(hit):
                continue
            # Every (window, indexed window with the same hash) pair, grouped by (row text, evaluation text): one
            # confirmed window per group is enough, so a copied review costs one comparison, not hundreds.
            counts = (hi - lo)[hit]
            rep = np.repeat(hit, counts)
            k = lo[rep] + np.arange(len(rep)) - np.repeat(np.cumsum(counts) - counts, counts)
            start = where[rep]
            item = np.searchsorted(first_word, start, side="right") - 1
            text, offset = table.text[k], table.start[k]
            pair = item * len(self.ids) + text
            order = np.lexsort((start, pair))
            pair = pair[order]
            bounds = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1], True]).tolist()
            item, text, offset, start = item[order], text[order], offset[order], start[order]
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                for j in range(a, b):  # almost always the first window confirms; others only after a collision
                    i, g, p, s = int(item[j]), int(text[j]), int(offset[j]), int(start[j])
                    if self.ids[g][p : p + length] != flat[s : s + length]:
                        continue
                    if length == self.ngram:
                        kind = "ngram"
                    else:
                        kind = "exact" if len(batch[i]) == length else "contained"
                    found[i].setdefault(g, self._record(g, kind, batch[i][s - starts[i] : s - starts[i] + length]))
                    break
        for item, ws in enumerate(batch):
            if 0 < len(ws) < self.min_words:
                key = tuple(flat[starts[item] : starts[item] + len(ws)])
                for g in self.tiny.get(key, ()):
                    found[item].setdefault(g, self._record(g, "exact", ws))
        return [[found_item[g] for g in sorted(found_item)] for found_item in found]

    def _record(self, g: int, kind: str, overlap: list[str]) -> Match:
        set_no, item = self.owners[g]
        return Match(self.sets[set_no].name, item, kind, " ".join(overlap))


class _Windows:
    """Hashes of every window of a word-id array, from prefix sums (see the module docstring)."""

    def __init__(self, ids: np.ndarray, values: np.ndarray):
        valid = ids >= 0
        v = np.where(valid, values[np.where(valid, ids, 0)], np.uint64(0)).astype(np.uint64)
        n = len(ids)
        self.powers = np.ones(n + 1, dtype=np.uint64)
        inverse = np.ones(n + 1, dtype=np.uint64)
        if n:
            self.powers[1:] = np.cumprod(np.full(n, _BASE, dtype=np.uint64))
            inverse[1:] = np.cumprod(np.full(n, _BASE_INV, dtype=np.uint64))
        self.prefix = np.zeros(n + 1, dtype=np.uint64)
        self.prefix[1:] = np.cumsum(v * inverse[:n])
        self.bad = np.zeros(n + 1, dtype=np.int64)
        self.bad[1:] = np.cumsum(~valid)
        self.n = n

    def of_length(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """(start of each window free of unknown words, its hash)."""
        count = self.n - length + 1
        if count <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
        i = np.arange(count)
        ok = np.nonzero(self.bad[i + length] == self.bad[i])[0]
        hashed = self.powers[ok + length - 1] * (self.prefix[ok + length] - self.prefix[ok])
        return ok, hashed


def build_index(sets: Sequence[EvalSet], ngram: int = 13, min_words: int = 8) -> Index:
    """Index every text of ``sets``: its ``ngram``-word windows, or the whole text when it is shorter."""
    if ngram < 1:
        raise RecipeError(f"decontaminate_ngram must be >= 1, got {ngram}")
    if not 1 <= min_words <= ngram:
        raise RecipeError(f"decontaminate_min_words must lie in [1, decontaminate_ngram={ngram}], got {min_words}")
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise RecipeError(f"evaluation set names repeat: {names}; each set needs its own name")
    vocab: dict[str, int] = {}
    owners: list[tuple[int, int]] = []
    ids: list[list[int]] = []
    for set_no, eval_set in enumerate(sets):
        for item, text in enumerate(eval_set.texts):
            owners.append((set_no, item))
            ids.append([vocab.setdefault(w, len(vocab)) for w in words(text or "")])
    values = np.random.default_rng(_SEED).integers(np.iinfo(np.uint64).max, size=max(1, len(vocab)), dtype=np.uint64)
    by_length: dict[int, list[int]] = {}
    tiny: dict[tuple[int, ...], list[int]] = {}
    for g, seq in enumerate(ids):
        if len(seq) >= ngram:
            by_length.setdefault(ngram, []).append(g)
        elif len(seq) >= min_words:
            by_length.setdefault(len(seq), []).append(g)
        elif seq:
            tiny.setdefault(tuple(seq), []).append(g)
    tables = {length: _table(length, members, ids, values) for length, members in sorted(by_length.items())}
    seen = np.zeros(1 << _SEEN_BITS, dtype=bool)
    for table in tables.values():
        seen[(table.keys >> _SEEN_SHIFT).astype(np.int64)] = True
    return Index(list(sets), ngram, min_words, vocab, values, owners, ids, tables, tiny, seen)


def _table(length: int, members: list[int], ids: list[list[int]], values: np.ndarray) -> _Table:
    flat: list[int] = []
    owner: list[int] = []
    for g in members:
        flat += ids[g] + [-1]
        owner += [g] * (len(ids[g]) + 1)
    owner_arr = np.asarray(owner, dtype=np.int64)
    text_start = np.zeros(len(flat), dtype=np.int64)
    offset = 0
    for g in members:
        text_start[offset : offset + len(ids[g]) + 1] = offset
        offset += len(ids[g]) + 1
    where, hashed = _Windows(np.asarray(flat, dtype=np.int64), values).of_length(length)
    order = np.argsort(hashed, kind="stable")
    where = where[order]
    return _Table(hashed[order], owner_arr[where], where - text_start[where])
