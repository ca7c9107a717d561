"""Pure scoring helpers that mutation testing (`make mutation`) showed unpinned: the official prefix, batching,
per-token rank scores, the row aggregate, the random score and the text check."""

from __future__ import annotations

import math
import random

import pytest

from compeff_hf.filter.scores import (
    aggregate,
    make_batches,
    random_score,
    raw_instruction,
    token_rank_scores,
)


def test_raw_instruction_glues_input_and_output():
    assert raw_instruction("  Task.\nInput: a text\nOutput: x  ") == "Task.\nInput:a text\nOutput:x"


def test_make_batches_by_rows_and_padded_tokens():
    assert make_batches([5, 9, 7, 9], batch_size=2, max_batch_tokens=100) == [[1, 3], [2, 0]]
    # 9 + 9 fits 18 tokens, a third row of width 9 would make 27
    assert make_batches([9, 9, 9], batch_size=8, max_batch_tokens=18) == [[0, 1], [2]]
    assert make_batches([50, 3], batch_size=8, max_batch_tokens=10) == [[0], [1]]
    assert make_batches([], 4, 10) == []


def test_token_rank_scores_inside_and_outside_the_nucleus():
    assert token_rank_scores([0, 1, 3, 4], [4, 4, 4, 4]) == [0.0, 0.25, 0.75, 1.0]
    with pytest.raises(ValueError):
        token_rank_scores([0, 1], [4])


def test_aggregate_row_scores():
    out = aggregate([0, 1, 5], [4, 2, 3], [0.5, 1.0, 1.5])
    # s = [0, 0.5, 1.0]; the top-1 token is left out of rank_score only
    assert out == {"rank_score": 0.75, "rank_score_all": 0.5, "ppl": pytest.approx(math.e), "n_response_tokens": 3}
    assert aggregate([0, 0], [3, 3], [0.1, 0.1])["rank_score"] == 0.0
    assert aggregate([1], [2], [1e6])["ppl"] == math.exp(700.0)
    empty = aggregate([], [], [])
    # no response token: rank scores 0.0 as in the official code, perplexity undefined
    assert empty["n_response_tokens"] == 0 and empty["rank_score"] == 0.0 == empty["rank_score_all"]
    assert math.isnan(empty["ppl"])


def test_random_score_depends_on_seed_and_row_only():
    assert random_score(1, "r") == random.Random("1:r").random()
    assert random_score(1, "r") != random_score(2, "r") and random_score(1, "r") != random_score(1, "s")
