"""Selection details that mutation testing (`make mutation`) showed no test pinned: grouping keys, defaults, the
per-group random stream, the soft curve's exponent and peak."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compeff_hf.filter.select import group_key, select, soft_curve, soft_probabilities

TEMPLATE = "Classify the sentiment.\n\nInput: a text"


@pytest.mark.parametrize("kind_field", ["instruction_type", "task_name"])
def test_group_key_reads_the_kind_from_either_field(kind_field):
    assert group_key({kind_field: "analysis", "perspective_id": "p1", "task_id": "t1"}, TEMPLATE) == "analysis|p1|t1"
    assert group_key({kind_field: "analysis"}, TEMPLATE) == "analysis|Classify the sentiment."


@pytest.mark.parametrize("absent", [None, "", float("nan")])
def test_group_key_treats_empty_ids_as_absent(absent):
    assert (
        group_key({"instruction_type": "analysis", "task_id": absent}, TEMPLATE) == "analysis|Classify the sentiment."
    )
    assert group_key({"task_id": absent}, TEMPLATE) == "text|Classify the sentiment."
    assert group_key({"task_id": "t9", "perspective_id": "p2"}, TEMPLATE) == "task|p2|t9"


def test_defaults_are_hard_ten_percent_seed_42():
    scores = [float(i) for i in range(40)]
    ids = [f"r{i}" for i in range(40)]
    assert select(scores, ids) == select(scores, ids, method="hard", keep_ratio=0.1, seed=42)
    assert sum(select(scores, ids)) == 4 and all(select(scores, ids)[36:])


def test_bad_method_and_direction_are_named():
    with pytest.raises(ValueError, match="method must be hard, soft or random, got 'best'"):
        select([1.0], ["a"], method="best")
    with pytest.raises(ValueError, match="direction must be hardest or easiest, got 'up'"):
        select([1.0], ["a"], direction="up")


def test_inprompt_selects_within_each_group_and_full_globally():
    # group a holds all the hard rows: the full ranking keeps only a's, per-group selection half of each group
    scores = [10.0, 11.0, 12.0, 13.0, 0.0, 1.0, 2.0, 3.0]
    ids = [f"r{i}" for i in range(8)]
    groups = ["a"] * 4 + ["b"] * 4
    assert select(scores, ids, groups, keep_ratio=0.5) == [False, False, True, True, False, False, True, True]
    assert select(scores, ids, None, keep_ratio=0.5) == [True] * 4 + [False] * 4


def test_full_selection_is_one_group_named_all():
    # the full strategy is the same as putting every row in one group called "all" (its random stream included)
    rng = np.random.default_rng(3)
    scores = rng.random(23).tolist()
    ids = [f"r{i}" for i in range(23)]
    for method in ("hard", "random", "soft"):
        for seed in range(15):
            full = select(scores, ids, None, method=method, keep_ratio=0.33, seed=seed)
            assert full == select(scores, ids, ["all"] * 23, method=method, keep_ratio=0.33, seed=seed)


def test_selection_is_pinned_across_versions():
    # a published run must select the same rows when rerun with a later version: the random stream of a group
    # derives from (seed, method, group) only
    scores = [((i * 37) % 101) / 101 for i in range(30)]
    ids = [f"r{i}" for i in range(30)]
    groups = [f"g{i % 3}" for i in range(30)]
    kept = {m: [i for i, k in enumerate(select(scores, ids, groups, method=m, keep_ratio=0.3)) if k]
            for m in ("hard", "random", "soft")}  # fmt: skip
    assert kept == GOLDEN


GOLDEN = {
    "hard": [2, 5, 8, 13, 16, 19, 21, 24, 27],
    "random": [1, 6, 8, 18, 20, 22, 27, 28, 29],
    "soft": [2, 5, 6, 7, 8, 9, 10, 13, 15, 16, 19, 23, 24, 27, 29],
}


def test_soft_curve_exponent_above_the_peak():
    # ((1 - 0.75) / (1 - 0.5)) ** 2 = 0.25 (a product instead of a power gives 1.0)
    assert soft_curve(np.array([0.25, 0.75]), 0.5, 2.0).tolist() == [0.25, 0.25]


def test_soft_probabilities_are_a_copy():
    p = soft_probabilities(10, 0.3, 1.0)
    p[:] = 0.0
    assert soft_probabilities(10, 0.3, 1.0).sum() == pytest.approx(3.0)


def test_soft_peak_moves_the_kept_rows_to_the_middle():
    scores = np.linspace(0.0, 1.0, 1001).tolist()
    ids = [f"r{i}" for i in range(1001)]
    peaked = [
        s for s, k in zip(scores, select(scores, ids, method="soft", keep_ratio=0.2, soft_peak=0.5), strict=True) if k
    ]
    top = [
        s for s, k in zip(scores, select(scores, ids, method="soft", keep_ratio=0.2, soft_peak=1.0), strict=True) if k
    ]
    assert abs(np.mean(peaked) - 0.5) < 0.05 and np.mean(top) > 0.8
    assert not math.isnan(np.mean(peaked))


def test_hard_keep_count_rounds_stochastically_per_group():
    # 7 rows at 50%: 3 or 4 kept, about half the seeds each (floor would always keep 3, round always 4)
    scores = [float(i) for i in range(7)]
    ids = [f"r{i}" for i in range(7)]
    counts = [sum(select(scores, ids, method="hard", keep_ratio=0.5, seed=s)) for s in range(200)]
    assert set(counts) == {3, 4} and 70 <= counts.count(4) <= 130


def test_soft_peak_defaults_to_the_hardest_end():
    assert soft_probabilities(9, 0.3).tolist() == soft_probabilities(9, 0.3, 1.0).tolist()
